"""Pseudonyms doisoat publishes are keyed (rules.pseudonym): nobody without the deployment's key can
recompute them from a list of unit names, pupils' names, IDs, dates or a copy of an upload.

Before this rule, a pupil-named correction file (``Nguyễn Văn An 079212000123.xlsx``) became unit
``x_<sha256(nguyen_van_an_079212000123)[:8]>`` and every upload was shown as the first 12 hex digits of
its sha256, in the analyst file, e-mailed reports and Dagster metadata: hashing a class list reversed them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assets.ingest import clean_records, raw_records
from assets.partitions import partition_key
from assets.resources import DataPaths
from assets.warehouse import WarehouseSources, build_warehouse
from rules.ingest.inbox import MAX_NAME_BYTES, bounded_name, public_label, unit_of
from rules.ingest.lineage import strip_corrections
from rules.layout import DataLayout
from rules.provinces import slugify
from rules.pseudonym import KEY_ENV, PseudonymKeyError, deployment_key, key_file, pseudonym

REPO = Path(__file__).resolve().parents[2]
PUPIL = "Nguyễn Văn An 079212000123.xlsx"
PLAIN = "nguyen_van_an_079212000123"  # what the unit digest is taken of
KEY_A, KEY_B = b"a" * 40, b"b" * 40


def _sha(text: str | bytes, n: int = 8) -> str:
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode()).hexdigest()[:n]


@given(st.text(min_size=0, max_size=60), st.sampled_from(["unit-masked", "unit-long", "file-name", "file-id"]))
def test_a_pseudonym_is_not_the_plain_hash_and_needs_the_key(value: str, purpose: str) -> None:
    tag = pseudonym(purpose, value, 64, key=KEY_A)
    assert tag != _sha(value, 64) and tag != _sha(f"{purpose}\x00{value}", 64)
    assert tag == hmac.new(KEY_A, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()
    assert tag == pseudonym(purpose, value, 64, key=KEY_A)  # stable with the same key
    assert tag != pseudonym(purpose, value, 64, key=KEY_B)  # another deployment, another pseudonym


def test_pupil_unit_digest_is_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY_A.decode())
    unit = unit_of(PUPIL)
    assert unit == f"x_{pseudonym('unit-masked', PLAIN, key=KEY_A)}"
    assert _sha(PLAIN) not in unit
    assert unit_of("Nguyễn Văn An 079212000123 (sửa).xlsx") == unit  # the correction still supersedes
    monkeypatch.setenv(KEY_ENV, KEY_B.decode())
    assert unit_of(PUPIL) != unit


def test_long_names_get_keyed_tails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY_A.decode())
    long_unit = "truong_trung_hoc_pho_thong_chuyen_" + "_".join(["le_quy_don"] * 6)
    unit = unit_of(f"{long_unit}__ds.xlsx")
    assert unit.endswith(pseudonym("unit-long", long_unit, key=KEY_A)) and _sha(long_unit) not in unit
    name = "Danh sách " + "Nguyễn Văn An " * 20 + "079212000123.xlsx"
    cut = bounded_name(name)
    assert len(cut.encode()) <= MAX_NAME_BYTES and _sha(name) not in cut
    assert f"~{pseudonym('file-name', name, key=KEY_A)}.xlsx" == cut[cut.index("~"):]


def test_inbox_files_named_with_the_old_plain_tag_get_the_keyed_unit(monkeypatch: pytest.MonkeyPatch) -> None:
    """`doisoat upload` baked the unit into the inbox name; an old upload must still be superseded by
    its correction uploaded now, and its plain tag must not reach analysts."""
    monkeypatch.setenv(KEY_ENV, KEY_A.decode())
    old_name = f"x_{_sha(PLAIN)}__{PUPIL}"
    keyed = f"x_{pseudonym('unit-masked', PLAIN, key=KEY_A)}"
    assert unit_of(old_name) == unit_of(PUPIL.replace(".xlsx", " (sửa).xlsx")) == keyed
    assert unit_of(f"x_{_sha(PLAIN)}__{PUPIL}.errors.xlsx") == unit_of(old_name)  # its error report too
    assert public_label(old_name) == f"{keyed}__x.xlsx"  # the analysts' file label
    assert unit_of(f"thpt_{_sha('x')}__ds.xlsx") == f"thpt_{_sha('x')}"  # a hex-looking unit of its own stays
    assert unit_of(f"x_{_sha('other')}__{PUPIL}") == f"x_{_sha('other')}"  # not the old tag of this name


def test_a_short_key_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "secret")
    with pytest.raises(PseudonymKeyError, match=KEY_ENV):
        deployment_key()


def _unit_in_fresh_process(data: Path, key: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV} | {"DOISOAT_DATA": str(data)}
    if key:
        env[KEY_ENV] = key
    code = f"from rules.ingest.inbox import unit_of; print(unit_of({PUPIL!r}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_generated_key_is_private_and_stable_across_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = os.umask(0)  # the modes must not depend on the umask
    try:
        first = _unit_in_fresh_process(data)
    finally:
        os.umask(old)
    key_path = DataLayout.at(data).pseudonym_key()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    key = key_path.read_text().strip().encode()
    assert len(key) == 64 and first == f"x_{pseudonym('unit-masked', PLAIN, key=key)}" and _sha(PLAIN) not in first
    assert _unit_in_fresh_process(data) == first  # a second run of the same deployment: same pseudonym
    assert _unit_in_fresh_process(data, key="c" * 40) != first  # the environment's key wins
    assert _unit_in_fresh_process(tmp_path / "other") != first  # another deployment: another key


def test_an_existing_key_file_is_tightened_and_a_damaged_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "pseudonym.key"
    path.parent.mkdir(mode=0o755)
    path.write_text("k" * 64 + "\n")
    path.chmod(0o644)
    assert key_file(path) == b"k" * 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    damaged = tmp_path / "damaged" / "pseudonym.key"
    damaged.parent.mkdir()
    damaged.write_text("short")
    with pytest.raises(PseudonymKeyError, match="damaged"):
        key_file(damaged)


# ------------------------------------------------------------------------------------- end to end
CSV = "Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\nNguyễn Văn An,05/09/2012,Nam,079212000123\n"
FILES = {PUPIL.replace(".xlsx", ".csv"): CSV, "Trần Thị Bích 05-09-2012 (sửa).csv": CSV, "thpt_le_quy_don__ds.csv": CSV,
         "thcs_" + "_".join(["nguyen_trai"] * 7) + "__ds.csv": CSV}


def _unkeyed(inbox: Path) -> set[str]:
    """Every plain hash an older doisoat showed for these files: digests of the unit texts (as typed,
    slugged, correction markers stripped), of the names, and prefixes of the files' sha256."""
    out: set[str] = set()
    for path in inbox.iterdir():
        stem = path.name.rsplit(".", 1)[0]
        texts = {path.name, stem, slugify(stem), strip_corrections(slugify(stem)), slugify(stem.split("__")[0])}
        out |= {_sha(t) for t in texts} | {_sha(path.read_bytes(), 12)}
    return out


