"""Derive the committed name tables under ``rules/reference/names/`` from the UIT-ViNames list.

Run once by a developer (``python -m rules.synth.build_name_tables ../shared/data/uit_vinames_full.csv``);
the generator only reads the small committed CSVs, because CI and installs cannot rely on ``../shared``.

Cleaning (the raw list has glued tokens such as ``PhạmQuốc``, stray capitals such as ``TrỊnh`` and
fragments such as ``Ng``): glued tokens are split only when both halves are known tokens, every token is
re-cased (first letter upper, rest lower), and names with a rare token (seen once) or with fewer than
2 / more than 5 tokens are dropped, and so are names whose gender contradicts a Văn/Thị middle name
(mislabelled rows). Tone placement is stored in the old style (``Hòa``, ``Thủy``); the generator
writes a share of the register in the new style itself. Family-name shares follow the national
shares of domain README §3.2 (the 14 common surnames, Hoàng/Huỳnh and Vũ/Võ split by their ratio
in the list); the remaining ~10.9 % is spread over the other surnames by their frequency in the list.
"""

from __future__ import annotations

import csv
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import polars as pl

from rules.synth.text import to_old_style

NAMES_DIR = Path(__file__).resolve().parent.parent / "reference" / "names"

#: National shares (percent) of the common surnames, domain README §3.2.
NATIONAL_SHARES: dict[str, float] = {
    "Nguyễn": 38.4,
    "Trần": 11.0,
    "Lê": 9.5,
    "Phạm": 7.1,
    "Phan": 4.5,
    "Đặng": 2.1,
    "Bùi": 2.0,
    "Đỗ": 1.4,
    "Hồ": 1.3,
    "Ngô": 1.3,
    "Dương": 1.0,
    "Lý": 0.5,
}
#: Pairs that share one Hán character; the pair's share is split by their ratio in the list.
PAIRED_SHARES: dict[tuple[str, str], float] = {("Hoàng", "Huỳnh"): 5.1, ("Vũ", "Võ"): 3.9}

_GLUE = re.compile(r"(?<=[a-zà-ỹđ])(?=[A-ZÀ-ỸĐ][a-zà-ỹđ])")


def _fix_token(token: str, known: set[str]) -> list[str]:
    parts = _GLUE.split(token)
    if len(parts) > 1 and all(p in known for p in parts):
        return parts
    return [token.capitalize()]


def clean_names(rows: list[tuple[str, int]]) -> list[tuple[list[str], str]]:
    """Return (tokens, gender) for the usable names; gender is ``Nam``/``Nữ``."""
    rows = [(unicodedata.normalize("NFC", n).split(), g) for n, g in rows]
    well_cased = Counter(t for toks, _ in rows for t in toks if t == t.capitalize())
    known = {t for t, c in well_cased.items() if c >= 2 and len(t) > 1}
    cleaned = [([p for t in toks for p in _fix_token(t, known)], g) for toks, g in rows]
    vocab = sorted({t for toks, _ in cleaned for t in toks})
    old = dict(zip(vocab, pl.DataFrame({"t": vocab}).select(to_old_style(pl.col("t")))["t"], strict=True))
    cleaned = [([old[t] for t in toks], g) for toks, g in cleaned]
    counts = Counter(t for toks, _ in cleaned for t in toks)
    out = []
    for toks, g in cleaned:
        gender = "Nam" if int(g) == 1 else "Nữ"
        if not 2 <= len(toks) <= 5 or any(counts[t] < 2 or len(t) < 2 for t in toks):
            continue
        if ("Thị" if gender == "Nam" else "Văn") in toks[1:-1]:  # mislabelled gender in the source
            continue
        out.append((toks, gender))
    return out


def family_table(names: list[tuple[list[str], str]]) -> list[tuple[str, float]]:
    freq = Counter(toks[0] for toks, _ in names)
    shares: dict[str, float] = dict(NATIONAL_SHARES)
    for pair, share in PAIRED_SHARES.items():
        total = sum(freq[p] for p in pair)
        for p in pair:
            shares[p] = share * freq[p] / total
    rest = {f: c for f, c in freq.items() if f not in shares and c >= 3}
    rest_share = 100.0 - sum(shares.values())
    rest_total = sum(rest.values())
    shares.update({f: rest_share * c / rest_total for f, c in rest.items()})
    return sorted(((f, s / 100.0) for f, s in shares.items()), key=lambda x: -x[1])


def main(source: str) -> None:
    with open(source, encoding="utf-8") as fh:
        rows = [(r["Full_Name"], int(r["Gender"])) for r in csv.DictReader(fh)]
    names = clean_names(rows)
    NAMES_DIR.mkdir(parents=True, exist_ok=True)
    with open(NAMES_DIR / "family_names.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["family", "share"])
        w.writerows((f, f"{s:.6f}") for f, s in family_table(names))
    middles = Counter((g, " ".join(t[1:-1])) for t, g in names)
    with open(NAMES_DIR / "middle_names.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["gender", "middle", "count"])
        w.writerows((g, m, c) for (g, m), c in sorted(middles.items(), key=lambda x: (x[0][0], -x[1])) if c >= 2)
    givens = Counter((g, t[-1]) for t, g in names)
    with open(NAMES_DIR / "given_names.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["gender", "given", "count"])
        w.writerows((g, n, c) for (g, n), c in sorted(givens.items(), key=lambda x: (x[0][0], -x[1])) if c >= 2)
    print(f"kept {len(names)} of {len(rows)} names")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/uit_vinames_full.csv")
