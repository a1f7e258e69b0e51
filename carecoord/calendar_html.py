"""The auditor's calendar page: `projections.core.calendar_view` rendered as HTML (with inline SVG)
from a Jinja2 template (carecoord/templates/calendar.html.j2, autoescaped), for the API
(`GET /episodes/{id}/calendar.html`) and for `carecoord replay --html`.

One page holds one section per episode, each starting on a new printed page (A4): a replay of
many episodes is one file to open, search and print. No JavaScript; colours print too.

The month grid has a fixed geometry (below), in CSS pixels on screen and in print, and a frame
of a colour used nowhere else on the page: tests/carecoord/test_calendar_browser.py finds each grid
by it in a screenshot and reads every day's colour from where the geometry puts the day.
"""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from projections.core.calendar_view import REASON_TEXT, WEEKDAYS, CalendarDay, EpisodeCalendar
from projections.core.claim_lines import ClaimLine
from projections.core.rules import Reason


@dataclass(frozen=True)
class Geometry:
    """The month grid, in CSS pixels: a frame, then rows of cells `spacing` apart (and from it)."""

    cell_width: int = 96
    cell_height: int = 58
    header_height: int = 20  # the row of weekday names
    spacing: int = 2
    frame: int = 3
    frame_colour: str = "#0b3d91"

    @property
    def width(self) -> int:
        """The grid's outer width, frame included."""
        return 7 * self.cell_width + 8 * self.spacing + 2 * self.frame

    def cell_origin(self, week: int, weekday: int) -> tuple[int, int]:
        """Top-left corner of a day's cell, from the grid's outer top-left corner (Sunday = 0)."""
        x = self.frame + self.spacing + weekday * (self.cell_width + self.spacing)
        y = self.frame + self.spacing + self.header_height + self.spacing
        return x, y + week * (self.cell_height + self.spacing)


GEOMETRY = Geometry()

# Reason -> (background, text, the short label a cell shows). Billable days stand out in green;
# the reasons that block billing for want of paperwork (authorization) are reds, clinical ones
# blues and purples, supply ones orange: told apart in colour, and by label in black and white.
PALETTE: dict[Reason, tuple[str, str, str]] = {
    Reason.BILLABLE: ("#2e7d32", "#ffffff", ""),  # the label is the unit: "3/20"
    Reason.BEFORE_SOC: ("#d9dde3", "#37404a", "before SOC"),
    Reason.AFTER_DISCONTINUATION: ("#a9b0b8", "#1f252b", "after end"),
    Reason.NOT_ELIGIBLE: ("#f4b6c9", "#5a1630", "not eligible"),
    Reason.INPATIENT_STAY: ("#8fbfe8", "#0e2f4d", "inpatient"),
    Reason.ON_HOLD: ("#ffd66b", "#4d3800", "on hold"),
    Reason.NOT_PER_DIEM_FREQUENCY: ("#cdbfe6", "#2f2150", "frequency"),
    Reason.NO_DELIVERY_COVERAGE: ("#ffab85", "#5a2008", "no supply"),
    Reason.NO_ADMINISTRATION: ("#a6dcd5", "#0f403a", "no dose"),
    Reason.NO_VISIT: ("#6fc2b8", "#0b332e", "no visit"),
    Reason.DUPLICATE_DAY: ("#c98fd6", "#3c1046", "other episode"),
    Reason.NO_AUTH: ("#f09a9a", "#5c1111", "no auth"),
    Reason.OUTSIDE_AUTH_PERIOD: ("#e06666", "#ffffff", "outside auth"),
    Reason.AUTH_UNITS_EXHAUSTED: ("#b3261e", "#ffffff", "units used up"),
}
UNLISTED = ("#f7f8fa", "#9aa1a9", "")  # a day of the month that is not listed


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("carecoord", "templates"),
        autoescape=True,  # every value is escaped: ids and reasons come from events
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_ENVIRONMENT = environment()


def render(
    calendars: Iterable[EpisodeCalendar], *, through: date, as_of: str | None, title: str
) -> Iterator[str]:
    """The page, in pieces: the calendars are taken (and may be made) one at a time."""
    template = _ENVIRONMENT.get_template("calendar.html.j2")
    return template.generate(
        title=title,
        through=through.isoformat(),
        as_of=as_of,
        episodes=(_episode(c) for c in calendars),
        geometry=GEOMETRY,
        billable_colour=PALETTE[Reason.BILLABLE][0],
        unlisted_colour=UNLISTED[0],
        weekdays=[(short, gregorian.day_name[(i + 6) % 7]) for i, short in enumerate(WEEKDAYS)],
    )


