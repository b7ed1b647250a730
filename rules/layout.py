"""Where every file of doisoat lives: the one owner of the data layout (no Dagster here).

``DataLayout(root)`` answers "where is X?" for everything doisoat reads or writes under its data
folder, and nothing else builds such a path (``tests/rules/test_layout.py`` scans the source for
paths built outside this module). The Dagster resource ``assets.resources.DataPaths`` is a thin
wrapper that returns one of these; the command line builds one from ``pipelines.environment``.
The design is in ``docs/architecture.md`` (section "Data layout") and ``docs/decisions.md``.

The folders under the root (all but ``warehouse/`` hold personal data and are owner-only, see
``rules.private``)::

    population/<province>.parquet | population/<province>/*.parquet   the register (file or parts)
    inbox/<province>/<sector>/<unit>__<list name>                       uploads (rules.ingest.inbox)
    inbox/<province>/review/*.xlsx                                      filled review workbooks
    truth/<province>/<sector>/<file>.truth.parquet                      synthetic truth (generator)
    lake/<table>/<province>/<sector>.parquet                            lake tables per partition
    lake/<table>/<province>.parquet                                     per-province lake tables
    lake/population_index/<province>/                                   the matching index cache
    cache/match_estimates/                                              Fellegi-Sunter estimates cache
    national/verification_queue.sqlite, external_backlog.parquet, allocation/<day>.parquet,
        verification_results.parquet, forecast.parquet, forecast_daily.parquet, forecast.html
    reports/errors/<province>/<sector>/<stem>.errors.xlsx               error reports of inbox files
    reports/review/<province>/*.xlsx                                    clerical-review workbooks
    reports/doisoat.html                                                the HTML report (default)
    warehouse/doisoat.duckdb                                            the analyst file (no personal data)
    operator/audit/transmissions.jsonl, operator/audit/<kind>/<partition>/<run_id>.parquet
    dagster_home/ (instance storage), dagster_home/logs/ (compute logs)
    manifest.json                                                       what the generator wrote
    secrets/pseudonym.key                                               the pseudonym key (rules.pseudonym)

**The lake may live on object storage** (the scale-out issue, ``DOISOAT_LAKE``): ``lake_root`` is a
string that is either a local folder (the default, ``<root>/lake``) or a URI such as
``s3://bucket/doisoat/lake``. Every step reads and writes lake tables through ``rules.lake_store``
(local Parquet or Delta), which asks :meth:`DataLayout.lake_table_uri` for a table's location; the
``Path`` accessors (:meth:`DataLayout.lake`, :meth:`DataLayout.lake_dir`, ...) are the local store's
own and raise :class:`RemoteLakeError` on a remote lake. What stays on local disk whatever the lake:
the register and its matching index cache (:meth:`DataLayout.population_index`: ``cache/population_index/``
when the lake is remote), the SQLite queue, Dagster storage, workbooks and reports, and the partition
lock file (:meth:`DataLayout.partition_lock`, used only when the queue is not PostgreSQL).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rules.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO_ROOT / "data"  # the data folder when none is given (``DOISOAT_DATA`` moves it)

PARQUET = ".parquet"
REVIEW_FOLDER = "review"  # inbox/<province>/review/: the review inbox beside the sector folders
WAREHOUSE_FILE = "doisoat.duckdb"
REPORT_FILE = "doisoat.html"
QUEUE_STORE_FILE = "verification_queue.sqlite"

# Top-level folders, by name. GENERATED: what ``doisoat demo --fresh`` deletes. PERSONAL: folders
# holding names, IDs or birth dates (owner-only, 0700); warehouse/ is the analyst file and is not.
POPULATION, INBOX, TRUTH, LAKE, NATIONAL = "population", "inbox", "truth", "lake", "national"
WAREHOUSE, REPORTS, OPERATOR, CACHE, DAGSTER_HOME = "warehouse", "reports", "operator", "cache", "dagster_home"
SECRETS = "secrets"  # the deployment's pseudonym key: owner-only, and kept by ``demo --fresh`` (stable pseudonyms)
GENERATED_FOLDERS = (POPULATION, INBOX, TRUTH, LAKE, NATIONAL, WAREHOUSE, REPORTS, OPERATOR)
PERSONAL_FOLDERS = (POPULATION, INBOX, TRUTH, LAKE, NATIONAL, REPORTS, OPERATOR, DAGSTER_HOME, SECRETS)

URI_SCHEMES = ("s3://", "gs://", "az://", "abfs://", "abfss://", "file://", "memory://")


class RemoteLakeError(RuntimeError):
    """A local-path accessor of the lake was asked for a table of a lake on object storage (a programming
    error: lake tables are read and written through ``rules.lake_store``, which works on either)."""


def inbox_folder(inbox_root: Path, province: str, sector: str) -> Path:
    """``<inbox>/<province>/<sector>``: the folder the sensor and the province job read."""
    return inbox_root / province / sector


def review_inbox_folder(inbox_root: Path, province: str) -> Path:
    """``<inbox>/<province>/review``: where filled clerical-review workbooks are dropped."""
    return inbox_root / province / REVIEW_FOLDER


def is_uri(location: str) -> bool:
    """True for an object-storage URI (``s3://bucket/prefix``), False for a local path."""
    return location.startswith(URI_SCHEMES)


@dataclass(frozen=True)
class DataLayout:
    """Every location under one data folder.

    ``root``: the data folder (absolute after :meth:`at`). ``lake_root``: the lake's root, a local
    folder or an object-storage URI; empty means ``<root>/lake``. ``policy_file``: the quota policy
    and verification settings; empty means ``rules/quota/quota.yaml`` beside the code.
    Methods only compute locations; those that list or test existing files say so.
    """

    root: Path
    lake_root: str = ""
    policy_file: str = ""

    @classmethod
    def at(cls, root: str | Path, *, lake_root: str = "", policy_file: str = "") -> DataLayout:
        """A layout for ``root`` made absolute, so sensors and code servers with another working
        directory and tests with ``tmp_path`` all agree (docs/decisions.md, "absolute paths")."""
        return cls(Path(root).resolve(), lake_root, policy_file)

    # --- configuration ------------------------------------------------------------------------
    def policy_path(self) -> Path:
        from rules.quota import DEFAULT_POLICY_PATH

        return Path(self.policy_file) if self.policy_file else DEFAULT_POLICY_PATH

    def folder(self, name: str) -> Path:
        """A top-level folder by name (one of :data:`GENERATED_FOLDERS` / :data:`PERSONAL_FOLDERS`)."""
        if name not in (*GENERATED_FOLDERS, *PERSONAL_FOLDERS, CACHE):
            raise ValueError(f"{name!r} is not a folder of the data layout")
        return self.root / name

    def generated_folders(self) -> list[Path]:
        """What ``doisoat demo --fresh`` deletes (everything generated or derived, not the cache)."""
        return [self.root / name for name in GENERATED_FOLDERS]

    def personal_folders(self) -> list[Path]:
        """Folders holding personal data: owner-only (``rules.private``)."""
        return [self.root / name for name in PERSONAL_FOLDERS]

    # --- population register ------------------------------------------------------------------
    def population_dir(self) -> Path:
        return self.root / POPULATION

    def population_file(self, province: str) -> Path:
        """Where a one-file register goes (``population/<province>.parquet``); the generator writes it."""
        return self.population_dir() / f"{province}{PARQUET}"

    def population_parts_dir(self, province: str) -> Path:
        """The folder form of a register (``population/<province>/*.parquet``), for registers in parts."""
        return self.population_dir() / province

    def population_files(self, province: str) -> list[Path]:
        """The register files of a province that exist: the one file if present, else the parts of
        the folder form (sorted), else ``[]``. Reads the file system."""
        single = self.population_file(province)
        if single.exists():
            return [single]
        folder = self.population_parts_dir(province)
        return sorted(folder.glob(f"*{PARQUET}")) if folder.is_dir() else []

    def population_provinces(self) -> list[str]:
        """Provinces that have a register here, in either form (sorted). Reads the file system."""
        folder = self.population_dir()
        if not folder.is_dir():
            return []
        names = {p.name[: -len(PARQUET)] if p.is_file() and p.name.endswith(PARQUET) else p.name
                 for p in folder.iterdir() if not p.name.startswith(".") and (p.is_dir() or p.name.endswith(PARQUET))}
        return sorted(names)

    def population_hint(self, province: str) -> str:
        """Where to put a missing register, for error messages."""
        return f"{self.population_file(province)} (or a folder of parts {self.population_parts_dir(province)}/)"

    def population_index(self, province: str) -> Path:
        """The matching index cache of a province (``rules.matching.load_or_build_index``): always local
        disk (it is memory-mapped), under the local lake by default, under ``cache/`` when the lake is remote."""
        base = self.root / CACHE if self.lake_is_remote else Path(self.lake_location)
        return base / "population_index" / province

    # --- inbox ----------------------------------------------------------------------------------
    def inbox_root(self) -> Path:
        return self.root / INBOX

    def inbox(self, province: str, sector: str) -> Path:
        return inbox_folder(self.inbox_root(), province, sector)

    def inbox_file(self, province: str, sector: str, unit: str, original_name: str) -> Path:
        """Where an upload of ``unit`` lands: the inbox naming rule ``<unit>__<list name>``
        (``rules.ingest.inbox.inbox_name``, which also parses it back)."""
        from rules.ingest.inbox import inbox_name

        return self.inbox(province, sector) / inbox_name(unit, original_name)

    def review_inbox(self, province: str) -> Path:
        """Where filled clerical-review workbooks are dropped (``inbox/<province>/review/``)."""
        return review_inbox_folder(self.inbox_root(), province)

    def truth_root(self) -> Path:
        return self.root / TRUTH

    def truth(self, province: str, sector: str) -> Path:
        """Synthetic truth of the generated uploads (never read by the pipeline, only by tests)."""
        return self.truth_root() / province / sector

    def truth_file(self, province: str, sector: str, upload_name: str) -> Path:
        return self.truth(province, sector) / f"{upload_name}.truth{PARQUET}"

    def manifest(self) -> Path:
        """What ``rules.synth.write_province`` wrote (JSON)."""
        return self.root / "manifest.json"

    # --- reports --------------------------------------------------------------------------------
    def reports_dir(self) -> Path:
        return self.root / REPORTS

    def error_reports(self, province: str, sector: str) -> Path:
        """Error reports of inbox uploads (kept out of the inbox so they never count as uploads)."""
        return self.reports_dir() / "errors" / province / sector

    def review_workbooks(self, province: str) -> Path:
        """Owner-only clerical-review workbooks of a province."""
        return self.reports_dir() / REVIEW_FOLDER / province

    def report_html(self) -> Path:
        """The default HTML report (``doisoat report``)."""
        return self.reports_dir() / REPORT_FILE

    # --- lake -----------------------------------------------------------------------------------
    @property
    def lake_location(self) -> str:
        """The lake's root as a string: a local folder or an object-storage URI."""
        return self.lake_root or str(self.root / LAKE)

    @property
    def lake_is_remote(self) -> bool:
        return is_uri(self.lake_location)

    def lake_table_uri(self, table: str) -> str:
        """A lake table's root (folder or URI prefix), local or remote."""
        return f"{self.lake_location.rstrip('/')}/{table}"

    def lake_uri(self, table: str, province: str, sector: str | None = None) -> str:
        """A partition's location, local or remote: ``<lake>/<table>/<province>/<sector>.parquet``,
        or ``<lake>/<table>/<province>.parquet`` for per-province tables."""
        leaf = f"{province}/{sector}{PARQUET}" if sector else f"{province}{PARQUET}"
        return f"{self.lake_table_uri(table)}/{leaf}"

    def lake_dir(self, table: str) -> Path:
        """A local lake table's folder."""
        return self._local_lake() / table

    def lake(self, table: str, province: str, sector: str | None = None) -> Path:
        """A local lake partition's file (see :meth:`lake_uri`)."""
        leaf = f"{sector}{PARQUET}" if sector else f"{province}{PARQUET}"
        return self.lake_dir(table) / (province if sector else "") / leaf

    def lake_partitions(self, table: str) -> list[tuple[str, str, Path]]:
        """``(province, sector, file)`` of every province x sector partition a table holds (sorted).
        Reads the file system."""
        folder = self.lake_dir(table)
        return [(p.parent.name, p.name[: -len(PARQUET)], p)
                for p in sorted(folder.glob(f"*/*{PARQUET}"))] if folder.is_dir() else []

    def partition_lock(self, province: str, sector: str) -> Path:
        """The lock file serialising writers of a partition's match results, queue and review ledger on
        one machine (``rules.review.service.partition_lock``; with a PostgreSQL queue an advisory lock is
        taken instead). Beside the ledger on the local lake; under ``cache/locks/`` when the lake is remote."""
        if self.lake_is_remote:
            return self.root / CACHE / "locks" / province / f".{sector}.lock"
        return self.lake_dir("review_decisions") / province / f".{sector}.lock"

    def _local_lake(self) -> Path:
        if self.lake_is_remote:
            raise RemoteLakeError(f"the lake is at {self.lake_location}, not on local disk: read and write lake "
                                  "tables through rules.lake_store (open_lake / write_table / read_table)")
        return Path(self.lake_location)

    # --- caches ---------------------------------------------------------------------------------
    def match_estimates_cache(self) -> Path:
        """Fellegi-Sunter estimates keyed by content (``rules.matching.estimate``): our data folder,
        never beside an input."""
        return self.root / CACHE / "match_estimates"

    # --- national outputs -----------------------------------------------------------------------
    def national_dir(self) -> Path:
        return self.root / NATIONAL

    def queue_store(self) -> Path:
        """The embedded verification queue (SQLite; ``rules.verify.QueueStore``)."""
        return self.national_dir() / QUEUE_STORE_FILE

    def external_backlog(self) -> Path:
        """Other installations' backlogs as counts (``unit, backlog, oldest_wait_days``)."""
        return self.national_dir() / f"external_backlog{PARQUET}"

    def allocation_dir(self) -> Path:
        return self.national_dir() / "allocation"

    def allocation(self, day: str) -> Path:
        """One day's national allocation (``day`` is ``YYYY-MM-DD``; the file stem is the day)."""
        return self.allocation_dir() / f"{day}{PARQUET}"

    def verification_results(self) -> Path:
        return self.national_dir() / f"verification_results{PARQUET}"

    def forecast(self) -> Path:
        return self.national_dir() / f"forecast{PARQUET}"

    def forecast_daily(self) -> Path:
        return self.national_dir() / f"forecast_daily{PARQUET}"

    def forecast_html(self) -> Path:
        return self.national_dir() / "forecast.html"

    # --- analyst warehouse ----------------------------------------------------------------------
    def warehouse(self) -> Path:
        """The analyst DuckDB file (``doisoat publish`` writes it; no personal data)."""
        return self.root / WAREHOUSE / WAREHOUSE_FILE

    # --- operators' audit log -------------------------------------------------------------------
    def audit_dir(self) -> Path:
        return self.root / OPERATOR / "audit"

    def transmissions(self) -> Path:
        """The hash-chained log of every batch sent (``rules.verify.audit_log``)."""
        return self.audit_dir() / "transmissions.jsonl"

    def audit_file(self, kind: str, partition: str, run_id: str) -> Path:
        """One run's audit rows of ``kind`` for ``partition`` (``province/sector`` or a day)."""
        return self.audit_dir() / kind / partition / f"{run_id}{PARQUET}"

    # --- secrets -----------------------------------------------------------------------------------
    def pseudonym_key(self) -> Path:
        """The generated pseudonym key when ``DOISOAT_PSEUDONYM_KEY`` is unset (``rules.pseudonym``)."""
        return self.root / SECRETS / "pseudonym.key"

    # --- Dagster instance -----------------------------------------------------------------------
    def dagster_storage(self) -> Path:
        """The embedded Dagster instance's storage (``dagster.yaml`` reads it from the environment)."""
        return self.root / DAGSTER_HOME

    def compute_logs(self) -> Path:
        return self.dagster_storage() / "logs"


def user_cache() -> Path:
    """The cache of commands that work outside a data folder (``doisoat match``): ``$DOISOAT_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/doisoat``, else ``~/.cache/doisoat``. Never a folder beside an input:
    registers and uploads may sit on read-only shares."""
    env = os.environ.get("DOISOAT_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "doisoat"


def user_index_cache() -> Path:
    """Register indexes of ``doisoat match`` (keyed by the register's content)."""
    return user_cache() / "index"


def user_estimates_cache() -> Path:
    """Fellegi-Sunter estimates of ``doisoat match`` (keyed by the data's content)."""
    return user_cache() / "estimates"


LAKE_ENV = "DOISOAT_LAKE"  # the variable that moves the lake (pipelines.environment reads it)


class LakeRootError(UserError):
    """``DOISOAT_LAKE`` names no usable lake (see :func:`check_lake_root`); the message says what to set."""


def check_lake_root(lake_root: str) -> None:
    """Refuse a lake root given explicitly (``DOISOAT_LAKE``) that cannot be the lake, before anything is read
    or written: a URI of a scheme doisoat does not read, a local folder that does not exist or a file.
    An empty ``lake_root`` (the default ``<data>/lake``) may be missing: the first ingest creates it.
    Raises :class:`LakeRootError` (a user error: one line naming the variable and what to do)."""
    if not lake_root:
        return
    schemes = ", ".join(s for s in URI_SCHEMES if s not in ("file://", "memory://"))
    if is_uri(lake_root):
        scheme, _, rest = lake_root.partition("://")
        bucket = rest.partition("/")[0].rpartition("@")[2]
        if scheme not in ("file", "memory") and not bucket:
            raise LakeRootError(f"{LAKE_ENV}={redacted_uri(lake_root)} names no bucket: give "
                                f"{scheme}://<bucket>/<folder>, or unset {LAKE_ENV} to use <data folder>/lake")
        return
    if "://" in lake_root:
        scheme = lake_root.split("://", 1)[0]
        raise LakeRootError(f"{LAKE_ENV}: the lake cannot be on {scheme}:// ({redacted_uri(lake_root)}); give a "
                            f"local folder or an object-storage URI ({schemes}), or unset {LAKE_ENV} to use "
                            "<data folder>/lake")
    path = Path(lake_root).expanduser()
    if not path.exists():
        raise LakeRootError(f"{LAKE_ENV}={lake_root}: no such folder; fix the path (a typo reads as an empty "
                            f"lake), create the folder if the lake really is to start there, or unset {LAKE_ENV} "
                            "to use <data folder>/lake")
    if not path.is_dir():
        raise LakeRootError(f"{LAKE_ENV}={lake_root} is a file, not a folder: point {LAKE_ENV} at the lake's "
                            f"folder, or unset it to use <data folder>/lake")


def redacted_uri(uri: str) -> str:
    """A URI without any ``user:password@`` part (credentials never reach a message)."""
    scheme, sep, rest = uri.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}" if sep else uri


def default_root() -> Path:
    """The data folder: ``$DOISOAT_DATA`` or ``data/`` of the repository (absolute). Set but empty
    counts as unset: ``Path("")`` is the current folder, which would quietly become the data folder."""
    env = os.environ.get("DOISOAT_DATA", "")
    return Path(env if env.strip() else DEFAULT_ROOT).resolve()
