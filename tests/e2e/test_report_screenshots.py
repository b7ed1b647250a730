"""The report and the forecast page of a real (tiny) demo, looked at in headless Chromium, and scanned for
personal data.

Steps: ``doisoat demo --size 3000`` in a temporary data folder, then ``doisoat report`` and ``doisoat
forecast --html`` through the real CLI. Chromium renders each page (the DOM it builds must hold every
expected chart with its bars or lines) and takes a screenshot of the top of each page and of EACH chart
alone, at the chart's own size, into ``$DOISOAT_SCREENSHOT_DIR`` (default ``tests/.artifacts/screenshots/``,
git-ignored) for a human to look at. A screenshot must not be blank and must show the chart's own colours
(the red of rejected rows in the uploads chart is the proof that a few rejected rows beside tens of
thousands accepted ones are visible).

Privacy: no full name, ID number (CCCD or old CMND) or birth date of anybody in the demo's register
appears in either page, in any case or date format.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from tests.e2e.browser import Browser, PageText, ensure_chromium, png_size

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("DOISOAT_SCREENSHOT_DIR") or REPO / "tests" / ".artifacts" / "screenshots")
PROVINCE = "ho_chi_minh"
REPORT_CHARTS = {"quota": "rect", f"uploads-{PROVINCE}": "rect", f"matches-{PROVINCE}": "rect",
                 f"burn-down-{PROVINCE}": "circle", f"burn-down-{PROVINCE}-units": "circle"}
FORECAST_CHARTS = {"forecast-country": "circle", "forecast-provinces": "circle", "forecast-units": "circle"}
REJECTED_RED = (0xC6, 0x28, 0x28)
TOTAL_BLUE = (0x1F, 0x3B, 0x73)
AMBIGUOUS_AMBER = (0xF9, 0xA8, 0x25)
SECOND_RED = (0xD1, 0x49, 0x5B)  # PALETTE[1]: the largest unit or province
WINDOW_MARGIN = 300


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, f"`doisoat {' '.join(args)}` failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    data = tmp_path_factory.mktemp("report_demo") / "data"
    env = {**os.environ, "DOISOAT_DATA": str(data), "DAGSTER_HOME": str(REPO),
           "DOISOAT_DAGSTER_STORAGE": str(data / "dagster_home"),
           "DOISOAT_COMPUTE_LOGS": str(data / "dagster_home" / "logs"), "DAGSTER_DISABLE_TELEMETRY": "1"}
    _cli(env, "demo", "--size", "3000")
    _cli(env, "report")
    forecast = data / "reports" / "forecast.html"
    _cli(env, "forecast", "--html", str(forecast))
    return {"report": data / "reports" / "doisoat.html", "forecast": forecast,
            "register": data / "population" / f"{PROVINCE}.parquet"}


class _Charts(HTMLParser):
    """Each ``<svg data-chart=…>`` of a page: its name, size and the element names inside it."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.charts: dict[str, dict] = {}
        self._current: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg" and a.get("data-chart"):
            self._current = a["data-chart"]
            self.charts[self._current] = {"size": (int(a["width"]), int(a["height"])), "tags": []}
        elif self._current:
            self.charts[self._current]["tags"].append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._current = None


def _svg(page: str, name: str) -> str:
    match = re.search(rf'<svg [^>]*data-chart="{re.escape(name)}".*?</svg>', page, flags=re.S)
    assert match, f"chart {name} not in the page"
    return match.group(0)


def _has_colour(png: Path, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    from PIL import Image

    with Image.open(png) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20) or []
    return any(all(abs(c - t) <= tolerance for c, t in zip(colour, rgb, strict=True)) for _, colour in colours)


def _crop(png: Path, width: int, height: int) -> None:
    from PIL import Image

    with Image.open(png) as img:
        box = img.crop((0, 0, width, height))
    box.save(png)


def _ink_share(png: Path) -> float:
    """Share of pixels that are not (near) white: 0 for a blank page."""
    from PIL import Image

    with Image.open(png) as img:
        grey = img.convert("L")
        histogram = grey.histogram()
    return 1 - sum(histogram[245:]) / sum(histogram)


