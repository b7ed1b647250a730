"""Benchmark of rules.normalise on synthetic data: sector records and the population register.

Targets on the 2-core dev machine: 1M sector rows (name, date, gender, ID, old ID, phone) in
<= 2 s, 10M register rows in <= 20 s. Prints wall time, rows/s and peak RSS.

    .venv/bin/python benchmarks/bench_normalise.py                       # 1M sector + 10M register
    .venv/bin/python benchmarks/bench_normalise.py --sector-rows 200000 --register-rows 0

The data are generated here (numpy + polars, no personal data): Vietnamese names drawn from
common family/middle/given syllables with the noise seen in sector files (upper case, new tone
style, NFD, extra spaces, no diacritics, mojibake), dates in every accepted form, IDs with lost
leading zeros, separators, floats and scientific notation.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import unicodedata
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rules.normalise import normalise_records, normalise_register, summarise_flags
from rules.normalise.syllable import strip_diacritics
from rules.provinces import cccd_codes


def _w(text: str) -> list[str]:
    return text.split()


FAMILY = _w("Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Trương Đinh")
MIDDLE = _w("Văn Thị Ngọc Minh Thanh Hữu Đức Quốc Thu Kim Mỹ Hoàng Gia Bảo Xuân Thùy Anh")
GIVEN = _w(
    "An Anh Bình Chi Dũng Hòa Hóa Khỏe Thủy Túy Lũy Hùng Hương Lan Linh Long Mai Nam Ngọc Nhung "
    "Phúc Phương Quân Quý Sơn Tâm Thảo Thắng Trang Trung Tuấn Uyên Vân Việt Xuân Yến Hoài Khoa "
    "Thoa Loan Quỳnh Giang Huy Khánh Toàn Thịnh Đạt Duy Hiếu Nguyên"
)
NEW_STYLE = {"Hòa": "Hoà", "Hóa": "Hoá", "Khỏe": "Khoẻ", "Thủy": "Thuỷ", "Túy": "Tuý", "Lũy": "Luỹ", "Thùy": "Thuỳ"}


def _pick(rng: np.random.Generator, words: list[str], n: int) -> pl.Series:
    return pl.Series(np.asarray(words, dtype=object)[rng.integers(0, len(words), n)], dtype=pl.Utf8)


def _names(rng: np.random.Generator, n: int, noisy: bool) -> pl.Series:
    """Vietnamese full names; with ``noisy`` a mix of the usual data-entry variants."""
    # A second middle name on 40 % of rows gives ~260k distinct clean names, in the range of a
    # province's sector file (names repeat: normalisation works once per distinct value).
    second = pl.select(pl.when(pl.Series(rng.random(n) < 0.4)).then(_pick(rng, MIDDLE, n))).to_series()
    words = pl.DataFrame(
        {"f": _pick(rng, FAMILY, n), "m": _pick(rng, MIDDLE, n), "m2": second, "g": _pick(rng, GIVEN, n)}
    )
    full = words.select(pl.concat_str("f", "m", "m2", "g", separator=" ", ignore_nulls=True)).to_series()
    if not noisy:
        return full
    u = rng.random(n)
    variants = {
        "upper": full.str.to_uppercase(),
        "new_style": full.str.replace_many(list(NEW_STYLE), list(NEW_STYLE.values())),
        "nfd": full.str.normalize("NFD"),
        "spaces": "  " + full.str.replace_all(" ", "   ") + " ",
        "plain": full.map_elements(strip_diacritics, return_dtype=pl.Utf8)
        if n <= 50_000
        else full.str.normalize("NFD").str.replace_all(r"\p{M}", "").str.replace_all("đ|Đ", "d"),
    }
    out = full
    edges = np.cumsum([0.10, 0.05, 0.03, 0.03, 0.05])
    for (_, series), lo, hi in zip(variants.items(), np.r_[0, edges[:-1]], edges, strict=True):
        mask = pl.Series((u >= lo) & (u < hi))
        out = pl.select(pl.when(mask).then(series).otherwise(out)).to_series()
    moji = full.head(200).map_elements(
        lambda s: s.encode("utf-8").decode("cp1252", errors="replace"), return_dtype=pl.Utf8
    )
    idx = rng.integers(0, n, min(2000, n))
    out = out.scatter(idx, moji.gather(rng.integers(0, moji.len(), idx.size)))
    return out.alias("full_name")


def _ids(rng: np.random.Generator, n: int, years: np.ndarray, female: np.ndarray) -> pl.Series:
    codes = np.asarray(sorted(cccd_codes()), dtype=object)
    prov = codes[rng.integers(0, codes.size, n)]
    d4 = (years >= 2000).astype(int) * 2 + female.astype(int)
    rand = rng.integers(0, 1_000_000, n)
    df = pl.DataFrame({"p": prov, "d4": d4, "yy": years % 100, "r": rand})
    return df.select(
        pl.concat_str(
            "p",
            pl.col("d4").cast(pl.Utf8),
            pl.col("yy").cast(pl.Utf8).str.zfill(2),
            pl.col("r").cast(pl.Utf8).str.zfill(6),
        )
    ).to_series()


def build_sector(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.integers(date(1950, 1, 1).toordinal(), date(2020, 12, 31).toordinal(), n)
    dob = pl.Series(days - date(1970, 1, 1).toordinal(), dtype=pl.Int32).cast(pl.Date)
    years = dob.dt.year().to_numpy()
    female = rng.random(n) < 0.5
    pid = _ids(rng, n, years, female)
    u = rng.random(n)
    date_txt = pl.select(
        pl.when(pl.Series(u < 0.60))
        .then(dob.dt.strftime("%d/%m/%Y"))
        .when(pl.Series(u < 0.70))
        .then(dob.dt.strftime("%-d/%-m/%Y"))
        .when(pl.Series(u < 0.78))
        .then(dob.dt.strftime("%Y-%m-%d"))
        .when(pl.Series(u < 0.84))
        .then(dob.dt.strftime("%Y%m%d"))
        .when(pl.Series(u < 0.88))
        .then((dob.cast(pl.Int32) + 25569).cast(pl.Utf8))
        .when(pl.Series(u < 0.92))
        .then(dob.dt.strftime("%d.%m.%y"))
        .when(pl.Series(u < 0.96))
        .then(dob.dt.strftime("%Y"))
        .otherwise(dob.dt.strftime("%Y-%m-%d 00:00:00"))
    ).to_series()
    v = rng.random(n)
    id_txt = pl.select(
        pl.when(pl.Series(v < 0.10))
        .then(pid.str.strip_chars_start("0"))
        .when(pl.Series(v < 0.13))
        .then(pid.str.slice(0, 3) + " " + pid.str.slice(3, 3) + "." + pid.str.slice(6))
        .when(pl.Series(v < 0.15))
        .then(pid.str.strip_chars_start("0") + ".0")
        .when(pl.Series(v < 0.16))
        .then(pl.lit("7.92031E+10"))
        .when(pl.Series(v < 0.18))
        .then(pl.lit(None, dtype=pl.Utf8))
        .otherwise(pid)
    ).to_series()
    gender_words = np.where(female, "Nữ", "Nam").astype(object)
    g = rng.random(n)
    gender_words[g < 0.1] = np.where(female[g < 0.1], "nu", "NAM")
    gender_words[(g >= 0.1) & (g < 0.15)] = np.where(female[(g >= 0.1) & (g < 0.15)], "2", "1")
    local = "09" + pl.Series(rng.integers(10_000_000, 99_999_999, n)).cast(pl.Utf8)
    p = rng.random(n)
    phone = pl.select(
        pl.when(pl.Series(p < 0.5))
        .then(local)
        .when(pl.Series(p < 0.75))
        .then(local.str.slice(1))  # leading zero lost by Excel
        .when(pl.Series(p < 0.9))
        .then("+84 " + local.str.slice(1, 3) + " " + local.str.slice(4))
        .otherwise(local.str.slice(0, 4) + "." + local.str.slice(4, 3) + "." + local.str.slice(7))
    ).to_series()
    return pl.DataFrame(
        {
            "full_name": _names(rng, n, noisy=True),
            "date_of_birth": date_txt,
            "gender": pl.Series(gender_words, dtype=pl.Utf8),
            "national_id": id_txt,
            "old_id": pl.select(pl.when(pl.Series(rng.random(n) < 0.2)).then(pid.str.slice(3, 9))).to_series(),
            "phone": phone,
        }
    )


def build_register(n: int, seed: int = 2) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.integers(date(1930, 1, 1).toordinal(), date(2025, 12, 31).toordinal(), n)
    dob = pl.Series(days - date(1970, 1, 1).toordinal(), dtype=pl.Int32).cast(pl.Date)
    female = rng.random(n) < 0.5
    pid = _ids(rng, n, dob.dt.year().to_numpy(), female)
    return pl.DataFrame(
        {
            "person_id": pid,
            "full_name": _names(rng, n, noisy=False),
            "date_of_birth": dob,
            "gender": pl.Series(np.where(female, "Nữ", "Nam").astype(object), dtype=pl.Utf8),
            "old_id": pl.select(pl.when(pl.Series(rng.random(n) < 0.3)).then(pid.str.slice(3, 9))).to_series(),
        }
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run(label: str, fn, df: pl.DataFrame, target_s: float) -> pl.DataFrame:
    """Time ``fn(df)``: wall time against the target, and CPU time (less sensitive to other load)."""
    cpu0, t0 = _cpu_s(), time.perf_counter()
    out = fn(df)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    verdict = "OK" if wall <= target_s else "OVER TARGET"
    print(
        f"{label}: {df.height:,} rows in {wall:.2f} s wall = {df.height / wall:,.0f} rows/s "
        f"(target <= {target_s:.0f} s: {verdict}); CPU {cpu:.2f} s over {pl.thread_pool_size()} threads; "
        f"peak RSS so far {_peak_rss_mb():,.0f} MB"
    )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sector-rows", type=int, default=1_000_000)
    ap.add_argument("--register-rows", type=int, default=10_000_000)
    args = ap.parse_args(argv)
    print(f"polars {pl.__version__}, threads {pl.thread_pool_size()}; unicodedata {unicodedata.unidata_version}")
    today = date(2026, 11, 23)
    if args.sector_rows:
        t0 = time.perf_counter()
        sector = build_sector(args.sector_rows)
        print(f"generated {sector.height:,} sector rows in {time.perf_counter() - t0:.1f} s")
        out = _run("normalise_records", lambda d: normalise_records(d, "insurance", today=today), sector, 2.0)
        print("  flag counts:", summarise_flags(out))
        del sector, out
    if args.register_rows:
        t0 = time.perf_counter()
        register = build_register(args.register_rows)
        print(f"generated {register.height:,} register rows in {time.perf_counter() - t0:.1f} s")
        _run("normalise_register", lambda d: normalise_register(d, today=today), register, 20.0)
    print(f"peak RSS {_peak_rss_mb():,.0f} MB; load average {os.getloadavg()[0]:.1f} (shared machine: wall")
    print("times grow with other users' load; CPU time / threads approximates an idle machine's wall time)")


if __name__ == "__main__":
    main()
