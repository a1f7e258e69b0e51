"""Properties of the worklist over generated histories: it depends only on the set of distinct
events, `--as-of` is a filter on `recorded_at`, and the item spans give the same items as the
direct computation on every day.

The histories are those of tests/projections/test_properties.py, with more of what the worklist
looks at: scheduled, missed and rescheduled visits and deliveries, complications reported and
resolved more than once, small authorizations, old assessments.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecoord.commands.worklist import history_worklist
from events import Event, instant
from projections.core.history import read_history
from projections.core.ledger import days_of, settle_patient
from projections.core.worklist import (
    LAST_TODAY,
    billing_horizon,
    establish_patient,
    item_order,
    patient_items,
)
from projections.core.worklist_spans import items_on, patient_spans, worklist_spans
from tests.core.test_properties import OFFSETS, RECORDING_STARTS, day, histories, timestamps

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Generated events fall from late January to mid May; every day around them, and a few far off.
EVERY_DAY = [date(2026, 1, 20) + timedelta(days=n) for n in range(150)]
FAR_OFF = [date.min, date(2000, 1, 1), date(2031, 7, 1), LAST_TODAY]
todays = st.sampled_from(EVERY_DAY + FAR_OFF)


@st.composite
def worklist_events(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """(event_type, data) pairs of what the worklist looks at, for one episode."""
    out: list[tuple[str, dict[str, Any]]] = []
    any_day = st.integers(-10, 50).map(day)
    for _ in range(draw(st.integers(0, 4))):
        visit_id = draw(st.sampled_from(["v-0", "v-1", "v-8", "v-9"]))
        event_type = draw(st.sampled_from(["VisitScheduled", "VisitScheduled", "VisitMissed", "VisitVoided"]))
        if event_type == "VisitScheduled":
            kind = draw(st.sampled_from(["start_of_care", "follow_up", "discharge"]))
            out.append((event_type, {"visit_id": visit_id, "scheduled_for": draw(any_day), "kind": kind}))
        else:
            out.append((event_type, {"visit_id": visit_id, "reason": "x"}))
    for _ in range(draw(st.integers(0, 3))):
        delivery_id = draw(st.sampled_from(["d-0", "d-1", "d-8"]))
        event_type = draw(st.sampled_from(["DeliveryScheduled", "DeliveryScheduled", "DeliveryFailed"]))
        if event_type == "DeliveryScheduled":
            out.append((event_type, {"delivery_id": delivery_id, "scheduled_for": draw(any_day)}))
        else:
            out.append((event_type, {"delivery_id": delivery_id, "reason": "x"}))
    for _ in range(draw(st.integers(0, 3))):
        complication_id = draw(st.sampled_from(["c-1", "c-2"]))
        if draw(st.booleans()):
            kind = draw(st.sampled_from(["bleeding", "line_infection"]))
            severity = draw(st.sampled_from(["mild", "severe"]))
            data = {
                "complication_id": complication_id,
                "kind": kind,
                "severity": severity,
                "onset_on": draw(any_day),
            }
            out.append(("ComplicationReported", data))
        else:
            out.append(
                ("ComplicationResolved", {"complication_id": complication_id, "resolved_on": draw(any_day)})
            )
    if draw(st.booleans()):
        start = draw(st.integers(0, 30))
        data = {
            "auth_number": draw(st.sampled_from(["A-0", "A-5"])),
            "code": "S9363",
            "start_date": day(start),
            "end_date": day(start + draw(st.integers(0, 60))),
            "units": draw(st.integers(0, 12)),
        }
        out.append(("AuthorizationRecorded", data))
    if draw(st.booleans()):
        data = {
            "assessment_id": "as-old",
            "kind": "initial",
            "assessed_on": day(draw(st.integers(-60, 5))),
            "eligible": draw(st.integers(0, 5)) > 0,
            "clinician": "RN",
        }
        out.append(("AssessmentCompleted", data))
    return out


SOURCE = {
    "VisitScheduled": "visits",
    "VisitMissed": "visits",
    "VisitVoided": "visits",
    "DeliveryScheduled": "deliveries",
    "DeliveryFailed": "deliveries",
    "ComplicationReported": "complications",
    "ComplicationResolved": "complications",
    "AuthorizationRecorded": "referrals",
    "AssessmentCompleted": "assessments",
}


@st.composite
def worklist_histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    events = draw(histories())
    for episode_id in sorted({event["episode_id"] for event in events}):
        for number, (event_type, data) in enumerate(draw(worklist_events())):
            events.append(
                {
                    "event_id": f"{episode_id}-w{number:02d}",
                    "event_type": event_type,
                    "schema_version": 1,
                    "source": SOURCE[event_type],
                    "episode_id": episode_id,
                    "occurred_at": draw(timestamps()),
                    "recorded_at": draw(timestamps()),
                    "data": data,
                }
            )
    return events


def lines_of(events: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(event) for event in events]


def patient_groups(lines: list[str]) -> list[dict[str, list[Event]]]:
    history = read_history(lines)
    assert history.rejected == []
    return [
        {episode_id: history.events_of(episode_id) for episode_id in episode_ids}
        for episode_ids in history.episodes_by_patient().values()
    ]


@SETTINGS
@given(worklist_histories(), st.lists(todays, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_any_shuffle_with_duplicated_lines_gives_the_same_worklist(
    events: list[dict[str, Any]], days: list[date], rng: random.Random
) -> None:
    lines = lines_of(events)
    mixed = lines + rng.choices(lines, k=min(len(lines), rng.randint(0, 8)))
    rng.shuffle(mixed)
    for today in days:
        assert history_worklist(read_history(mixed), today) == history_worklist(read_history(lines), today)


@SETTINGS
@given(worklist_histories(), todays, st.data())
def test_as_of_equals_the_worklist_of_only_the_lines_recorded_by_then(
    events: list[dict[str, Any]], today: date, data: st.DataObject
) -> None:
    if events:
        chosen = instant(data.draw(st.sampled_from([e["recorded_at"] for e in events])))
        as_of = chosen + timedelta(seconds=data.draw(st.sampled_from([-1, 0, 0, 1])))
    else:
        as_of = RECORDING_STARTS
    as_of = as_of.astimezone(data.draw(st.sampled_from(OFFSETS)))
    recorded_by_then = [e for e in events if instant(e["recorded_at"]) <= as_of]
    with_as_of = history_worklist(read_history(lines_of(events), as_of), today)
    assert with_as_of == history_worklist(read_history(lines_of(recorded_by_then)), today)


@SETTINGS
@given(worklist_histories())
def test_the_item_spans_give_the_direct_worklist_on_every_day(events: list[dict[str, Any]]) -> None:
    patients = [establish_patient(group) for group in patient_groups(lines_of(events))]
    spans = [span for patient in patients for span in patient_spans(patient)]
    for span in spans:
        assert span.slope in (0, 1)
        assert span.last is None or span.first <= span.last
    for today in EVERY_DAY + FAR_OFF:
        direct = sorted(
            (item for patient in patients for item in patient_items(patient, today)), key=item_order
        )
        assert items_on(spans, today) == direct, today


@SETTINGS
@given(worklist_histories())
def test_no_day_after_the_billing_horizon_is_billable(events: list[dict[str, Any]]) -> None:
    """What lets units left be counted from a ledger through the horizon instead of through today."""
    for group in patient_groups(lines_of(events)):
        patient = establish_patient(group)
        horizon = billing_horizon(patient)
        ledgers = settle_patient((episode.facts for episode in patient), date(2026, 12, 31))
        billable = [day.date for runs in ledgers.values() for day in days_of(runs) if day.billable]
        assert horizon is not None if billable else True
        assert all(horizon is not None and billed <= horizon for billed in billable)


@SETTINGS
@given(worklist_histories(), st.randoms(use_true_random=False))
def test_item_spans_do_not_depend_on_the_order_or_repetition_of_events(
    events: list[dict[str, Any]], rng: random.Random
) -> None:
    lines = lines_of(events)
    mixed = lines + rng.choices(lines, k=min(len(lines), rng.randint(0, 8)))
    rng.shuffle(mixed)

    def spans(lines: list[str]) -> list[Any]:
        return sorted((span for group in patient_groups(lines) for span in worklist_spans(group)), key=repr)

    assert spans(mixed) == spans(lines)
