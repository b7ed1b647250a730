"""Keyed pseudonyms: the one owner of "a short hex tag standing for a value others must not recover".

A plain hash of a guessable value is no pseudonym: unit names, pupils' names, IDs and birth dates
come from small lists, so anyone can hash the list and look the tag up. Every tag doisoat publishes
(to analysts, in e-mailed reports, in Dagster metadata, in file names) that stands for such a value
is therefore ``HMAC-SHA256(key, purpose | value)`` with a per-deployment secret key:

* ``DOISOAT_PSEUDONYM_KEY`` when set (at least 32 characters). Deployments spread over several
  machines (PostgreSQL queue, lake on S3, several Dagster code servers) **must** set the same value
  everywhere: a unit slug or file id computed on one machine has to equal the one computed on the
  next, or corrections stop superseding the files they correct.
* else a random 256-bit key generated once and kept owner-only at
  :meth:`rules.layout.DataLayout.pseudonym_key` (``secrets/pseudonym.key``: file ``0600`` in a
  ``0700`` folder, ``rules.private``) of the data folder, so ``make demo`` needs no setup and the
  tags stay the same across runs of one deployment. ``doisoat demo --fresh`` keeps it.

Losing the key changes every tag derived from it (unit slugs of pupil-named files, file ids in the
analyst file): back it up with the data folder. Internal content hashes that never leave the private
lake (cache keys, file sha256 for lineage) are not pseudonyms and stay plain sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import cache
from pathlib import Path

from rules.errors import UserError

KEY_ENV = "DOISOAT_PSEUDONYM_KEY"
MIN_KEY_CHARS = 32
KEY_HEX_CHARS = 64  # a generated key: 32 random bytes as hex


class PseudonymKeyError(UserError):
    """The pseudonym key is missing, too short or unreadable; the message says what to do."""


def pseudonym(purpose: str, value: str, length: int = 8, key: bytes | None = None) -> str:
    """``length`` hex digits of ``HMAC-SHA256(key, purpose NUL value)``.

    ``purpose`` separates the uses (a unit digest never equals a file id of the same text); ``key``
    defaults to :func:`deployment_key`. Without the key the tag cannot be recomputed from a list of
    candidate values.
    """
    mac = hmac.new(key if key is not None else deployment_key(), f"{purpose}\x00{value}".encode(), hashlib.sha256)
    return mac.hexdigest()[:length]


def deployment_key() -> bytes:
    """The key of this deployment: ``$DOISOAT_PSEUDONYM_KEY``, else the data folder's key file
    (generated on first use). The data folder is ``$DOISOAT_DATA`` or ``data/`` (``rules.layout``)."""
    env = os.environ.get(KEY_ENV, "")
    if env:
        if len(env.strip()) < MIN_KEY_CHARS:
            raise PseudonymKeyError(
                f"{KEY_ENV} is shorter than {MIN_KEY_CHARS} characters: set it to a long random value, e.g. "
                "the output of `python -c \"import secrets; print(secrets.token_hex(32))\"`, the same on every "
                "machine of the deployment")
        return env.strip().encode()
    from rules.layout import DataLayout, default_root

    return key_file(DataLayout.at(default_root()).pseudonym_key())


@cache
def key_file(path: Path) -> bytes:
    """The key stored at ``path``, created owner-only with a fresh random key when absent.

    Creation is atomic (written to a private temporary file, then hard-linked to ``path``, which fails
    if another process got there first; the winner's key is then read), so two processes starting
    at once agree on one key. An existing file is tightened to ``0600``, its folder to ``0700``.
    """
    from rules.private import private_dir, private_file

    path = Path(path)
    try:
        private_dir(path.parent)
        if not path.exists():
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.unlink(missing_ok=True)
            private_file(tmp)
            tmp.write_text(secrets.token_hex(KEY_HEX_CHARS // 2) + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: use its key
            finally:
                tmp.unlink(missing_ok=True)
        private_file(path)
        text = path.read_text().strip()
    except OSError as exc:
        raise PseudonymKeyError(
            f"pseudonym key {path}: cannot be created or read ({exc.strerror or exc}): make its folder "
            f"writable by this user, or set {KEY_ENV}") from None
    if len(text) < MIN_KEY_CHARS:
        raise PseudonymKeyError(
            f"pseudonym key {path} is damaged (shorter than {MIN_KEY_CHARS} characters): restore it from the "
            f"data folder's backup, or delete it to start new pseudonyms (unit slugs of pupil-named files and "
            f"file ids change)")
    return text.encode()
