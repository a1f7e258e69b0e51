"""`recorded_by` in the envelope, and the event types added after the first examples."""

from __future__ import annotations

import json
from typing import Any

import pytest

from events import ContractError, parse_event, to_json
from tests.contract.test_events import envelope


def test_recorded_by_is_optional_and_kept_when_present() -> None:
    without = parse_event(json.dumps(envelope("ReferralAccepted")))
    assert without.recorded_by is None and "recorded_by" not in json.loads(to_json(without))
    line = json.dumps(envelope("ReferralAccepted", recorded_by={"subject": "alice", "role": "coordinator"}))
    event = parse_event(line)
    assert event.recorded_by is not None
    assert (event.recorded_by.subject, event.recorded_by.role) == ("alice", "coordinator")
    assert json.loads(to_json(event))["recorded_by"] == {"subject": "alice", "role": "coordinator"}


@pytest.mark.parametrize(
    "value",
    [
        None,
        "alice",
        ["alice", "coordinator"],
        {"subject": "alice"},
        {"role": "nurse"},
        {"subject": "", "role": "nurse"},
        {"subject": "alice", "role": ""},
        {"subject": 7, "role": "nurse"},
    ],
    ids=str,
)
def test_a_recorded_by_that_is_not_a_subject_and_a_role_does_not_fit(value: Any) -> None:
    with pytest.raises(ContractError, match="recorded_by"):
        parse_event(json.dumps(envelope("ReferralAccepted", recorded_by=value)))


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("PatientDetailsChanged", {"patient_ref": "pt-1", "fields": "name"}),
        ("PatientDetailsChanged", {"patient_ref": "pt-1"}),
        ("CareTeamAssigned", {"member": "rn-1", "role": "doctor", "assigned_on": "2026-03-01"}),
        ("CareTeamAssigned", {"member": "", "role": "nurse", "assigned_on": "2026-03-01"}),
        ("CareTeamReleased", {"member": "rn-1", "released_on": "2026-02-30"}),
        (
            "DeliveryCompleted",
            {
                "delivery_id": "d",
                "delivered_on": "2026-03-01",
                "days_supply": 1,
                "items": [],
                "correction": 7,
            },
        ),
    ],
)
def test_the_new_types_are_validated_strictly(event_type: str, data: dict[str, Any]) -> None:
    with pytest.raises(ContractError, match=event_type):
        parse_event(json.dumps(envelope(event_type, data)))


def test_any_dump_of_an_event_without_recorded_by_still_fits() -> None:
    event = parse_event(json.dumps(envelope("DeliveryCompleted")))
    plain = parse_event(json.dumps(envelope("ReferralAccepted")))
    for each in (event, plain):
        assert parse_event(each.model_dump_json()) == each
        assert "recorded_by" not in json.loads(each.model_dump_json())
