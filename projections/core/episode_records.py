"""What became of each delivery, visit, complication and authorization of an episode, and its events
with their contract `data`: the structured reads of the HTTP API (`/episodes/{id}/deliveries`, ...).

Each id's story is told by its events; what counts follows shared/domain.md ("Reading the rules
precisely"): of several completions of one id the one recorded last counts, a void removes its
delivery or visit whatever the order of arrival, a failure or a miss does not remove a completion;
of several versions of one `auth_number` the one recorded last counts. Where worklist.md settles a
case (several `DeliveryScheduled`, `VisitScheduled` or `ComplicationReported` of one id), the one
recorded last counts too. Functions of the set of events only: duplicates and order do not matter.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from events import (
    AuthorizationRecorded,
    ComplicationReported,
    ComplicationResolved,
    DeliveryCompleted,
    DeliveryFailed,
    DeliveryScheduled,
    DeliveryVoided,
    Event,
    VisitCompleted,
    VisitMissed,
    VisitScheduled,
    VisitVoided,
    instant,
    to_json,
)
from projections.core.episode import distinct
from projections.core.facts import S9363, record_key, visit_minutes
from projections.core.timeline import TimelineEntry, summarize, timeline

# The states, in the order the reads list them; the first that holds of an id is its state, read
# from the end: a void beats a completion, a completion beats a failure (or a miss), and an id
# with none of them is still scheduled.
DELIVERY_STATES = ("scheduled", "completed", "failed", "voided")
VISIT_STATES = ("scheduled", "completed", "missed", "voided")
COMPLICATION_STATES = ("open", "resolved")


@dataclass(frozen=True, slots=True)
class Step:
    """One event of an id's story, as the timeline shows it."""

    event_id: str
    event_type: str
    occurred_at: str
    recorded_at: str
    summary: str


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    description: str
    units: int


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery: its state, its counting completion (kept when voided, to show what was voided)."""

    delivery_id: str
    state: str  # one of DELIVERY_STATES
    scheduled_for: date | None
    delivered_on: date | None
    days_supply: int | None
    covered_through: date | None  # delivered_on + days_supply - 1 (the day before, for 0 days)
    items: tuple[Item, ...]
    failure_reason: str | None
    void_reason: str | None
    completion_event_id: str | None  # the completion that counts: the one recorded last
    history: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class VisitRecord:
    visit_id: str
    state: str  # one of VISIT_STATES
    kind: str  # the counting completion's, else the scheduled kind
    scheduled_for: date | None
    visit_date: date | None
    started_at: str | None
    ended_at: str | None
    minutes: int | None
    administered: bool | None
    nurse: str | None
    missed_reason: str | None
    void_reason: str | None
    completion_event_id: str | None
    history: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class ComplicationRecord:
    """A complication; kind, severity and onset are None for a resolution whose report never came."""

    complication_id: str
    state: str  # one of COMPLICATION_STATES
    kind: str | None
    severity: str | None
    onset_on: date | None
    resolved_on: date | None
    history: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class AuthorizationRecord:
    """The version of an `auth_number` recorded last; units used and left only for S9363 ones."""

    auth_number: str
    code: str
    start_date: date
    end_date: date
    units: int
    units_used: int | None  # billable days of the ledger this authorization pays for
    units_left: int | None
    history: tuple[Step, ...]  # every version recorded, in timeline order

    @property
    def per_diem(self) -> bool:
        return self.code == S9363


@dataclass(frozen=True, slots=True)
class Authorizations:
    per_diem: tuple[AuthorizationRecord, ...]  # S9363, by (start_date, auth_number): rule 10's order
    other_codes: tuple[AuthorizationRecord, ...]  # any other code: no rule counts them


@dataclass(frozen=True, slots=True)
class TimelineRecord:
    """A timeline entry with the event's contract `data`, as it travels on the wire."""

    entry: TimelineEntry
    data: dict[str, Any]


# --- the stories of ids ---------------------------------------------------------------------------


def _timeline_order(event: Event) -> tuple[Any, ...]:
    return (instant(event.occurred_at), instant(event.recorded_at), event.event_id)


def _step(event: Event) -> Step:
    return Step(event.event_id, event.event_type, event.occurred_at, event.recorded_at, summarize(event))


Story = tuple[str, list[Event]]  # an id and its events, in timeline order


def _stories(events: Iterable[Event], types: tuple[type[Any], ...], key: Callable[[Any], str]) -> list[Story]:
    """The distinct events of these types grouped by id, each group in timeline order; ids in
    the order their first event happened, then by id."""
    by_id: dict[str, list[Event]] = defaultdict(list)
    for event in distinct(events):
        if isinstance(event.data, types):
            by_id[key(event.data)].append(event)
    stories = [(id_, sorted(group, key=_timeline_order)) for id_, group in by_id.items()]
    return sorted(stories, key=lambda story: (_timeline_order(story[1][0]), story[0]))


def _last_recorded(story: Sequence[Event], model: type[Any]) -> Any:
    """The data of the event of this type recorded last, or None."""
    found = [event for event in story if isinstance(event.data, model)]
    return max(found, key=record_key) if found else None


# (state, the event type that gives it), the strongest first.
_DELIVERY_DECIDERS = (
    ("voided", DeliveryVoided),
    ("completed", DeliveryCompleted),
    ("failed", DeliveryFailed),
)
_VISIT_DECIDERS = (("voided", VisitVoided), ("completed", VisitCompleted), ("missed", VisitMissed))


def _state(story: Sequence[Event], deciders: Sequence[tuple[str, type[Any]]], default: str) -> str:
    """The state given by the strongest event type present, else `default`."""
    for state, model in deciders:
        if any(isinstance(event.data, model) for event in story):
            return state
    return default