def _shoot_charts(chromium: Path, page: Path, expected: dict[str, str], prefix: str, tmp: Path) -> dict[str, Path]:
    """Check the rendered DOM, then screenshot the page top and each chart alone; return the chart PNGs."""
    browser = Browser(chromium, tmp / "profile", window=(1200, 1600))
    dom = browser.dump_dom(page.as_uri(), budget_ms=1_000)
    charts = _Charts(dom).charts
    assert set(expected) <= set(charts), f"charts missing from the rendered page: {set(expected) - set(charts)}"
    for name, element in expected.items():
        assert element in charts[name]["tags"] and "text" in charts[name]["tags"], (name, charts[name]["tags"][:20])
    assert "Traceback" not in PageText(dom).text
    SHOTS.mkdir(parents=True, exist_ok=True)
    top = browser.screenshot(page.as_uri(), SHOTS / f"{prefix}_page.png", budget_ms=1_000)
    assert png_size(top) == (1200, 1600) and _ink_share(top) > 0.02
    source = page.read_text(encoding="utf-8")
    shots = {}
    for name in expected:
        width, height = charts[name]["size"]
        alone = tmp / f"{prefix}_{name}.html"
        alone.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;background:#fff}'
                         f"</style></head><body>{_svg(source, name)}</body></html>", encoding="utf-8")
        # headless Chromium mis-draws windows only ~100 px high: shoot a taller window, keep the chart's box
        shot = Browser(chromium, tmp / "profile", window=(width, height + WINDOW_MARGIN)).screenshot(
            alone.as_uri(), SHOTS / f"{prefix}_{name}.png", budget_ms=1_000)
        assert png_size(shot) == (width, height + WINDOW_MARGIN)
        _crop(shot, width, height)
        assert _ink_share(shot) > 0.01, f"{shot} is blank"
        shots[name] = shot
    return shots


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_chart_renders_in_a_real_browser(pages: dict[str, Path], tmp_path: Path) -> None:
    chromium, why = ensure_chromium()
    if chromium is None:
        pytest.skip(why)
    report = _shoot_charts(chromium, pages["report"], REPORT_CHARTS, "report", tmp_path)
    source = pages["report"].read_text(encoding="utf-8")
    for name, colour in ((f"uploads-{PROVINCE}", REJECTED_RED), (f"matches-{PROVINCE}", AMBIGUOUS_AMBER)):
        # a bar of the small category (a few rejected or ambiguous rows) drawn in the page is seen in the browser
        drawn = 'fill="#{:02x}{:02x}{:02x}"><title>'.format(*colour) in _svg(source, name)
        assert _has_colour(report[name], colour) == drawn, f"{name}: small bars drawn {drawn}, not seen so"
    assert _has_colour(report[f"burn-down-{PROVINCE}"], TOTAL_BLUE)
    forecast = _shoot_charts(chromium, pages["forecast"], FORECAST_CHARTS, "forecast", tmp_path)
    assert _has_colour(forecast["forecast-country"], TOTAL_BLUE)
    for name in (f"burn-down-{PROVINCE}-units", "forecast-provinces", "forecast-units"):  # lines in 2nd colour
        shots = report if name in report else forecast
        assert _has_colour(shots[name], SECOND_RED), f"{name}: the largest series is not drawn"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_default_report_shows_the_processed_province_with_a_summary_first(pages: dict[str, Path]) -> None:
    page = pages["report"].read_text(encoding="utf-8")
    sections = re.findall(r'<section class="province"><h2 id="p-([a-z_]+)"', page)
    assert sections == [PROVINCE]
    assert page.index('id="summary"') < page.index('id="national"') < page.index(f'id="p-{PROVINCE}"')
    assert "33 tỉnh khác" in page and "33 other provinces" in page
    assert len(page.encode("utf-8")) < 250_000


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_name_id_or_birth_date_of_the_register_in_the_pages(pages: dict[str, Path]) -> None:
    register = pl.read_parquet(pages["register"], columns=["person_id", "full_name", "date_of_birth", "old_id"])
    names = set(register["full_name"].drop_nulls().map_elements(_fold, return_dtype=pl.Utf8))
    ids = set(register["person_id"].drop_nulls()) | set(register["old_id"].drop_nulls())
    dobs = register["date_of_birth"].drop_nulls()
    born = set(dobs.dt.strftime("%Y-%m-%d")) | set(dobs.dt.strftime("%d/%m/%Y")) | set(dobs.dt.strftime("%d-%m-%Y"))
    for key in ("report", "forecast"):
        page = pages[key].read_text(encoding="utf-8")
        words = re.findall(r"\w+", _fold(page))
        grams = {" ".join(words[i:i + n]) for n in (2, 3, 4, 5) for i in range(len(words) - n + 1)}
        assert not grams & names, f"{key}: names of the register appear: {sorted(grams & names)[:3]}"
        digits = set(re.findall(r"(?<!\d)\d{9}(?:\d{3})?(?!\d)", page))
        assert not digits & ids, f"{key}: ID numbers of the register appear"
        dates = set(re.findall(r"\d{4}-\d\d-\d\d|\d\d[/-]\d\d[/-]\d{4}", page))
        # the pages' own days (uploads, quota, forecast) are 2026 or later; a birth date never is here
        found = {d for d in dates & born if not re.fullmatch(r"\d{4}-\d\d-\d\d", d) or d < "2025"}
        assert not found, f"{key}: birth dates of the register appear"