def render_page(calendar: EpisodeCalendar, *, as_of: str | None) -> str:
    """One episode's page (the API's answer)."""
    return "".join(
        render(
            [calendar],
            through=calendar.through,
            as_of=as_of,
            title=f"S9363 calendar of {calendar.episode_id}",
        )
    )


# --- what the template shows, prepared ------------------------------------------------------------


def _episode(c: EpisodeCalendar) -> dict[str, Any]:
    return {
        "episode_id": c.episode_id,
        "patient_ref": c.patient_ref,
        "payer_id": c.payer_id,
        "status": c.status.replace("_", " "),
        "start_of_care": _iso(c.start_of_care),
        "first_day": _iso(c.first_day),
        "last_day": _iso(c.last_day),
        "billable_days": c.billable_days,
        "legend": [
            {
                "reason": reason,
                "text": REASON_TEXT[reason],
                "days": count,
                "background": PALETTE[reason][0],
            }
            for reason, count in c.legend
        ],
        "authorizations": [
            {
                "auth_number": a.auth_number,
                "period": f"{a.start_date.isoformat()} to {a.end_date.isoformat()}",
                "units": a.units,
                "used": a.units_used or 0,
                "left": a.units_left or 0,
                "used_width": round(240 * min(1.0, (a.units_used or 0) / a.units)) if a.units else 0,
            }
            for a in c.authorizations
        ],
        "other_authorizations": [
            f"{a.auth_number} ({a.code}) {a.start_date.isoformat()} to {a.end_date.isoformat()}, "
            f"{a.units} units"
            for a in c.other_authorizations
        ],
        "unlisted": any(day is not None and not day.listed for m in c.months for w in m.weeks for day in w),
        "months": [
            {
                "name": f"{gregorian.month_name[m.month]} {m.year}",
                "id": f"{c.episode_id}-{m.year}-{m.month:02d}",
                "billable_days": m.billable_days,
                "weeks": [[_cell(day, c) if day else None for day in week] for week in m.weeks],
                "line_groups": [
                    ("S9363 per diem", [_line(line) for line in m.per_diem_lines]),
                    ("Nursing (99601 / 99602)", [_line(line) for line in m.nursing_lines]),
                    ("Drugs (J-codes)", [_line(line) for line in m.drug_lines]),
                ],
            }
            for m in c.months
        ],
    }


def _cell(day: CalendarDay, c: EpisodeCalendar) -> dict[str, Any]:
    background, colour, label = PALETTE[day.reason] if day.reason is not None else UNLISTED
    if day.billable and day.unit is not None:
        label = f"{day.unit}/{day.units}" if day.units is not None else str(day.unit)
    markers = [
        text
        for text, present in (("SOC", day.date == c.start_of_care), ("V", day.visit), ("D", day.delivery))
        if present
    ]
    return {
        "number": day.date.day,
        "reason": day.reason.value if day.reason is not None else "UNLISTED",
        "billable": day.billable,
        "background": background,
        "colour": colour,
        "label": label,
        "markers": " ".join(markers),
        "title": _title(day, c),
    }


def _title(day: CalendarDay, c: EpisodeCalendar) -> str:
    """What a day is, in words: its hover title and its label for screen readers."""
    d = day.date
    when = f"{gregorian.day_name[d.weekday()]} {d.day} {gregorian.month_name[d.month]} {d.year}"
    if day.reason is None:
        before = c.first_day is None or day.date < c.first_day
        return f"{when}: not listed ({'before acceptance' if before else 'after the end date'})"
    text = f"{when}: {day.reason.value}, {REASON_TEXT[day.reason]}"
    if day.billable and day.unit is not None:
        text += f", unit {day.unit}" + (f" of {day.units}" if day.units is not None else "")
        text += f" of authorization {day.authorization}"
    happenings = [
        what
        for what, present in (
            ("start of care", day.date == c.start_of_care),
            ("a visit", day.visit),
            ("a delivery", day.delivery),
        )
        if present
    ]
    if happenings:
        text += "; " + ", ".join(happenings)
    return text


def _line(line: ClaimLine) -> dict[str, Any]:
    return {
        "code": line.code,
        "from": line.from_date.isoformat(),
        "to": line.to_date.isoformat(),
        "units": line.units,
        "authorization": line.authorization or "",
    }


def _iso(day: date | None) -> str:
    return day.isoformat() if day is not None else "none"
