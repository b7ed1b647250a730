"""Feature columns the engine blocks and compares on, derived once per frame (vectorised).

Both sides (sector records and the register index) get the same feature names so that a blocking
pass or a comparison is just "column X on the left vs column X on the right". Text folding runs once
per *unique* value (names repeat a lot), never per row.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import polars as pl

from rules.provinces import slugify
from rules.transliterate import to_ascii

# Hán-Việt regional readings of one surname (domain README 3.4 item 9): near-equal for family names.
FAMILY_VARIANTS: dict[str, str] = {"huynh": "hoang", "vo": "vu"}

_NON_WORD = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")

VIETNAM_FEATURES: tuple[str, ...] = (
    "nk",
    "fk",
    "mk",
    "gk",
    "fkc",
    "tk",
    "gt",
    "dob",
    "yr",
    "mo",
    "dy",
    "prec",
    "dobs",
    "dob_sw",
    "sex",
    "idn",
    "idn_s",
    "cmnd",
    "prov",
    "idf",
    "ini",
    "par1",
    "par2",
    "nk_rot",
    "nk_rev",
    "nks",
    "hh",
    "grk",
    "grk2",
    "idp",
)


GUARDIAN_COLUMN = "guardian_name"  # canonical column of a school list's parent or guardian (contracts §4)

# record-side helpers the register does not need (the index stays smaller and its cache stays valid)
RECORD_ONLY_FEATURES: tuple[str, ...] = ("dob_sw", "idf", "nk_rot", "nk_rev", "idp")
INDEX_FEATURES: tuple[str, ...] = tuple(f for f in VIETNAM_FEATURES if f not in RECORD_ONLY_FEATURES)


def fold_name(text: str | None) -> str | None:
    """Diacritic-free lower-case key (đ->d), punctuation dropped, single spaces."""
    if text is None:
        return None
    s = to_ascii(unicodedata.normalize("NFC", text)).lower()
    s = _SPACES.sub(" ", _NON_WORD.sub(" ", s)).strip()
    return s or None


@cache
def _tone_helpers():
    """(look-alike fold, canonical tone placement) from the normaliser, imported on first use.

    Why lazy: importing the normaliser builds its syllable tables (a few hundred ms), which a match of
    already normalised records against a cached index never needs.
    """
    from rules.normalise.characters import fold_d_lookalikes

    try:
        from rules.normalise.syllable import canonical_tone
    except ImportError:  # pragma: no cover - normaliser not installed: plain NFC comparison
        return fold_d_lookalikes, lambda s: s
    return fold_d_lookalikes, canonical_tone


def tone_name(text: str | None) -> str | None:
    """Lower-case toned form in one tone style, punctuation dropped, single spaces (Ð/Ɖ read as Đ,
    from the one look-alike table, rules/normalise/characters.yaml)."""
    if text is None:
        return None
    fold_d_lookalikes, canon = _tone_helpers()
    s = canon(unicodedata.normalize("NFC", fold_d_lookalikes(text)).lower())
    s = _SPACES.sub(" ", _NON_WORD.sub(" ", s)).strip()
    return s or None


def _map_unique(col: pl.Series, fn) -> pl.Series:
    """Apply ``fn`` once per distinct value and broadcast back (names repeat heavily)."""
    uniq = col.unique()
    mapped = pl.Series(col.name, [fn(v) for v in uniq.to_list()], dtype=pl.Utf8)
    lut = pl.DataFrame({"_k": uniq, "_v": mapped})
    return pl.DataFrame({"_k": col}).join(lut, on="_k", how="left", maintain_order="left")["_v"]


def _name_parts(nk: pl.Expr, tk: pl.Expr) -> list[pl.Expr]:
    toks = nk.str.split(" ")
    n = toks.list.len()
    return [
        toks.list.first().alias("fk"),
        pl.when(nk.is_null())
        .then(None)
        .when(n > 2)
        .then(toks.list.slice(1, n - 2).list.join(" "))
        .otherwise(pl.lit(""))
        .alias("mk"),
        pl.when(n > 1).then(toks.list.last()).otherwise(None).alias("gk"),
        toks.list.eval(pl.element().str.slice(0, 1)).list.join("").alias("ini"),
        # the name's tokens in sorted order: a blocking key that survives any token order
        toks.list.sort().list.join(" ").alias("nks"),
        pl.when(n > 1).then(tk.str.split(" ").list.last()).otherwise(None).alias("gt"),
    ]


def _name_key(df: pl.DataFrame, key_col: str | None, raw_col: str) -> pl.Series:
    """``nk``: the normalised key column when present, else the raw name folded; trimmed, "" -> null."""
    nk = df[key_col] if key_col and key_col in df.columns else _map_unique(df[raw_col].cast(pl.Utf8), fold_name)
    nk = nk.alias("nk").str.strip_chars()
    return nk.set(nk == "", None)


def _with_name_features(df: pl.DataFrame, key_col: str | None, toned_col: str | None, raw_col: str):
    tk = df[toned_col] if toned_col and toned_col in df.columns else _map_unique(df[raw_col], tone_name)
    out = pl.DataFrame([_name_key(df, key_col, raw_col), tk.alias("tk").str.strip_chars()])
    out = out.with_columns(_name_parts(pl.col("nk"), pl.col("tk")))
    variants = pl.col("fk").replace(FAMILY_VARIANTS)
    return out.with_columns(variants.alias("fkc"))


def _date_features(dob: pl.Expr, yr: pl.Expr, mo: pl.Expr, dy: pl.Expr, prec: pl.Expr) -> list[pl.Expr]:
    day_prec = prec == "day"
    return [
        pl.when(day_prec).then(dob).otherwise(None).alias("dob"),
        yr.cast(pl.Int32).alias("yr"),
        pl.when(prec.is_in(["day", "month"])).then(mo).otherwise(None).cast(pl.Int8).alias("mo"),
        pl.when(day_prec).then(dy).otherwise(None).cast(pl.Int8).alias("dy"),
        prec.cast(pl.Utf8).alias("prec"),
        pl.when(day_prec).then(dob.dt.strftime("%Y%m%d")).otherwise(None).alias("dobs"),
        # day and month swapped (only a different valid date when both are <= 12 and differ)
        pl.when(day_prec & (dy <= 12) & (dy != mo)).then(pl.date(yr, dy, mo)).otherwise(None).alias("dob_sw"),
    ]


def _pad_id(digits: pl.Expr) -> pl.Expr:
    """12-digit form of an all-digit ID that lost up to two leading zeros (Excel number cells)."""
    n = digits.str.len_chars()
    ok = digits.str.contains(r"^\d+$") & (n >= 10) & (n <= 12)
    return pl.when(ok).then(digits.str.pad_start(12, "0")).otherwise(None)


def record_features(records: pl.DataFrame) -> pl.DataFrame:
    """Features of normalised sector records (contracts §4); missing optional columns become null."""

    def col(name: str, dtype: pl.DataType = pl.Utf8) -> pl.Expr:
        return pl.col(name) if name in records.columns else pl.lit(None, dtype=dtype).alias(name)

    names = _with_name_features(
        records if "full_name" in records.columns else records.with_columns(pl.lit(None, pl.Utf8).alias("full_name")),
        "name_key",
        "name_toned",
        "name_clean" if "name_clean" in records.columns else "full_name",
    )
    id_kind = col("id_kind")
    id_clean = col("id_clean")
    base = records.select(
        *_date_features(
            col("dob", pl.Date),
            col("dob_year", pl.Int32),
            col("dob_month", pl.Int8),
            col("dob_day", pl.Int8),
            col("dob_precision"),
        ),
        col("gender_norm").alias("sex"),
        pl.when(id_kind.is_in(["cccd", "cmnd12"]) | id_kind.is_null() | (id_kind == "invalid"))
        .then(_pad_id(id_clean))
        .otherwise(None)
        .alias("idn_s"),
        pl.when(id_kind == "cmnd9").then(id_clean).otherwise(col("old_id_clean")).alias("cmnd"),
        col("province").alias("prov"),
        id_clean.alias("idf"),  # the ID as the file gave it (after cleaning), for `id_corrected`
        pl.lit(None, pl.Utf8).alias("par1"),
        pl.lit(None, pl.Utf8).alias("par2"),
        pl.lit(None, pl.Utf8).alias("hh"),
        pl.lit(None, pl.Utf8).alias("grk2"),
        sci_id_prefix(col("national_id"), id_kind).alias("idp"),
    )
    # the parent or guardian a school list names (cột "Họ tên cha/mẹ/người giám hộ"), folded like a
    # name: compared with the names of the candidate's mother and father in the register
    guardian = (
        _map_unique(records[GUARDIAN_COLUMN].cast(pl.Utf8), fold_name)
        if GUARDIAN_COLUMN in records.columns
        else pl.Series([None] * records.height, dtype=pl.Utf8)
    )
    base = base.with_columns(guardian.alias("grk"))
    # the record's name read back in register order, for the name-order passes: given name moved
    # from the front to the end ("Vinh Nguyễn Duy" -> "nguyen duy vinh"), or all tokens reversed
    nk_toks = pl.col("nk").str.split(" ")
    orders = names.select(
        pl.when(pl.col("nk").str.contains(" "))
        .then(pl.concat_list(nk_toks.list.slice(1), nk_toks.list.first()).list.join(" "))
        .alias("nk_rot"),
        pl.when(pl.col("nk").str.contains(" ")).then(nk_toks.list.reverse().list.join(" ")).alias("nk_rev"),
    )
    base = base.with_columns(orders.get_columns())
    base = base.with_columns(pl.col("idn_s").cast(pl.Int64, strict=False).alias("idn"), *_year_from_rounded_id())
    return pl.concat([names, base], how="horizontal").select(VIETNAM_FEATURES)


def sci_id_prefix(raw: pl.Expr, id_kind: pl.Expr) -> pl.Expr:
    """The leading digits of a 12-digit ID that Excel wrote in scientific notation and rounded
    (``7.92031E+10`` or the number ``79203100000`` -> ``0792031``, ``1.19012E+09`` -> ``00119012``),
    for an ID the normaliser could not use (kind ``unusable``).

    Why: the ID is lost, but its first digits are not: the province code (digits 1-3) and, after the
    century/gender and year digits, the first of the six random digits (digit 7, maybe rounded up by
    one). Null when the value is not scientific notation, or too short to reach digit 7.
    """
    from rules.normalise.ids import ID_QUOTES, SCIENTIFIC_ID  # the normaliser's reading of the notation

    text = raw.str.strip_chars().str.strip_chars(ID_QUOTES)
    sci = text.str.extract_groups(SCIENTIFIC_ID)
    digits = (sci.struct[0] + sci.struct[1].fill_null("")).str.strip_chars_start("0")
    width = sci.struct[2].cast(pl.Int32, strict=False) + 1  # digits of the number Excel held
    # CCCD province codes start with 0 (Hà Nội 001: two zeros), which the number lost
    prefix = pl.when(width.is_between(10, 12)).then(pl.lit("00").str.slice(0, 12 - width) + digits)
    # ... or the rounded number saved back as a number (79203100000): its 6 significant digits
    number = text.str.extract(r"^(\d{10,11})(?:[.,]0+)?$", 1)
    n = number.str.len_chars()
    prefix = prefix.fill_null(number.str.zfill(12).str.slice(0, 18 - n))
    ok = (id_kind == "unusable") & (prefix.str.len_chars() >= 7) & (prefix.str.len_chars() <= 12)
    return pl.when(ok).then(prefix).otherwise(None)


def _year_from_rounded_id() -> list[pl.Expr]:
    """A row without a birth year whose ID Excel rounded (``idp``) takes the year the ID's digits 4-6
    still say (century and year), as a row that gives its year only (``prec`` = ``year``).

    Why: it is the only birth year such a row has (a clerk reads it off the ID the same way); with it
    the passes keyed on the year find the person and the date comparison scores the year. The
    comparison ``id_prefix`` skips those digits, so nothing is counted twice. Only for a rounded ID:
    a usable ID that is a parent's would give the parent's year, and a usable ID finds its holder by
    itself. The rounding carries into the year only when digits 7 on were all nines (about one
    rounded ID in twenty): the year then reads one late.
    """
    from rules.normalise.ids import cccd_birth_year  # the normaliser's reading of digits 4-6

    from_id = cccd_birth_year(pl.col("idp").str.pad_end(12, "0"), pl.lit("cccd"))
    fill = pl.col("yr").is_null() & pl.col("idp").is_not_null() & from_id.is_not_null()
    return [
        pl.when(fill).then(from_id).otherwise(pl.col("yr")).cast(pl.Int32).alias("yr"),
        pl.when(fill).then(pl.lit("year")).otherwise(pl.col("prec")).alias("prec"),
    ]


def person_name_keys(register: pl.DataFrame) -> pl.DataFrame:
    """``(idn_s, nk)`` of every person of ``register`` (contract 1 columns ``person_id``,
    ``full_name``; ``name_key`` used when present): the lookup :func:`parent_names` reads parents'
    names from. Built from the whole register when the index covers a part of it (a birth-year
    bucket of the national second pass holds the children but not their parents)."""
    idn_s = register.select(_pad_id(pl.col("person_id").cast(pl.Utf8)).alias("idn_s")).to_series()
    return pl.DataFrame([idn_s, _name_key(register, "name_key", "full_name")])


def index_features(register: pl.DataFrame, parents_from: pl.DataFrame | None = None) -> pl.DataFrame:
    """Features of the register (contract 1; normalised name columns are used when present).

    ``parents_from``: ``(idn_s, nk)`` of the people whose names parents are read from
    (:func:`person_name_keys` of the whole register); default: ``register`` itself."""
    names = _with_name_features(register, "name_key", "name_toned", "full_name")
    dob = pl.col("date_of_birth").cast(pl.Date)
    prov = _map_unique(register["province"].cast(pl.Utf8), lambda v: slugify(v) if v else None)
    base = register.select(
        *_date_features(dob, dob.dt.year(), dob.dt.month(), dob.dt.day(), pl.lit("day")),
        pl.col("gender").alias("sex"),
        _pad_id(pl.col("person_id").cast(pl.Utf8)).alias("idn_s"),
        pl.col("old_id").cast(pl.Utf8).alias("cmnd")
        if "old_id" in register.columns
        else pl.lit(None, pl.Utf8).alias("cmnd"),
        # optional parent links (the register's mother_id / father_id): a parent's ID on a child's row
        # then counts as evidence *for* the child instead of against it
        *[
            _pad_id(pl.col(src).cast(pl.Utf8)).alias(dst)
            if src in register.columns
            else pl.lit(None, pl.Utf8).alias(dst)
            for src, dst in (("mother_id", "par1"), ("father_id", "par2"))
        ],
    ).with_columns(prov.alias("prov"))
    # household (generator and register extracts carry it): twins and siblings share one
    hh = (
        register["household_id"].cast(pl.Utf8).alias("hh")
        if "household_id" in register.columns
        else pl.Series("hh", [None] * register.height, dtype=pl.Utf8)
    )
    base = base.with_columns(pl.col("idn_s").cast(pl.Int64, strict=False).alias("idn")).with_columns(hh)
    feats = pl.concat([names, base], how="horizontal")
    return feats.with_columns(parent_names(feats, parents_from)).select(INDEX_FEATURES)


def parent_names(feats: pl.DataFrame, lookup: pl.DataFrame | None = None) -> list[pl.Series]:
    """``grk`` / ``grk2``: the folded full names of each person's parents in the register, for the
    guardian comparison: ``grk`` the mother's (``par1``), else the father's; ``grk2`` the father's
    when ``grk`` is the mother's. Null where no parent is in the register (the comparison is then
    ``missing``, neutral).

    ``feats``: index features with ``idn_s``, ``nk``, ``par1``, ``par2`` (one row per person). Two
    hash joins on the 12-digit ID (seconds at 10M people)."""
    source = feats if lookup is None else lookup
    names = source.select(pl.col("idn_s").alias("_p"), pl.col("nk").alias("_n")).filter(pl.col("_p").is_not_null())
    names = names.unique("_p", keep="first")
    found = []
    for par in ("par1", "par2"):
        joined = feats.select(pl.col(par).alias("_p")).join(names, on="_p", how="left", maintain_order="left")
        found.append(joined["_n"])
    mother, father = found
    first = mother.fill_null(father).alias("grk")
    second = pl.Series("grk2", father).zip_with(mother.is_not_null(), pl.Series([None] * len(father), dtype=pl.Utf8))
    return [first, second]


def generic_features(df: pl.DataFrame, fields: dict[str, str]) -> pl.DataFrame:
    """Generic preparation (e.g. FEBRL4): feature <- source column, cast to text, trimmed, lower-cased.

    ``fields`` maps feature name -> source column; a source of the form ``fold:col`` is folded like a
    name (diacritics removed), ``int:col`` keeps digits only.
    """
    exprs = []
    for feat, src in fields.items():
        kind, _, colname = src.rpartition(":")
        if kind not in ("", "int", "fold"):
            raise ValueError(f"unknown field transform {kind!r} for {feat!r} (use fold: or int:)")
        col = df[colname].cast(pl.Utf8)
        if kind == "fold":
            col = _map_unique(col, fold_name)
        e = pl.lit(col).str.strip_chars().str.to_lowercase()
        if kind == "int":
            e = e.str.replace_all(r"\D", "")
        e = pl.when(e == "").then(None).otherwise(e)
        exprs.append(e.alias(feat))
    return df.select(exprs)
