"""The auditor's calendar as values (projections/core/calendar_view.py): months, weeks, units
numbered against their authorization, markers, lines per month, and one calendar per episode of a
history in replay's order."""

from __future__ import annotations

from datetime import date

from events import Event, parse_event
from projections.core.calendar_view import CalendarDay, EpisodeCalendar, episode_calendar, episode_calendars
from projections.core.episode import project_patient
from projections.core.history import episode_views, read_history
from projections.core.rules import Reason
from tests.support.history_builder import History, standard


def calendar_of(h: History, through: str) -> EpisodeCalendar:
    events: list[Event] = [parse_event(line) for line in h.lines()]
    end = date.fromisoformat(through)
    (view,) = project_patient({h.ep: events}, end)
    return episode_calendar(view, events, end)


def days_of(calendar: EpisodeCalendar) -> dict[date, CalendarDay]:
    return {day.date: day for m in calendar.months for week in m.weeks for day in week if day is not None}


def test_months_weeks_and_units_numbered_against_their_authorization() -> None:
    h = standard(auth_units=3, supply_days=60)  # three units, then days need A-2
    h.auth("A-2", "2026-03-04", "2026-04-30", 60)
    c = calendar_of(h, "2026-04-02")
    assert [(m.year, m.month) for m in c.months] == [(2026, 3), (2026, 4)]
    march = c.months[0]
    assert march.weeks[0][0] == CalendarDay(date(2026, 3, 1), Reason.BEFORE_SOC)  # a Sunday
    assert all(len(week) == 7 for week in march.weeks) and len(march.weeks) == 5
    days = days_of(c)
    assert [(days[date(2026, 3, d)].authorization, days[date(2026, 3, d)].unit) for d in (2, 4, 5, 6)] == [
        ("A-1", 1),
        ("A-1", 3),
        ("A-2", 1),
        ("A-2", 2),
    ]
    assert (days[date(2026, 3, 4)].units, days[date(2026, 3, 5)].units) == (3, 60)
    assert days[date(2026, 4, 2)].unit == 27 + 2  # A-2 counts on into April
    assert not days[date(2026, 4, 3)].listed  # after `through`
    assert c.months[1].weeks[0][:3] == (None, None, None)  # April 1st is a Wednesday
    assert c.billable_days == sum(m.billable_days for m in c.months) == 32
    assert c.legend == ((Reason.BEFORE_SOC, 1), (Reason.BILLABLE, 32))


def test_markers_and_lines_of_each_month() -> None:
    h = standard(supply_days=40)
    h.visited("v-2", "2026-03-30", minutes=200)
    h.delivered("d-2", "2026-04-01", 30)
    c = calendar_of(h, "2026-04-05")
    days = days_of(c)
    assert days[date(2026, 3, 2)].visit and days[date(2026, 3, 2)].delivery
    assert days[date(2026, 3, 30)].visit and not days[date(2026, 3, 30)].delivery
    march, april = c.months
    assert [(line.code, line.from_date.day, line.units) for line in march.per_diem_lines] == [
        ("S9363", 2, 30)
    ]
    assert [(line.code, line.from_date.day) for line in march.nursing_lines] == [
        ("99601", 2),
        ("99601", 30),
        ("99602", 30),
    ]
    assert [line.code for line in april.drug_lines] == ["J0475"]
    assert april.nursing_lines == ()


def test_a_declined_episode_has_no_month() -> None:
    h = History()
    h.referral()
    h.declined()
    c = calendar_of(h, "2026-03-31")
    assert (c.status, c.months, c.first_day, c.legend) == ("declined", (), None, ())


def test_a_history_gives_one_calendar_per_episode_in_replays_order() -> None:
    h = standard(patient="pt-1")
    h.ep = "ep-2"
    standard(h, patient="pt-1", soc="2026-03-05")  # the same patient: its days are ep-1's first
    h.ep = "ep-0"
    standard(h, patient="pt-0")
    through = date(2026, 3, 10)
    calendars = list(episode_calendars(read_history(h.lines()), through))
    views = list(episode_views(read_history(h.lines()), through))
    assert [c.episode_id for c in calendars] == [v.episode_id for v in views] == ["ep-0", "ep-1", "ep-2"]
    assert [c.billable_days for c in calendars] == [v.billable_days for v in views]
    assert Reason.DUPLICATE_DAY in dict(calendars[2].legend)
