"""``doisoat review export|import|stats``: clerical review from the command line (no Dagster daemon).

export writes owner-only workbooks under ``data/reports/review/<province>/``; import validates a
filled workbook and applies its decisions at once (the same as dropping it into
``data/inbox/<province>/review/``); stats prints what the reviewed pairs say about the matcher.
Output is counts, block codes, unit slugs and paths: never names, IDs or birth dates. ``import`` names
the workbook by the path the operator typed, unmasked: this output is for the person who gave the
file, on their own terminal (the review asset shows the same lines in Dagster by the masked label).
"""

from __future__ import annotations

import argparse

from pipelines.environment import layout
from rules.layout import DataLayout


def _layout() -> DataLayout:
    # The data folder and DOISOAT_LAKE: review reads and writes the lake wherever it is (rules.lake_store).
    return layout()


def export(args: argparse.Namespace) -> int:
    from rules.provinces import resolve_province
    from rules.review.service import export_workbooks
    from rules.sectors import SECTORS, check_sector

    province = resolve_province(args.province).slug
    sectors = [check_sector(args.sector)] if args.sector else list(SECTORS)
    done = export_workbooks(_layout(), province, sectors, unit=args.unit)
    for wb in done:
        where = f"-> {wb.path}" if wb.path else "(nothing to review)"
        print(f"{province}/{wb.sector}{f'/{wb.unit}' if wb.unit else ''}: {wb.blocks} rows to review {where}")
    return 0


def import_(args: argparse.Namespace) -> int:
    from rules.review.service import import_workbook

    # the operator's own terminal: the file as they typed it (rules.review.reader.shown_name)
    report = import_workbook(_layout(), args.file, label=str(args.file))
    print(report.render())
    return 0


def stats(args: argparse.Namespace) -> int:
    import polars as pl

    from rules.review.service import review_statistics

    st = review_statistics(_layout())
    print(f"labelled pairs: {st['labelled_matches']} confirmed matches, {st['labelled_rejections']} rows with no "
          f"right candidate (prior strength k = {st['k']:g})")
    with pl.Config(tbl_rows=200, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print("m per comparison level (levels of comparisons with labels):")
        print(st["levels"].filter(pl.col("n_lab") > 0))
        p = st["precision"]
        if p["reviewed"]:
            print(f"precision near the threshold (best score in [{p['band_low']}, {p['band_high']}]): "
                  f"{p['best_confirmed']}/{p['reviewed']} = {p['precision']:.3f} (95% CI {p['ci_low']:.3f}-"
                  f"{p['ci_high']:.3f}; the model expected {p['model_expected']:.3f})")
        else:
            print("precision near the threshold: no reviewed rows in the band yet")
        print("what-if, a lower match threshold:")
        print(st["what_if"])
    return 0