def deliveries(events: Iterable[Event]) -> list[DeliveryRecord]:
    """Every delivery_id of the episode with its state and story."""
    records = []
    for delivery_id, story in _stories(
        events,
        (DeliveryScheduled, DeliveryCompleted, DeliveryFailed, DeliveryVoided),
        lambda d: str(d.delivery_id),
    ):
        scheduled = _last_recorded(story, DeliveryScheduled)
        completion = _last_recorded(story, DeliveryCompleted)
        failure = _last_recorded(story, DeliveryFailed)
        void = _last_recorded(story, DeliveryVoided)
        done: DeliveryCompleted | None = completion.data if completion else None
        records.append(
            DeliveryRecord(
                delivery_id=delivery_id,
                state=_state(story, _DELIVERY_DECIDERS, "scheduled"),
                scheduled_for=scheduled.data.scheduled_for if scheduled else None,
                delivered_on=done.delivered_on if done else None,
                days_supply=done.days_supply if done else None,
                covered_through=covered_through(done.delivered_on, done.days_supply) if done else None,
                items=tuple(Item(i.code, i.description, i.units) for i in done.items) if done else (),
                failure_reason=failure.data.reason if failure else None,
                void_reason=void.data.reason if void else None,
                completion_event_id=completion.event_id if completion else None,
                history=tuple(_step(event) for event in story),
            )
        )
    return records


def covered_through(delivered_on: date, days_supply: int) -> date:
    """The last day a delivery covers (rule 7: delivered_on <= D < delivered_on + days_supply)."""
    return delivered_on + timedelta(days=days_supply - 1)


def visits(events: Iterable[Event]) -> list[VisitRecord]:
    """Every visit_id of the episode with its state and story."""
    records = []
    for visit_id, story in _stories(
        events, (VisitScheduled, VisitCompleted, VisitMissed, VisitVoided), lambda d: str(d.visit_id)
    ):
        scheduled = _last_recorded(story, VisitScheduled)
        completion = _last_recorded(story, VisitCompleted)
        missed = _last_recorded(story, VisitMissed)
        void = _last_recorded(story, VisitVoided)
        done: VisitCompleted | None = completion.data if completion else None
        records.append(
            VisitRecord(
                visit_id=visit_id,
                state=_state(story, _VISIT_DECIDERS, "scheduled"),
                kind=done.kind if done else (scheduled.data.kind if scheduled else "unknown"),
                scheduled_for=scheduled.data.scheduled_for if scheduled else None,
                visit_date=done.visit_date if done else None,
                started_at=done.started_at if done else None,
                ended_at=done.ended_at if done else None,
                minutes=visit_minutes(done) if done else None,
                administered=done.administered if done else None,
                nurse=done.nurse if done else None,
                missed_reason=missed.data.reason if missed else None,
                void_reason=void.data.reason if void else None,
                completion_event_id=completion.event_id if completion else None,
                history=tuple(_step(event) for event in story),
            )
        )
    return records


def complications(events: Iterable[Event]) -> list[ComplicationRecord]:
    """Every complication_id of the episode: open until a resolution is recorded."""
    records = []
    for complication_id, story in _stories(
        events, (ComplicationReported, ComplicationResolved), lambda d: str(d.complication_id)
    ):
        report = _last_recorded(story, ComplicationReported)
        resolution = _last_recorded(story, ComplicationResolved)
        reported: ComplicationReported | None = report.data if report else None
        records.append(
            ComplicationRecord(
                complication_id=complication_id,
                state="resolved" if resolution else "open",
                kind=reported.kind if reported else None,
                severity=reported.severity if reported else None,
                onset_on=reported.onset_on if reported else None,
                resolved_on=resolution.data.resolved_on if resolution else None,
                history=tuple(_step(event) for event in story),
            )
        )
    return records


def authorizations(events: Iterable[Event], paid_by: Iterable[str | None]) -> Authorizations:
    """Every auth_number as its version recorded last, S9363 ones apart from the others.

    `paid_by`: for each listed day of the ledger, the authorization whose unit pays for it (None
    for a day that is not billable). The ledger decides which days are used, settled with the
    patient's other episodes, so the caller passes it: through its own `through`.
    """
    used = Counter(auth for auth in paid_by if auth is not None)
    per_diem: list[AuthorizationRecord] = []
    others: list[AuthorizationRecord] = []
    for _, story in _stories(events, (AuthorizationRecorded,), lambda d: str(d.auth_number)):
        last: AuthorizationRecorded = max(story, key=record_key).data  # type: ignore[assignment]
        is_per_diem = last.code == S9363
        record = AuthorizationRecord(
            auth_number=last.auth_number,
            code=last.code,
            start_date=last.start_date,
            end_date=last.end_date,
            units=last.units,
            units_used=used[last.auth_number] if is_per_diem else None,
            units_left=last.units - used[last.auth_number] if is_per_diem else None,
            history=tuple(_step(event) for event in story),
        )
        (per_diem if is_per_diem else others).append(record)
    order = lambda r: (r.start_date, r.auth_number)  # noqa: E731
    return Authorizations(tuple(sorted(per_diem, key=order)), tuple(sorted(others, key=order)))


# --- the timeline with data -----------------------------------------------------------------------


def event_data(event: Event) -> dict[str, Any]:
    """The event's `data` exactly as the contract writes it (absent optionals left out): the same
    value the read model's stored event body holds."""
    data: dict[str, Any] = json.loads(to_json(event))["data"]
    return data


def timeline_with_data(events: Iterable[Event]) -> list[TimelineRecord]:
    """The episode's timeline (projections.core.timeline), each entry with its event's data."""
    by_id = {event.event_id: event for event in distinct(events)}
    return [TimelineRecord(entry, event_data(by_id[entry.event_id])) for entry in timeline(by_id.values())]
