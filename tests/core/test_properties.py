"""Properties of the replay over generated histories: order and repetition do not matter, `--as-of`
is a filter on `recorded_at`, and the billing invariants of shared/domain.md always hold.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import instant
from tests.support.history_builder import SOURCE, replay

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FIRST_DAY = date(2026, 3, 1)  # histories span March and April: month ends inside
OFFSETS = [
    UTC,
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=-12)),
    timezone(timedelta(hours=14)),
]
RECORDING_STARTS = datetime(2026, 2, 20, tzinfo=UTC)

REASONS = {
    "BILLABLE",
    "BEFORE_SOC",
    "AFTER_DISCONTINUATION",
    "NOT_ELIGIBLE",
    "INPATIENT_STAY",
    "ON_HOLD",
    "NOT_PER_DIEM_FREQUENCY",
    "NO_DELIVERY_COVERAGE",
    "NO_ADMINISTRATION",
    "NO_VISIT",
    "DUPLICATE_DAY",
    "NO_AUTH",
    "OUTSIDE_AUTH_PERIOD",
    "AUTH_UNITS_EXHAUSTED",
}

days_in = st.integers(min_value=0, max_value=45)


def day(n: int) -> str:
    return (FIRST_DAY + timedelta(days=n)).isoformat()


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """A recorded_at within ~8 weeks, in one of several offsets (or Z), sometimes with a fraction."""
    moment = RECORDING_STARTS + timedelta(minutes=draw(st.integers(0, 8 * 7 * 24 * 60)))
    text = moment.astimezone(draw(st.sampled_from(OFFSETS))).isoformat()
    if draw(st.booleans()) and text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text


@st.composite
def episode_events(draw: st.DrawFn, patient: str) -> list[tuple[str, dict[str, Any]]]:
    """(event_type, data) pairs of one episode: a random mix of every kind of event."""
    out: list[tuple[str, dict[str, Any]]] = []
    if draw(st.integers(0, 9)) > 0:  # one in ten episodes waits for its referral
        basis = draw(st.sampled_from([None, "access", "infusion_day", "visit_day"]))
        payer: dict[str, Any] = {"payer_id": "P-1"}
        if basis:
            payer["counting_basis"] = basis
        for _ in range(draw(st.integers(1, 2))):
            out.append(
                (
                    "ReferralReceived",
                    {
                        "patient_ref": patient,
                        "payer": payer,
                        "prescriber": {"npi": "1", "name": "Dr. A"},
                        "diagnosis_codes": ["G35"],
                        "order": {
                            "drug": "baclofen",
                            "drug_code": "J0475",
                            "route": "intrathecal",
                            "dose": "1 mg",
                            "dosing_interval_hours": draw(st.sampled_from([0, 24, 24, 24, 72, 96])),
                            "start_date": day(0),
                        },
                    },
                )
            )
    if draw(st.integers(0, 4)) > 0:
        # Most episodes get a realistic skeleton that bills days; the random events below then
        # void, correct, interrupt or extend it.
        soc = draw(st.integers(0, 25))
        out.append(("ReferralAccepted", {"accepted_on": day(draw(st.integers(0, soc)))}))
        out.append(
            (
                "AssessmentCompleted",
                {
                    "assessment_id": "as-0",
                    "kind": "initial",
                    "assessed_on": day(soc),
                    "eligible": True,
                    "clinician": "RN",
                },
            )
        )
        out.append(
            (
                "VisitCompleted",
                {
                    "visit_id": "v-0",
                    "kind": "start_of_care",
                    "visit_date": day(soc),
                    "started_at": f"{day(soc)}T10:00:00-05:00",
                    "ended_at": f"{day(soc)}T12:45:00-05:00",
                    "administered": True,
                    "nurse": "RN",
                },
            )
        )
        out.append(
            (
                "DeliveryCompleted",
                {
                    "delivery_id": "d-0",
                    "delivered_on": day(soc),
                    "days_supply": draw(st.integers(10, 60)),
                    "items": [{"code": "J0475", "description": "b", "units": 4}],
                },
            )
        )
        out.append(
            (
                "AuthorizationRecorded",
                {
                    "auth_number": "A-0",
                    "code": "S9363",
                    "start_date": day(0),
                    "end_date": day(draw(st.integers(20, 70))),
                    "units": draw(st.integers(5, 60)),
                },
            )
        )
    for _ in range(draw(st.integers(0, 2))):
        out.append(("ReferralAccepted", {"accepted_on": day(draw(st.integers(0, 10)))}))
    if draw(st.integers(0, 14)) == 0:
        out.append(("ReferralDeclined", {"reason": "no"}))
    for _ in range(draw(st.integers(0, 3))):
        start = draw(days_in)
        out.append(
            (
                "AuthorizationRecorded",
                {
                    "auth_number": draw(st.sampled_from(["A-0", "A-1", "A-2", "A-3"])),
                    "code": draw(st.sampled_from(["S9363", "S9363", "S9363", "S9500"])),
                    "start_date": day(start),
                    "end_date": day(start + draw(st.integers(0, 40))),
                    "units": draw(st.integers(0, 25)),
                },
            )
        )
    for _ in range(draw(st.integers(0, 3))):
        out.append(
            (
                "AssessmentCompleted",
                {
                    "assessment_id": f"as-{draw(st.integers(1, 3))}",
                    "kind": draw(st.sampled_from(["initial", "reassessment"])),
                    "assessed_on": day(draw(st.integers(0, 20))),
                    "eligible": draw(st.integers(0, 4)) > 0,
                    "clinician": "RN",
                },
            )
        )
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        data: dict[str, Any] = {"effective_on": day(draw(days_in))}
        if draw(st.booleans()):
            data["dosing_interval_hours"] = draw(st.sampled_from([0, 24, 24, 48, 72, 96]))
        if draw(st.booleans()):
            data["dose"] = "2 mg"
        out.append(("OrderChanged", data))
    for _ in range(draw(st.integers(0, 4))):
        delivery_id = f"d-{draw(st.integers(0, 2))}"
        kind = draw(
            st.sampled_from(
                [
                    "DeliveryCompleted",
                    "DeliveryCompleted",
                    "DeliveryCompleted",
                    "DeliveryVoided",
                    "DeliveryFailed",
                    "DeliveryScheduled",
                ]
            )
        )
        if kind == "DeliveryCompleted":
            items = [
                {"code": code, "description": code, "units": draw(st.integers(0, 5))}
                for code in draw(st.lists(st.sampled_from(["J0475", "J0476", "A4221", "E0781"]), max_size=3))
            ]
            out.append(
                (
                    kind,
                    {
                        "delivery_id": delivery_id,
                        "delivered_on": day(draw(days_in)),
                        "days_supply": draw(st.integers(0, 30)),
                        "items": items,
                    },
                )
            )
        elif kind == "DeliveryScheduled":
            out.append((kind, {"delivery_id": delivery_id, "scheduled_for": day(draw(days_in))}))
        else:
            out.append((kind, {"delivery_id": delivery_id, "reason": "x"}))
    for _ in range(draw(st.integers(0, 5))):
        visit_id = f"v-{draw(st.integers(0, 3))}"
        kind = draw(
            st.sampled_from(
                [
                    "VisitCompleted",
                    "VisitCompleted",
                    "VisitCompleted",
                    "VisitVoided",
                    "VisitMissed",
                    "VisitScheduled",
                ]
            )
        )
        visit_kind = draw(
            st.sampled_from(
                ["start_of_care", "start_of_care", "follow_up", "line_care", "teaching", "discharge"]
            )
        )
        on = day(draw(days_in))
        if kind == "VisitCompleted":
            tz = draw(st.sampled_from(OFFSETS))
            start = datetime.fromisoformat(f"{on}T08:00:00").replace(tzinfo=tz) + timedelta(
                minutes=draw(st.integers(0, 600))
            )
            end = start + timedelta(seconds=draw(st.integers(0, 400 * 60)))
            out.append(
                (
                    kind,
                    {
                        "visit_id": visit_id,
                        "kind": visit_kind,
                        "visit_date": on,
                        "started_at": start.isoformat(),
                        "ended_at": end.astimezone(draw(st.sampled_from(OFFSETS))).isoformat(),
                        "administered": draw(st.booleans()),
                        "nurse": "RN",
                    },
                )
            )
        elif kind == "VisitScheduled":
            out.append((kind, {"visit_id": visit_id, "scheduled_for": on, "kind": visit_kind}))
        else:
            out.append((kind, {"visit_id": visit_id, "reason": "x"}))
    for _ in range(draw(st.integers(0, 3))):
        out.append(
            (
                "DoseAdministered",
                {
                    "administered_on": day(draw(days_in)),
                    "by": draw(st.sampled_from(["nurse", "patient", "caregiver"])),
                },
            )
        )
    for start_type, end_type, start_field, end_field in (
        ("HospitalAdmitted", "HospitalDischarged", "admitted_on", "discharged_on"),
        ("TherapyHeld", "TherapyResumed", "held_from", "resumed_on"),
    ):
        starts = draw(st.sampled_from([0, 0, 0, 1, 1, 2]))
        for _ in range(starts):
            data = {start_field: day(draw(days_in))}
            if start_type == "HospitalAdmitted":
                data["facility_kind"] = draw(
                    st.sampled_from(["hospital", "critical_access_hospital", "skilled_nursing_facility"])
                )
            else:
                data["reason"] = "x"
            out.append((start_type, data))
        for _ in range(draw(st.sampled_from([0, starts, starts, starts + 1]))):
            out.append((end_type, {end_field: day(draw(days_in))}))
    if draw(st.integers(0, 2)) == 0:
        out.append(
            (
                "ComplicationReported",
                {
                    "complication_id": "c-1",
                    "kind": "bleeding",
                    "severity": "mild",
                    "onset_on": day(draw(days_in)),
                },
            )
        )
        out.append(("ComplicationResolved", {"complication_id": "c-1", "resolved_on": day(draw(days_in))}))
    for _ in range(draw(st.integers(0, 1))):
        out.append(
            (
                "TherapyDiscontinued",
                {
                    "discontinued_on": day(draw(st.integers(5, 45))),
                    "reason": draw(st.sampled_from(["completed", "death", "transfer"])),
                },
            )
        )
    return out


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events of 1 to 2 patients with 1 to 3 episodes each, as contract envelopes."""
    events: list[dict[str, Any]] = []
    episode_names = iter(["ep-a", "ep-b", "ep-c", "ep-d", "ep-e", "ep-f"])
    for patient in [f"pt-{n}" for n in range(draw(st.integers(1, 2)))]:
        for _ in range(draw(st.integers(1, 3))):
            episode_id = next(episode_names)
            for event_type, data in draw(episode_events(patient)):
                events.append(
                    {
                        "event_id": f"{episode_id}-{len(events):03d}",
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


throughs = st.integers(0, 60).map(day)


def lines_of(events: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(event) for event in events]


@SETTINGS
@given(histories(), throughs, st.randoms(use_true_random=False), st.integers(0, 2))
def test_any_shuffle_with_duplicated_and_blank_lines_gives_the_same_document(
    events: list[dict[str, Any]], through: str, rng: random.Random, blanks: int
) -> None:
    lines = lines_of(events)
    expected = replay(lines, through)
    assert expected["rejected"] == []
    mixed = lines + rng.choices(lines, k=min(len(lines), rng.randint(0, 6)))
    rng.shuffle(mixed)
    mixed += [""] * blanks  # at the end, so line numbers of rejected lines (none) are not involved
    assert replay(mixed, through) == expected


@SETTINGS
@given(histories(), throughs, st.data())
def test_as_of_equals_replaying_only_lines_recorded_by_then(
    events: list[dict[str, Any]], through: str, data: st.DataObject
) -> None:
    if events:
        chosen = instant(data.draw(st.sampled_from([e["recorded_at"] for e in events])))
        as_of_moment = chosen + timedelta(seconds=data.draw(st.sampled_from([-1, 0, 0, 1])))
    else:
        as_of_moment = RECORDING_STARTS
    as_of = as_of_moment.astimezone(data.draw(st.sampled_from(OFFSETS))).isoformat()
    with_as_of = replay(lines_of(events), through, as_of)
    recorded_by_then = [e for e in events if instant(e["recorded_at"]) <= as_of_moment]
    filtered = replay(lines_of(recorded_by_then), through)
    assert with_as_of["as_of"] == as_of
    assert {**with_as_of, "as_of": None} == filtered


@SETTINGS
@given(histories(), throughs)
def test_billing_invariants(events: list[dict[str, Any]], through: str) -> None:
    document = replay(lines_of(events), through)
    end_of_replay = date.fromisoformat(through)
    auth_units = _auth_units(events)
    patient_days: dict[str, dict[str, str]] = defaultdict(dict)
    for episode in document["episodes"]:
        episode_id = episode["episode_id"]
        days = episode["days"]
        billable = [d["date"] for d in days if d["reason"] == "BILLABLE"]
        assert all(d["billable"] == (d["reason"] == "BILLABLE") for d in days)
        assert episode["billable_days"] == len(billable)

        per_diem = [line for line in episode["claim_lines"] if line["code"] == "S9363"]
        assert sum(line["units"] for line in per_diem) == len(billable)
        covered: list[str] = []
        used: dict[str, int] = defaultdict(int)
        for line in per_diem:
            first, last = date.fromisoformat(line["from"]), date.fromisoformat(line["to"])
            assert (first.year, first.month) == (last.year, last.month), line  # never crosses a month
            assert (last - first).days + 1 == line["units"], line
            assert line["authorization"] is not None
            used[line["authorization"]] += line["units"]
            covered += [(first + timedelta(days=n)).isoformat() for n in range(line["units"])]
        assert sorted(covered) == billable  # the lines cover exactly the billable days
        for auth_number, units in used.items():
            assert units <= auth_units[episode_id][auth_number], (episode_id, auth_number)

        for line in episode["claim_lines"]:
            assert line["units"] > 0
            if line["code"] != "S9363":
                assert line["from"] == line["to"] and line["authorization"] is None
                assert days and days[0]["date"] <= line["from"] <= days[-1]["date"]
        keys = [(line["code"], line["from"]) for line in episode["claim_lines"]]
        assert keys == sorted(keys)

        assert {d["reason"] for d in days} <= REASONS
        if any(e["episode_id"] == episode_id and e["event_type"] == "ReferralDeclined" for e in events):
            assert episode["status"] == "declined" and days == [] and episode["claim_lines"] == []
        dates = [d["date"] for d in days]
        assert dates == sorted(set(dates))
        if days:
            accepted, discontinued = _frame(events, episode_id)
            assert accepted is not None
            last_day = min(end_of_replay, discontinued) if discontinued else end_of_replay
            assert dates[0] == accepted.isoformat() and dates[-1] == last_day.isoformat()
            assert len(dates) == (last_day - accepted).days + 1
            assert "AFTER_DISCONTINUATION" not in {d["reason"] for d in days}

        for billed in billable:
            other = patient_days[episode["patient_ref"]].get(billed)
            assert other is None, f"{billed} billed by {other} and {episode_id}"
            patient_days[episode["patient_ref"]][billed] = episode_id


def _auth_units(events: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Units of each episode's authorizations (the last recorded per number), read independently."""
    latest: dict[tuple[str, str], tuple[datetime, str, int]] = {}
    for e in events:
        if e["event_type"] == "AuthorizationRecorded":
            key = (e["episode_id"], e["data"]["auth_number"])
            candidate = (instant(e["recorded_at"]), e["event_id"], e["data"]["units"])
            if key not in latest or candidate[:2] > latest[key][:2]:
                latest[key] = candidate
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (episode_id, number), (_, _, units) in latest.items():
        out[episode_id][number] = units
    return out


def _frame(events: list[dict[str, Any]], episode_id: str) -> tuple[date | None, date | None]:
    accepted = [
        date.fromisoformat(e["data"]["accepted_on"])
        for e in events
        if e["episode_id"] == episode_id and e["event_type"] == "ReferralAccepted"
    ]
    discontinued = [
        date.fromisoformat(e["data"]["discontinued_on"])
        for e in events
        if e["episode_id"] == episode_id and e["event_type"] == "TherapyDiscontinued"
    ]
    return (min(accepted) if accepted else None, min(discontinued) if discontinued else None)
