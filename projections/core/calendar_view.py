"""The auditor's calendar of an episode, as values: one month grid per month of its listed days,
each day with its reason code and, when billable, which unit of its authorization it uses ("3/20"),
and under each month the claim lines dated in it. Rendering it (HTML) is the shell's.

Everything comes from the episode's read model (`EpisodeView`: days, claim lines, status, start of
care), settled with the patient's other episodes, and its own events (authorizations, visits and
deliveries to mark on the days).
"""

from __future__ import annotations

from calendar import Calendar
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from events import Event
from projections.core.claim_lines import NURSING_EACH_ADDITIONAL_HOUR, NURSING_FIRST_HOURS, S9363, ClaimLine
from projections.core.episode import EpisodeView, distinct, project_patient
from projections.core.episode_records import AuthorizationRecord, authorizations
from projections.core.facts import establish
from projections.core.history import History
from projections.core.rules import Reason

# What each reason code means, in a few words (shared/domain.md), for legends and day titles.
REASON_TEXT: dict[str, str] = {
    Reason.BEFORE_SOC: "before the start of care",
    Reason.AFTER_DISCONTINUATION: "after therapy was discontinued",
    Reason.NOT_ELIGIBLE: "not eligible (or not yet assessed)",
    Reason.INPATIENT_STAY: "in a hospital or nursing facility",
    Reason.ON_HOLD: "therapy on hold",
    Reason.NOT_PER_DIEM_FREQUENCY: "dosed less often than every 72 hours",
    Reason.NO_DELIVERY_COVERAGE: "no delivered supply covers the day",
    Reason.NO_ADMINISTRATION: "no dose given (infusion-day payer)",
    Reason.NO_VISIT: "no visit that gave the drug (visit-day payer)",
    Reason.DUPLICATE_DAY: "billed by another episode of the patient",
    Reason.NO_AUTH: "no S9363 authorization",
    Reason.OUTSIDE_AUTH_PERIOD: "outside every authorization's period",
    Reason.AUTH_UNITS_EXHAUSTED: "authorized units used up",
    Reason.BILLABLE: "billable",
}

# Weeks start on Sunday, as on the US payers' and CMS's calendars.
SUNDAY = 6
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


@dataclass(frozen=True, slots=True)
class CalendarDay:
    date: date
    reason: Reason | None  # None: not a listed day (before acceptance, after the end date)
    authorization: str | None = None  # the S9363 authorization paying a billable day
    unit: int | None = None  # this day uses that authorization's unit number `unit`...
    units: int | None = None  # ...of `units`
    visit: bool = False  # a completed, not voided visit is dated this day
    delivery: bool = False  # a completed, not voided delivery is dated this day

    @property
    def listed(self) -> bool:
        return self.reason is not None

    @property
    def billable(self) -> bool:
        return self.reason == Reason.BILLABLE


@dataclass(frozen=True, slots=True)
class CalendarMonth:
    year: int
    month: int
    weeks: tuple[tuple[CalendarDay | None, ...], ...]  # Sunday first; None: a day of another month
    per_diem_lines: tuple[ClaimLine, ...]  # S9363 lines never cross a month
    nursing_lines: tuple[ClaimLine, ...]  # 99601 / 99602
    drug_lines: tuple[ClaimLine, ...]  # J-codes

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def billable_days(self) -> int:
        return sum(1 for week in self.weeks for day in week if day is not None and day.billable)


@dataclass(frozen=True, slots=True)
class EpisodeCalendar:
    episode_id: str
    patient_ref: str
    payer_id: str
    status: str
    start_of_care: date | None
    through: date
    first_day: date | None  # the acceptance date: the first listed day (None: no day listed)
    last_day: date | None  # the end date: the discontinuation date or `through`
    billable_days: int
    legend: tuple[tuple[Reason, int], ...]  # the reasons of the listed days, in rule order, with counts
    authorizations: tuple[AuthorizationRecord, ...]  # S9363, units used through `through`
    other_authorizations: tuple[AuthorizationRecord, ...]
    months: tuple[CalendarMonth, ...]


def episode_calendar(view: EpisodeView, events: Sequence[Event], through: date) -> EpisodeCalendar:
    """The calendar of one episode: `view` is its read model through `through`, `events` its events."""
    events = distinct(events)
    facts = establish(view.episode_id, events)
    auths = authorizations(events, (day.authorization for day in view.days))
    units_of = {auth.auth_number: auth.units for auth in auths.per_diem}
    visit_dates = {v.visit_date for v in facts.visits} if facts else set()
    delivery_dates = {d.delivered_on for d in facts.deliveries} if facts else set()

    used: Counter[str] = Counter()
    days: dict[date, CalendarDay] = {}
    for day in view.days:
        unit = units = None
        if day.authorization is not None:
            used[day.authorization] += 1
            unit, units = used[day.authorization], units_of.get(day.authorization)
        days[day.date] = CalendarDay(
            day.date,
            day.reason,
            day.authorization,
            unit,
            units,
            day.date in visit_dates,
            day.date in delivery_dates,
        )
    counts = Counter(day.reason for day in view.days)
    return EpisodeCalendar(
        episode_id=view.episode_id,
        patient_ref=view.patient_ref,
        payer_id=view.payer_id,
        status=view.status,
        start_of_care=view.start_of_care,
        through=through,
        first_day=view.days[0].date if view.days else None,
        last_day=view.days[-1].date if view.days else None,
        billable_days=view.billable_days,
        legend=tuple((reason, counts[reason]) for reason in Reason if counts[reason]),
        authorizations=auths.per_diem,
        other_authorizations=auths.other_codes,
        months=tuple(_months(days, view.claim_lines, visit_dates, delivery_dates)),
    )


def _months(
    days: dict[date, CalendarDay],
    lines: Sequence[ClaimLine],
    visit_dates: set[date],
    delivery_dates: set[date],
) -> Iterator[CalendarMonth]:
    """A month for every month from the first listed day's through the last one's."""
    if not days:
        return
    first, last = min(days), max(days)
    grid = Calendar(firstweekday=SUNDAY)
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        in_month = [line for line in lines if (line.from_date.year, line.from_date.month) == (year, month)]
        yield CalendarMonth(
            year,
            month,
            tuple(
                tuple(
                    None
                    if d.month != month
                    else days.get(d)
                    or CalendarDay(d, None, visit=d in visit_dates, delivery=d in delivery_dates)
                    for d in week
                )
                for week in grid.monthdatescalendar(year, month)
            ),
            per_diem_lines=tuple(line for line in in_month if line.code == S9363),
            nursing_lines=tuple(
                line for line in in_month if line.code in (NURSING_FIRST_HOURS, NURSING_EACH_ADDITIONAL_HOUR)
            ),
            drug_lines=tuple(
                line
                for line in in_month
                if line.code not in (S9363, NURSING_FIRST_HOURS, NURSING_EACH_ADDITIONAL_HOUR)
            ),
        )
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def episode_calendars(history: History, through: date) -> Iterator[EpisodeCalendar]:
    """The calendar of every episode of a history, in episode_id order (`episode_views`' order),
    settled patient by patient; each patient's events are let go once its calendars are made."""
    episodes_of_patient = history.episodes_by_patient()
    made: dict[str, EpisodeCalendar] = {}
    for episode_id in sorted(history.patient_of_episode):
        if episode_id not in made:
            patient = history.patient_of_episode[episode_id]
            group = {other: history.events_of(other) for other in episodes_of_patient[patient]}
            for view in project_patient(group, through):
                made[view.episode_id] = episode_calendar(view, group[view.episode_id], through)
        yield made.pop(episode_id)
