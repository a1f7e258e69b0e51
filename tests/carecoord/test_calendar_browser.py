"""The calendar page in a real browser: headless Chromium renders `carecoord replay --html` to PNG,
and every day's colour, read from the pixels where the grid's fixed geometry puts it, is the colour
of the reason the ledger (`replay --json`) gives that day. Fails, never skips, without Chromium.
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest
from PIL import Image

from carecoord.calendar_html import GEOMETRY, PALETTE, UNLISTED
from carecoord.cli import main
from projections.core.rules import Reason
from tests.support import browser
from tests.support.browser import screenshot
from tests.support.history_builder import History, standard

THROUGH = "2026-04-10"
RGB = tuple[int, int, int]


def a_history_with_every_kind_of_day() -> History:
    """Before the start of care, billable days numbered against 20 units, a hold, a hospital stay,
    a gap in supply, then the units used up: over March and April."""
    h = standard(auth_units=20, supply_days=14)  # accepted Mar 1, start of care Mar 2, supply to Mar 15
    h.held("2026-03-06")
    h.resumed("2026-03-09")
    h.admitted("2026-03-11")
    h.discharged("2026-03-13")
    h.delivered("d-2", "2026-03-20", 30)
    return h


def rgb(hex_colour: str) -> RGB:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def grids(image: Image.Image) -> list[tuple[int, int]]:
    """The outer top-left corner of each month grid, found by its frame: rows holding a run of the
    frame's colour as wide as the grid. Consecutive such rows are one horizontal edge; edges come
    in pairs, top and bottom, one pair a grid."""
    width, height = image.size
    pixels = image.tobytes()
    run = bytes(rgb(GEOMETRY.frame_colour)) * (GEOMETRY.width - 2)
    edges: list[tuple[int, int]] = []  # (first row, left x) of each horizontal edge
    previous_row = -2
    for y in range(height):
        row = pixels[y * width * 3 : (y + 1) * width * 3]
        at = row.find(run)
        while at != -1 and at % 3:  # a match that starts inside a pixel
            at = row.find(run, at + 1)
        if at == -1:
            continue
        if y != previous_row + 1:
            edges.append((y, at // 3))
        previous_row = y
    assert len(edges) % 2 == 0, f"grid edges do not pair up: {edges}"
    return [(x, y) for y, x in edges[::2]]


def cell_colour(image: Image.Image, grid: tuple[int, int], week: int, weekday: int) -> RGB:
    """The colour of a day's cell, read in its bottom-right corner, where no text is drawn."""
    x, y = GEOMETRY.cell_origin(week, weekday)
    left, top = grid[0] + x, grid[1] + y
    right, bottom = left + GEOMETRY.cell_width, top + GEOMETRY.cell_height
    patch = image.crop((right - 24, bottom - 14, right - 6, bottom - 4)).tobytes()
    colours = {patch[i : i + 3] for i in range(0, len(patch), 3)}
    assert len(colours) == 1, f"a day's corner is not of one colour: {colours}"
    (colour,) = colours
    return (colour[0], colour[1], colour[2])


def position(day: date) -> tuple[int, int, int]:
    """(month index from March, week of the month, weekday Sunday = 0) of a day."""
    first = day.replace(day=1)
    offset = (first.weekday() + 1) % 7  # Sunday-first columns
    return (day.month - 3, (day.day - 1 + offset) // 7, (day.weekday() + 1) % 7)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Image.Image]:
    """The ledger (replay --json) and the screenshot of the page (replay --html) of one history."""
    folder = tmp_path_factory.mktemp("calendar")
    history = folder / "history.jsonl"
    history.write_text("\n".join(a_history_with_every_kind_of_day().lines()) + "\n")
    out = folder / "calendar.html"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["replay", str(history), "--through", THROUGH, "--json", "--html", str(out)]) == 0
    png = folder / "calendar.png"
    screenshot(out, png, width=GEOMETRY.width + 80, height=2600)
    (episode,) = json.loads(printed.getvalue())["episodes"]
    return episode, Image.open(png).convert("RGB")


def test_each_day_has_the_colour_of_its_reason(rendered: tuple[dict[str, Any], Image.Image]) -> None:
    episode, image = rendered
    found = grids(image)
    assert len(found) == 2, f"expected the grids of March and April, found {len(found)}"
    reasons = {d["date"]: d["reason"] for d in episode["days"]}
    assert {"BILLABLE", "BEFORE_SOC", "ON_HOLD", "INPATIENT_STAY", "NO_DELIVERY_COVERAGE"} <= set(
        reasons.values()
    ) and "AUTH_UNITS_EXHAUSTED" in reasons.values()
    day, last = date(2026, 3, 1), date(2026, 4, 30)
    while day <= last:
        month, week, weekday = position(day)
        reason = reasons.get(day.isoformat())
        expected = rgb(PALETTE[Reason(reason)][0] if reason else UNLISTED[0])
        assert cell_colour(image, found[month], week, weekday) == expected, f"{day}: {reason or 'not listed'}"
        day += timedelta(days=1)


def test_billable_and_other_days_differ_in_colour(rendered: tuple[dict[str, Any], Image.Image]) -> None:
    episode, image = rendered
    found = grids(image)
    colours: dict[bool, set[RGB]] = {True: set(), False: set()}
    for d in episode["days"]:
        month, week, weekday = position(date.fromisoformat(d["date"]))
        colours[d["billable"]].add(cell_colour(image, found[month], week, weekday))
    assert len(colours[True]) == 1 and colours[False]
    assert not colours[True] & colours[False]


def test_without_chromium_the_test_fails_rather_than_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        browser.chromium()
