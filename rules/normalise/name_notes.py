"""Notes written inside a name cell: moved out to ``name_note`` before the name is parsed.

Why: schools and health stations write remarks in the name cell — a nickname or disambiguator in
brackets (``Trần Mỹ Lợi (Bé)``, ``[Ngân lớn]``) or a status after a dash (``… - chuyển trường``).
Left in place, the remark becomes name tokens (``be``, ``chuyen truong``) and the given name is
read wrong, so the row gets no candidate. The note may itself hold personal data (a nickname, a
parent's name), so it is kept for the uploader's own view only and never reaches analyst views.

Rules (documented choice), applied to NFC text before punctuation is stripped:
- every bracketed segment ``(…)``, ``[…]``, ``{…}`` (full-width ``（…）`` too; an unclosed bracket
  runs to the end of the cell) is a note;
- after the first letter of the cell, a hyphen with a space on at least one side, or any en / em
  dash (``–``, ``—``), starts a note that runs to the end (a hyphen inside a word, ``Y-Moan``, is
  part of the name);
- when nothing with a letter would remain as the name, the cell is left as it was (no note).
Vectorised polars over the (already distinct) values.
"""

from __future__ import annotations

import polars as pl

_OPEN = r"\(\[\{（"
_CLOSE = r"\)\]\}）"
_BRACKETED = rf"[{_OPEN}][^{_CLOSE}]*(?:[{_CLOSE}]|$)"
_DASH_TAIL = r"^(.*?\p{L}.*?)(?:\s-+|-+\s|[–—]+)(.*)$"
_MAYBE = rf"[{_OPEN}{_CLOSE}–—]|\s-|-\s"


def split_name_notes(text: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(name text without notes, note or null) for a Utf8 Series; same length and order.

    The note is the bracket contents and the text after the dash, brackets and dashes removed,
    single-spaced, several notes joined with ``"; "``; null when the cell has none.
    """
    text = text.cast(pl.Utf8)
    maybe = text.str.contains(_MAYBE).fill_null(False)
    note = pl.repeat(None, text.len(), dtype=pl.Utf8, eager=True)
    if not maybe.any():
        return text, note
    idx = maybe.arg_true()
    df = pl.DataFrame({"t": text.gather(idx)})
    t = pl.col("t")
    df = df.with_columns(
        br=t.str.extract_all(_BRACKETED).list.join("; "),
        rest=t.str.replace_all(_BRACKETED, " "),
    )
    tail = pl.col("rest").str.extract_groups(_DASH_TAIL)
    df = df.with_columns(
        name=pl.coalesce(tail.struct[0], pl.col("rest")),
        tail=tail.struct[1],
    )
    clean = (
        pl.concat_str([pl.col("br"), pl.col("tail")], separator="; ", ignore_nulls=True)
        .str.replace_all(rf"[{_OPEN}{_CLOSE}]", " ")
        .str.replace_all(r"(^|;)\s*[-–—]+", "$1")
        .str.replace_all(r"\s+", " ")
        .str.replace_all(r"\s*;\s*(;\s*)*", "; ")
        .str.strip_chars(" ;")
    )
    df = df.with_columns(note=clean)
    ok = pl.col("name").str.contains(r"\p{L}").fill_null(False) & pl.col("note").str.contains(
        r"[\p{L}\p{N}]"
    ).fill_null(False)
    out = df.select(
        # the spaces the note leaves behind are part of the note, not a spacing fault of the name
        name=pl.when(ok).then(pl.col("name").str.replace_all(r"\s{2,}", " ").str.strip_chars(" ")).otherwise(t),
        note=pl.when(ok).then(pl.col("note")),
    )
    return text.clone().scatter(idx, out["name"]), note.scatter(idx, out["note"])
