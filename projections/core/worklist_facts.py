"""What the coordinator's worklist needs from an episode's events beyond the ledger's facts.

shared/worklist.md, "Definitions": open scheduled visits and deliveries, missed visits,
complications and the referral's own date. Like `projections.core.facts`, everything here is a function
of the set of events: of several events of one type for one id, the one recorded last counts.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from events import (
    ComplicationReported,
    ComplicationResolved,
    DeliveryCompleted,
    DeliveryFailed,
    DeliveryScheduled,
    DeliveryVoided,
    Event,
    ReferralAccepted,
    ReferralReceived,
    VisitCompleted,
    VisitMissed,
    VisitScheduled,
    VisitVoided,
    instant,
)
from projections.core.facts import Authorization, Delivery, EpisodeFacts, Span, establish, record_key


@dataclass(frozen=True, slots=True)
class ScheduledVisit:
    visit_id: str
    scheduled_for: date
    kind: str


@dataclass(frozen=True, slots=True)
class ScheduledDelivery:
    delivery_id: str
    scheduled_for: date


@dataclass(frozen=True, slots=True)
class MissedVisit:
    """A visit reported missed and never completed or voided under its id."""

    visit_id: str
    missed_on: date  # its VisitScheduled's scheduled_for, else the local date of the VisitMissed
    reason: str


@dataclass(frozen=True, slots=True)
class Complication:
    complication_id: str
    kind: str
    severity: str
    onset_on: date
    resolved_on: date | None  # of the ComplicationResolved recorded last, if any


@dataclass(frozen=True, slots=True)
class WorklistFacts:
    """One episode as the worklist sees it; none of it depends on `today`."""

    facts: EpisodeFacts
    referred_on: date  # local date of the first ReferralReceived's occurred_at
    ever_accepted: bool
    open_visits: tuple[ScheduledVisit, ...]  # by (scheduled_for, visit_id)
    open_deliveries: tuple[ScheduledDelivery, ...]  # by (scheduled_for, delivery_id)
    missed_visits: tuple[MissedVisit, ...]  # by visit_id
    complications: tuple[Complication, ...]  # by complication_id

    @property
    def episode_id(self) -> str:
        return self.facts.episode_id

    @property
    def patient_ref(self) -> str:
        return self.facts.patient_ref


def local_date(timestamp: str) -> date:
    """The calendar date in the timestamp's own offset."""
    return instant(timestamp).date()


def _last_recorded(events: Iterable[tuple[str, Event]]) -> dict[str, Event]:
    """Of several events of one type for one id, the one recorded last (recorded_at, event_id)."""
    chosen: dict[str, Event] = {}
    for key, event in events:
        current = chosen.get(key)
        if current is None or record_key(event) > record_key(current):
            chosen[key] = event
    return chosen