def test_analyst_file_and_dagster_metadata_hold_no_unkeyed_hash(data_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)  # the generated key, as in `make demo` on a fresh machine
    inbox = data_dir / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    for name, text in FILES.items():
        (inbox / name).write_text(text, encoding="utf-8")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("province", ["ha_noi"])
        result = dg.materialize([raw_records, clean_records], partition_key=partition_key("ha_noi", "students"),
                                resources={"paths": DataPaths(root=str(data_dir))}, instance=instance)
        assert result.success
        # every event of the run: materialisations and check results with their metadata, log lines
        metadata = "\n".join(str(e.event_specific_data) + (e.message or "") for e in result.all_events).lower()
    layout = DataLayout.at(data_dir)
    key = layout.pseudonym_key().read_bytes().strip()
    assert stat.S_IMODE(layout.pseudonym_key().stat().st_mode) == 0o600
    target = layout.warehouse()
    build_warehouse(WarehouseSources.from_layout(layout), target)
    con = duckdb.connect(str(target), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        text = "\n".join(str(con.execute(f"SELECT * FROM {t}").fetchall()) for t in tables).lower()
        units = {u for (u,) in con.execute("SELECT DISTINCT unit FROM uploads").fetchall()}
        file_ids = {f for (f,) in con.execute("SELECT DISTINCT file_id FROM uploads").fetchall()}
    finally:
        con.close()
    # the keyed pseudonyms are there (so the scan below looks at the right values) ...
    assert f"x_{pseudonym('unit-masked', PLAIN, key=key)}" in units
    # (the files not named <unit>__<list> are refused as misnamed: failed, read nothing, no file_id)
    assert {pseudonym("file-id", _sha(CSV.encode(), 64), 12, key=key)} == file_ids - {None}
    assert any(u.startswith("thcs_nguyen_trai") and len(u) == 64 for u in units)
    # ... and no plain hash of a unit text, a file name or a file's bytes is, anywhere
    unkeyed = _unkeyed(inbox)
    assert not [h for h in unkeyed if h in text]
    assert not [h for h in unkeyed if h in metadata]
