"""The one chart module (rules.report.chart): axes, small values, legends and labels that are never cut."""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.report.chart import (
    CHAR_PX,
    MAX_STEPS,
    MIN_SEGMENT_PX,
    Series,
    _x_ticks,
    line_chart,
    nice_axis,
    panel_bars,
    stacked_bars,
    text_px,
)


@settings(max_examples=300, deadline=None)
@given(st.floats(0.5, 1e9, allow_nan=False))
def test_y_axis_top_is_the_next_round_step_above_the_maximum(value: float) -> None:
    top, step = nice_axis(value)
    assert step == int(step) and step >= 1  # whole-number ticks
    assert top >= value and top - step < max(value, 1)  # within one step of the maximum
    assert round(top / step) <= MAX_STEPS
    assert top <= 1.5 * max(value, 2) + 1e-6  # never "twice the maximum"
    assert int(str(int(step)).rstrip("0") or "0") in (1, 2, 25, 5)  # 1, 2, 2.5 or 5 x 10^k


def test_y_axis_examples() -> None:
    assert nice_axis(56_000) == (60_000, 10_000)
    assert nice_axis(10_001) == (12_000, 2_000)
    assert nice_axis(58_903) == (60_000, 10_000)
    assert nice_axis(0) == (1, 1)


def test_a_dozen_rejected_rows_beside_sixty_thousand_accepted_are_visible_and_labelled() -> None:
    svg = panel_bars("u", "Rows", ["students", "insurance"],
                     [Series("được nhận / accepted", [60_030, 500], "#0a0"),
                      Series("bị từ chối / rejected", [12, 0], "#c00")])
    bars = re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="[\d.]+" fill="#c00">', svg)
    assert len(bars) == 1 and float(bars[0][1]) > 100  # its own scale: the 12 fill the rejected panel
    assert "12 (0.02%)" in svg and "60\u202f030 (99.98%)" in svg  # value and share printed on the bar
    assert "0 (0%)" in svg  # a zero is printed too, without a bar
    assert "được nhận" in svg and "accepted" in svg  # both languages in the panel heading


def test_stacked_segments_never_vanish() -> None:
    svg = stacked_bars("q", "Quota", ["2026-11-23"], [Series("a", [199_000], "#111"), Series("b", [3], "#222"),
                                                       Series("c", [0], "#333")])
    widths = [float(w) for w in re.findall(r'width="([\d.]+)" height="16" fill="#222"', svg)]
    assert widths == [MIN_SEGMENT_PX]
    assert 'fill="#333"><title>' not in svg  # a zero has no segment


def test_legend_names_are_never_cut_and_wrap_inside_the_chart() -> None:
    names = [f"ho_chi_minh/students/a_very_long_unit_name_number_{i} / tên rất dài" for i in range(6)]
    svg = line_chart("b", "T", ["2026-11-23", "2026-11-24"], [Series(n, [5, 0], "#000") for n in names],
                     width=700)
    width, height = (int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', svg).groups())
    for name in names:
        assert f">{name}</text>" in svg
    legend = re.findall(r'<text x="([\d.]+)" y="([\d.]+)">ho_chi_minh', svg)
    assert len(legend) == 6
    assert all(float(x) + text_px(names[0]) <= width + CHAR_PX and float(y) <= height for x, y in legend)


def test_x_labels_do_not_overlap_and_include_both_ends() -> None:
    labels = [f"2026-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)]
    ticks = _x_ticks(labels, 700)
    assert ticks[0] == 0 and ticks[-1] == len(labels) - 1
    gaps = [(b - a) * 700 / (len(labels) - 1) for a, b in itertools.pairwise(ticks)]
    assert min(gaps) >= text_px(labels[0])
    assert _x_ticks(["2026-11-23", "2026-11-24", "2026-11-25"], 700) == [0, 1, 2]


def test_few_days_get_markers_and_the_first_label_is_the_first_point() -> None:
    svg = line_chart("b", "T", ["2026-11-23", "2026-11-24", "2026-11-25"],
                     [Series("total", [58_903, 39_920, 0], "#000", bold=True)])
    assert svg.count("<circle") == 3 and svg.count("<polyline") == 1
    first_x = float(re.search(r'points="([\d.]+),', svg).group(1))
    label_x = float(re.search(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">2026-11-23<', svg).group(1))
    assert first_x == label_x  # the axis starts on the day its first label names
    assert ">60\u202f000</text>" in svg and ">70\u202f000<" not in svg  # the top tick is the next round step


def test_labels_are_escaped() -> None:
    bar = stacked_bars("x", "T<1>", ["a&b"], [Series("s<x>", [3], "#000")])
    line = line_chart("y", "L", ["d0"], [Series("<u>", [5], "#000")])
    assert "a&amp;b" in bar and "s&lt;x&gt;" in bar and "T&lt;1&gt;" in bar and "<x>" not in bar
    assert "<circle" in line and "&lt;u&gt;" in line and "<u>" not in line