def establish_worklist(
    episode_id: str, events: Sequence[Event], facts: EpisodeFacts | None = None
) -> WorklistFacts | None:
    """The worklist facts of one episode's distinct events, or None while it has no referral.

    `facts`: `establish(episode_id, events)`, when the caller has it already.
    """
    if facts is None:
        facts = establish(episode_id, events)
    if facts is None:
        return None
    by_type: dict[type[object], list[Event]] = defaultdict(list)
    for event in events:
        by_type[type(event.data)].append(event)

    def ids(model: type[object], field: str) -> set[str]:
        return {getattr(event.data, field) for event in by_type[model]}

    def latest(model: type[object], field: str) -> dict[str, Event]:
        return _last_recorded((getattr(event.data, field), event) for event in by_type[model])

    first_referral = min(by_type[ReferralReceived], key=record_key)

    completed_visits = ids(VisitCompleted, "visit_id")
    voided_visits = ids(VisitVoided, "visit_id")
    missed = latest(VisitMissed, "visit_id")
    scheduled_visits = latest(VisitScheduled, "visit_id")
    open_visits = []
    for visit_id, event in scheduled_visits.items():
        if visit_id not in completed_visits and visit_id not in voided_visits and visit_id not in missed:
            data = event.data
            assert isinstance(data, VisitScheduled)
            open_visits.append(ScheduledVisit(visit_id, data.scheduled_for, data.kind))
    open_visits.sort(key=lambda v: (v.scheduled_for, v.visit_id))

    missed_visits = []
    for visit_id, event in sorted(missed.items()):
        if visit_id in completed_visits or visit_id in voided_visits:
            continue  # made up or withdrawn under the same id: nothing left to follow up
        scheduled = scheduled_visits.get(visit_id)
        if scheduled is not None:
            assert isinstance(scheduled.data, VisitScheduled)
            missed_on = scheduled.data.scheduled_for
        else:
            missed_on = local_date(event.occurred_at)
        assert isinstance(event.data, VisitMissed)
        missed_visits.append(MissedVisit(visit_id, missed_on, event.data.reason))

    closed_deliveries = (
        ids(DeliveryCompleted, "delivery_id")
        | ids(DeliveryFailed, "delivery_id")
        | ids(DeliveryVoided, "delivery_id")
    )
    open_deliveries = []
    for delivery_id, event in latest(DeliveryScheduled, "delivery_id").items():
        if delivery_id not in closed_deliveries:
            assert isinstance(event.data, DeliveryScheduled)
            open_deliveries.append(ScheduledDelivery(delivery_id, event.data.scheduled_for))
    open_deliveries.sort(key=lambda d: (d.scheduled_for, d.delivery_id))

    resolutions = latest(ComplicationResolved, "complication_id")
    complications = []
    for complication_id, event in sorted(latest(ComplicationReported, "complication_id").items()):
        reported = event.data
        assert isinstance(reported, ComplicationReported)
        resolution = resolutions.get(complication_id)
        resolved_on = None
        if resolution is not None:
            assert isinstance(resolution.data, ComplicationResolved)
            resolved_on = resolution.data.resolved_on
        complications.append(
            Complication(complication_id, reported.kind, reported.severity, reported.onset_on, resolved_on)
        )

    return WorklistFacts(
        facts=facts,
        referred_on=local_date(first_referral.occurred_at),
        ever_accepted=bool(by_type[ReferralAccepted]),
        open_visits=tuple(open_visits),
        open_deliveries=tuple(open_deliveries),
        missed_visits=tuple(missed_visits),
        complications=tuple(complications),
    )


# --- The Definitions that depend on `today` ---------------------------------------------------------
# Dates are handled as ordinals where "today - 1" or "end + 1" might leave the calendar.


def first_uncovered(deliveries: Sequence[Delivery], today: date) -> int:
    """Covered through + 1, as an ordinal: the first day from `today` on that no completed, not
    voided delivery covers (delivery date <= D < delivery date + days supplied)."""
    day = today.toordinal()
    extended = True
    while extended:
        extended = False
        for delivery in deliveries:
            start = delivery.delivered_on.toordinal()
            if start <= day < start + delivery.days_supply:
                day = start + delivery.days_supply
                extended = True
    return day


def last_covered_before(deliveries: Sequence[Delivery], today: date) -> date | None:
    """The last covered day before an uncovered `today` (no delivery reaches over `today`)."""
    ends = [
        date.fromordinal(d.delivered_on.toordinal() + d.days_supply - 1)
        for d in deliveries
        if d.days_supply > 0 and d.delivered_on < today
    ]
    return max(ends, default=None)


def first_unauthorized(authorizations: Sequence[Authorization], today: date) -> int:
    """Authorized through + 1, as an ordinal: the first day from `today` on that lies in the period
    of no S9363 authorization."""
    day = today.toordinal()
    extended = True
    while extended:
        extended = False
        for auth in authorizations:
            if auth.start_date.toordinal() <= day <= auth.end_date.toordinal():
                day = auth.end_date.toordinal() + 1
                extended = True
    return day


def open_span(spans: Sequence[Span], today: date) -> Span | None:
    """Of the spans that hold `today` (start <= today and no end, or end > today), the latest start."""
    holding = [s for s in spans if s.start <= today and (s.end is None or s.end > today)]
    return max(holding, key=lambda s: s.start, default=None)


def latest_assessment(episode: WorklistFacts, today: date) -> tuple[date, bool] | None:
    """(assessed_on, eligible) of the last assessment on or before `today`, by (assessed_on,
    recorded_at, event_id), not grouped by assessment_id."""
    facts = episode.facts
    index = bisect_right(facts.assessment_dates, today)
    return (facts.assessment_dates[index - 1], facts.assessment_eligible[index - 1]) if index else None
