"""The structured reads of an episode in the pure core (projections/core/episode_records.py): what
became of each delivery, visit, complication and authorization, by domain.md's reading of the
events, whatever their order of arrival and however often they came."""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any

from events import Event, parse_event
from projections.core.episode import project_patient
from projections.core.episode_records import (
    authorizations,
    complications,
    deliveries,
    timeline_with_data,
    visits,
)
from projections.core.timeline import timeline
from tests.support.history_builder import History, standard


def events_of(h: History) -> list[Event]:
    return [parse_event(line) for line in h.lines()]


def shuffled_twice(events: list[Event], seed: int) -> list[Event]:
    """The same set of events, some of them twice, in another order."""
    again = [*events, *events[::3]]
    random.Random(seed).shuffle(again)
    return again


def by_id(records: list[Any], key: str) -> dict[str, Any]:
    return {getattr(record, key): record for record in records}


def test_a_delivery_voided_before_its_completion_arrives_is_voided() -> None:
    h = History()
    h.referral()
    h.delivery_voided("d-1")  # recorded first, arrives first
    h.delivered("d-1", "2026-03-02", 7)
    (record,) = deliveries(events_of(h))
    assert record.state == "voided" and record.void_reason == "entered in error"
    assert record.delivered_on == date(2026, 3, 2)  # what was voided stays visible
    assert [step.event_type for step in record.history] == ["DeliveryVoided", "DeliveryCompleted"]


def test_a_failure_does_not_undo_a_completion_and_the_last_recorded_completion_counts() -> None:
    h = History()
    h.referral()
    h.delivery_scheduled("d-1", "2026-03-02")
    first = h.delivered("d-1", "2026-03-02", 7, items=[("J0475", 4)])
    h.delivery_failed("d-1")
    correction = h.delivered("d-1", "2026-03-03", 14, items=[("J0475", 6), ("A4221", 1)])
    h.delivery_scheduled("d-2", "2026-03-16")
    h.delivery_failed("d-3")
    records = by_id(deliveries(events_of(h)), "delivery_id")
    d1 = records["d-1"]
    assert (d1.state, d1.delivered_on, d1.days_supply, d1.covered_through) == (
        "completed",
        date(2026, 3, 3),
        14,
        date(2026, 3, 16),
    )
    assert d1.completion_event_id == correction["event_id"] != first["event_id"]
    assert [(i.code, i.units) for i in d1.items] == [("J0475", 6), ("A4221", 1)]
    assert d1.scheduled_for == date(2026, 3, 2) and d1.failure_reason == "nobody home"
    assert records["d-2"].state == "scheduled" and records["d-2"].delivered_on is None
    assert records["d-3"].state == "failed" and records["d-3"].scheduled_for is None


def test_a_delivery_of_no_days_covers_none() -> None:
    h = History()
    h.referral()
    h.delivered("d-0", "2026-03-02", 0)
    (record,) = deliveries(events_of(h))
    assert record.covered_through == date(2026, 3, 1)


def test_visits_by_state_with_minutes_and_nurse() -> None:
    h = History()
    h.referral()
    h.visit_scheduled("v-1", "2026-03-02", kind="start_of_care")
    h.visited(
        "v-1",
        "2026-03-02",
        kind="start_of_care",
        started_at="2026-03-02T09:00:00-05:00",
        ended_at="2026-03-02T11:30:59-05:00",
    )
    h.visit_missed("v-1")  # a miss recorded later does not undo the completion
    h.visit_scheduled("v-2", "2026-03-09")
    h.visit_missed("v-2")
    h.visited("v-3", "2026-03-10", administered=False)
    h.visit_voided("v-3")
    h.visit_scheduled("v-4", "2026-03-16", kind="teaching")
    records = by_id(visits(events_of(h)), "visit_id")
    v1 = records["v-1"]
    assert (v1.state, v1.kind, v1.minutes, v1.administered, v1.nurse) == (
        "completed",
        "start_of_care",
        150,
        True,
        "RN Okafor",
    )
    assert v1.scheduled_for == date(2026, 3, 2) and v1.missed_reason == "patient out"
    assert (records["v-2"].state, records["v-2"].missed_reason) == ("missed", "patient out")
    assert (records["v-3"].state, records["v-3"].administered) == ("voided", False)
    assert (records["v-4"].state, records["v-4"].kind) == ("scheduled", "teaching")


