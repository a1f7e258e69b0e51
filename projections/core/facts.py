"""What an episode's events establish, once corrections and duplicates are settled.

Everything here follows "Reading the rules precisely" in shared/domain.md: stays and holds pair
one to one, the latest of several events saying the same thing wins, the first counts for the
episode's frame. The result depends only on the set of events, never on their arrival order.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar, cast

from events import (
    AssessmentCompleted,
    AuthorizationRecorded,
    DeliveryCompleted,
    DeliveryVoided,
    DoseAdministered,
    Event,
    HospitalAdmitted,
    HospitalDischarged,
    OrderChanged,
    ReferralAccepted,
    ReferralDeclined,
    ReferralReceived,
    TherapyDiscontinued,
    TherapyHeld,
    TherapyResumed,
    VisitCompleted,
    VisitVoided,
    instant,
)

S9363 = "S9363"

# (recorded_at as an instant, event_id): the order in which "the one recorded last" is decided.
RecordKey = tuple[datetime, str]


def record_key(event: Event) -> RecordKey:
    return (instant(event.recorded_at), event.event_id)


@dataclass(frozen=True, slots=True)
class Span:
    """A stay or a hold: from its start date to its end date, `end` None while still open."""

    start: date
    end: date | None


@dataclass(frozen=True, slots=True)
class Visit:
    visit_id: str
    kind: str
    visit_date: date
    minutes: int
    administered: bool


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: str
    delivered_on: date
    days_supply: int
    drug_units: tuple[tuple[str, int], ...]  # (J-code, units) of the drug items


@dataclass(frozen=True, slots=True)
class Authorization:
    auth_number: str
    start_date: date
    end_date: date
    units: int


@dataclass(frozen=True, slots=True)
class EpisodeFacts:
    episode_id: str
    patient_ref: str
    payer_id: str
    counting_basis: str
    accepted_on: date | None
    declined: bool
    discontinued_on: date | None
    start_of_care: date | None
    # Assessments sorted by (assessed_on, recorded_at, event_id): the last one on or before D decides.
    assessment_dates: tuple[date, ...]
    assessment_eligible: tuple[bool, ...]
    # Dosing interval changes sorted the same way; the referral's interval applies before the first.
    initial_interval_hours: int
    interval_dates: tuple[date, ...]
    interval_hours: tuple[int, ...]
    stays: tuple[Span, ...]
    holds: tuple[Span, ...]
    visits: tuple[Visit, ...]
    deliveries: tuple[Delivery, ...]
    dose_dates: frozenset[date]
    authorizations: tuple[Authorization, ...]  # S9363 only, by (start_date, auth_number)

    def latest_assessment_eligible(self, day: date) -> bool | None:
        index = bisect_right(self.assessment_dates, day)
        return self.assessment_eligible[index - 1] if index else None

    def interval_in_effect(self, day: date) -> int:
        index = bisect_right(self.interval_dates, day)
        return self.interval_hours[index - 1] if index else self.initial_interval_hours


def pair_spans(starts: Iterable[date], ends: Iterable[date]) -> tuple[Span, ...]:
    """Pair starts with ends one to one.

    Starts are taken in date order; each is ended by the earliest end dated on or after it that
    no earlier start took. A start left without one stays open; an end without a start is ignored.
    """
    ordered_ends = sorted(ends)
    spans = []
    next_end = 0
    for start in sorted(starts):
        # Ends before this start can end no later start either: starts come in date order.
        while next_end < len(ordered_ends) and ordered_ends[next_end] < start:
            next_end += 1
        if next_end < len(ordered_ends):
            spans.append(Span(start, ordered_ends[next_end]))
            next_end += 1
        else:
            spans.append(Span(start, None))
    return tuple(spans)


def visit_minutes(visit: VisitCompleted) -> int:
    """Whole minutes between start and end, as instants; seconds are dropped."""
    return int((instant(visit.ended_at) - instant(visit.started_at)).total_seconds() // 60)


def is_drug_code(code: str) -> bool:
    """A HCPCS drug code: J and four digits."""
    return len(code) == 5 and code[0] == "J" and code[1:].isdigit() and code[1:].isascii()


def _latest_per_key(events: Iterable[tuple[str, RecordKey, Event]]) -> dict[str, Event]:
    """Of several events for one id (a correction sent as a new event), the one recorded last."""
    chosen: dict[str, tuple[RecordKey, Event]] = {}
    for key, order, event in events:
        current = chosen.get(key)
        if current is None or order > current[0]:
            chosen[key] = (order, event)
    return {key: event for key, (_, event) in chosen.items()}


_Data = TypeVar("_Data")


def _of_type(by_type: dict[str, list[Event]], model: type[_Data]) -> list[tuple[Event, _Data]]:
    """The events of one type with their data, typed."""
    return [(event, cast(_Data, event.data)) for event in by_type.get(model.__name__, ())]


def establish(episode_id: str, events: Sequence[Event]) -> EpisodeFacts | None:
    """The facts of one episode, or None while its ReferralReceived has not arrived."""
    by_type: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_type[event.event_type].append(event)

    referrals = [(record_key(e), d) for e, d in _of_type(by_type, ReferralReceived)]
    accepted = [d.accepted_on for _, d in _of_type(by_type, ReferralAccepted)]
    declined = bool(_of_type(by_type, ReferralDeclined))
    discontinued = [d.discontinued_on for _, d in _of_type(by_type, TherapyDiscontinued)]
    assessments = [
        (d.assessed_on, record_key(e), d.eligible) for e, d in _of_type(by_type, AssessmentCompleted)
    ]
    order_changes = [
        (d.effective_on, record_key(e), d.dosing_interval_hours)
        for e, d in _of_type(by_type, OrderChanged)
        if d.dosing_interval_hours is not None
    ]
    admissions = [d.admitted_on for _, d in _of_type(by_type, HospitalAdmitted)]
    discharges = [d.discharged_on for _, d in _of_type(by_type, HospitalDischarged)]
    held = [d.held_from for _, d in _of_type(by_type, TherapyHeld)]
    resumed = [d.resumed_on for _, d in _of_type(by_type, TherapyResumed)]
    completions = [(d.visit_id, record_key(e), e) for e, d in _of_type(by_type, VisitCompleted)]
    voided_visits = {d.visit_id for _, d in _of_type(by_type, VisitVoided)}
    deliveries = [(d.delivery_id, record_key(e), e) for e, d in _of_type(by_type, DeliveryCompleted)]
    voided_deliveries = {d.delivery_id for _, d in _of_type(by_type, DeliveryVoided)}
    dose_dates = {d.administered_on for _, d in _of_type(by_type, DoseAdministered)}
    authorizations = [(d.auth_number, record_key(e), e) for e, d in _of_type(by_type, AuthorizationRecorded)]

    if not referrals:
        return None
    referral = min(referrals, key=lambda pair: pair[0])[1]

    visits = []
    for visit_id, event in _latest_per_key(completions).items():
        if visit_id in voided_visits:
            continue
        visit = event.data
        assert isinstance(visit, VisitCompleted)
        visits.append(Visit(visit_id, visit.kind, visit.visit_date, visit_minutes(visit), visit.administered))
    visits.sort(key=lambda v: (v.visit_date, v.visit_id))

    effective_deliveries = []
    for delivery_id, event in _latest_per_key(deliveries).items():
        if delivery_id in voided_deliveries:
            continue
        delivery = event.data
        assert isinstance(delivery, DeliveryCompleted)
        drugs = tuple((item.code, item.units) for item in delivery.items if is_drug_code(item.code))
        effective_deliveries.append(Delivery(delivery_id, delivery.delivered_on, delivery.days_supply, drugs))
    effective_deliveries.sort(key=lambda d: (d.delivered_on, d.delivery_id))

    auths = []
    for event in _latest_per_key(authorizations).values():
        auth = event.data
        assert isinstance(auth, AuthorizationRecorded)
        if auth.code == S9363:
            auths.append(Authorization(auth.auth_number, auth.start_date, auth.end_date, auth.units))
    auths.sort(key=lambda a: (a.start_date, a.auth_number))

    starts_of_care = [v.visit_date for v in visits if v.kind == "start_of_care"]
    assessments.sort()
    order_changes.sort()
    return EpisodeFacts(
        episode_id=episode_id,
        patient_ref=referral.patient_ref,
        payer_id=referral.payer.payer_id,
        counting_basis=referral.payer.counting_basis,
        accepted_on=min(accepted) if accepted else None,
        declined=declined,
        discontinued_on=min(discontinued) if discontinued else None,
        start_of_care=min(starts_of_care) if starts_of_care else None,
        assessment_dates=tuple(a[0] for a in assessments),
        assessment_eligible=tuple(a[2] for a in assessments),
        initial_interval_hours=referral.order.dosing_interval_hours,
        interval_dates=tuple(c[0] for c in order_changes),
        interval_hours=tuple(c[2] for c in order_changes),
        stays=pair_spans(admissions, discharges),
        holds=pair_spans(held, resumed),
        visits=tuple(visits),
        deliveries=tuple(effective_deliveries),
        dose_dates=frozenset(dose_dates),
        authorizations=tuple(auths),
    )