def test_complications_open_and_resolved() -> None:
    h = History()
    h.referral()
    h.complication("c-1", "2026-03-05")
    h.complication_resolved("c-1", "2026-03-09")
    h.complication("c-2", "2026-03-10")
    h.complication_resolved("c-3", "2026-03-11")  # its report never came
    records = by_id(complications(events_of(h)), "complication_id")
    c1 = records["c-1"]
    assert (c1.state, c1.kind, c1.severity, c1.onset_on, c1.resolved_on) == (
        "resolved",
        "line_infection",
        "mild",
        date(2026, 3, 5),
        date(2026, 3, 9),
    )
    assert records["c-2"].state == "open" and records["c-2"].resolved_on is None
    assert records["c-3"].state == "resolved" and records["c-3"].kind is None


def test_authorizations_use_the_ledgers_days_and_the_last_recorded_version() -> None:
    h = standard(auth_units=200)  # Jan 1 to Dec 31
    h.auth("A-1", "2026-03-01", "2026-03-31", 10)  # a correction: ten units in March
    h.auth("A-2", "2026-03-01", "2026-04-30", 30)
    h.auth("P-1", "2026-03-01", "2026-03-31", 4, code="E0781")
    h.auth("B-1", "2026-03-01", "2026-03-31", 5)
    h.auth("B-1", "2026-03-01", "2026-03-31", 5, code="J0475")  # corrected to another code
    events = events_of(h)
    (view,) = project_patient({"ep-1": events}, date(2026, 3, 20))
    found = authorizations(events, (day.authorization for day in view.days))
    assert [(a.auth_number, a.units, a.units_used, a.units_left) for a in found.per_diem] == [
        ("A-1", 10, 10, 0),
        ("A-2", 30, 9, 21),  # Mar 2 to 20 is 19 billable days: ten on A-1, nine on A-2
    ]
    assert [(a.auth_number, a.code, a.units_used) for a in found.other_codes] == [
        ("B-1", "J0475", None),
        ("P-1", "E0781", None),
    ]
    assert len(found.per_diem[0].history) == 2
    assert sum(a.units_used or 0 for a in found.per_diem) == view.billable_days


def test_order_and_duplicates_change_nothing() -> None:
    h = standard(supply_days=7)
    h.delivery_scheduled("d-2", "2026-03-09")
    h.delivery_voided("d-2")
    h.delivered("d-2", "2026-03-09", 7)
    h.visit_scheduled("v-2", "2026-03-09")
    h.visit_missed("v-2")
    h.complication("c-1", "2026-03-04")
    h.complication_resolved("c-1", "2026-03-06")
    events = events_of(h)
    paid = ["A-1"] * 5
    expected = (deliveries(events), visits(events), complications(events), authorizations(events, paid))
    for seed in range(5):
        again = shuffled_twice(events, seed)
        assert (
            deliveries(again),
            visits(again),
            complications(again),
            authorizations(again, paid),
        ) == expected


def test_the_timeline_with_data_carries_each_events_contract_data() -> None:
    h = standard()
    h.order_changed("2026-03-05", dose="500 mcg/day")  # an optional field left out stays out
    events = [parse_event(line) for line in h.lines()]
    records = timeline_with_data(shuffled_twice(events, 1))
    assert [r.entry for r in records] == timeline(events)
    data = {r.entry.event_id: r.data for r in records}
    sent = {event["event_id"]: event["data"] for event in map(json.loads, h.lines())}
    referral_id = events[0].event_id
    assert {e: d for e, d in data.items() if e != referral_id} == {
        e: d for e, d in sent.items() if e != referral_id
    }
    # The referral as sent, with the contract's default filled in (the payer's counting basis).
    sent[referral_id]["payer"]["counting_basis"] = "access"
    assert data[referral_id] == sent[referral_id]
    assert "dosing_interval_hours" not in data[events[-1].event_id]
