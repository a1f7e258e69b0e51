"""The public event contract (shared/contract.md): parsing, "Validation, precisely", JSON Schema
export and upcasting, read independently of the implementation.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import events
from events import ContractError, Upcasters, make_event, parse_event, to_json

REPO = Path(__file__).resolve().parents[2]

OWNER = {
    "referrals": [
        "ReferralReceived",
        "ReferralAccepted",
        "ReferralDeclined",
        "AuthorizationRecorded",
        "OrderChanged",
        "TherapyDiscontinued",
        "PatientDetailsChanged",
        "CareTeamAssigned",
        "CareTeamReleased",
    ],
    "assessments": ["AssessmentCompleted"],
    "deliveries": ["DeliveryScheduled", "DeliveryCompleted", "DeliveryFailed", "DeliveryVoided"],
    "visits": ["VisitScheduled", "VisitCompleted", "VisitMissed", "VisitVoided", "DoseAdministered"],
    "complications": [
        "ComplicationReported",
        "ComplicationResolved",
        "TherapyHeld",
        "TherapyResumed",
        "HospitalAdmitted",
        "HospitalDischarged",
    ],
    "claims": ["ClaimSubmitted"],
}
SOURCE_OF = {event_type: source for source, types in OWNER.items() for event_type in types}

# One valid `data` per event type, every field filled (optional ones too).
SAMPLES: dict[str, dict[str, Any]] = {
    "ReferralReceived": {
        "patient_ref": "pt-77",
        "payer": {
            "payer_id": "BCBS-ND",
            "plan": "PPO",
            "member_ref": "m-77",
            "counting_basis": "infusion_day",
        },
        "prescriber": {"npi": "1234567893", "name": "Dr. Rivera"},
        "diagnosis_codes": ["G35", "G82.20"],
        "order": {
            "drug": "baclofen",
            "drug_code": "J0475",
            "route": "intrathecal",
            "dose": "400 mcg/day",
            "dosing_interval_hours": 24,
            "start_date": "2026-03-01",
        },
    },
    "ReferralAccepted": {"accepted_on": "2026-03-01"},
    "ReferralDeclined": {"reason": "out of network"},
    "AuthorizationRecorded": {
        "auth_number": "A-1",
        "code": "S9363",
        "start_date": "2026-03-01",
        "end_date": "2026-05-31",
        "units": 90,
    },
    "OrderChanged": {"effective_on": "2026-03-10", "dose": "500 mcg/day", "dosing_interval_hours": 0},
    "TherapyDiscontinued": {"discontinued_on": "2026-04-30", "reason": "completed"},
    "PatientDetailsChanged": {"patient_ref": "pt-77", "fields": ["name", "address"]},
    "CareTeamAssigned": {"member": "rn-okafor", "role": "nurse", "assigned_on": "2026-03-01"},
    "CareTeamReleased": {"member": "rn-okafor", "released_on": "2026-03-20"},
    "AssessmentCompleted": {
        "assessment_id": "as-1",
        "kind": "initial",
        "assessed_on": "2026-02-28",
        "eligible": True,
        "clinician": "RN Okafor",
        "findings": {"home_safe": True},
    },
    "DeliveryScheduled": {"delivery_id": "d-1", "scheduled_for": "2026-03-02"},
    "DeliveryCompleted": {
        "delivery_id": "d-1",
        "delivered_on": "2026-03-02",
        "days_supply": 14,
        "items": [{"code": "J0475", "description": "baclofen 10 mg", "units": 4}],
        "correction": "days supply was 7",
    },
    "DeliveryFailed": {"delivery_id": "d-1", "reason": "nobody home"},
    "DeliveryVoided": {"delivery_id": "d-1", "reason": "entered in error"},
    "VisitScheduled": {"visit_id": "v-1", "scheduled_for": "2026-03-02", "kind": "start_of_care"},
    "VisitCompleted": {
        "visit_id": "v-1",
        "kind": "start_of_care",
        "visit_date": "2026-03-02",
        "started_at": "2026-03-02T10:00:00-05:00",
        "ended_at": "2026-03-02T13:31:00-05:00",
        "administered": True,
        "nurse": "RN Okafor",
        "correction": "ended later",
    },
    "VisitMissed": {"visit_id": "v-1", "reason": "patient out"},
    "VisitVoided": {"visit_id": "v-1", "reason": "entered in error"},
    "DoseAdministered": {"administered_on": "2026-03-03", "by": "caregiver"},
    "ComplicationReported": {
        "complication_id": "c-1",
        "kind": "line_infection",
        "severity": "severe",
        "onset_on": "2026-03-10",
    },
    "ComplicationResolved": {"complication_id": "c-1", "resolved_on": "2026-03-14"},
    "TherapyHeld": {"held_from": "2026-03-10", "reason": "line infection"},
    "TherapyResumed": {"resumed_on": "2026-03-14"},
    "HospitalAdmitted": {"admitted_on": "2026-03-10", "facility_kind": "skilled_nursing_facility"},
    "HospitalDischarged": {"discharged_on": "2026-03-14"},
    "ClaimSubmitted": {
        "claim_id": "CLM-2026-03-ep-1001-r1",
        "period": "2026-03",
        "frequency": "replacement",
        "replaces": "CLM-2026-03-ep-1001",
        "submitted_on": "2026-04-09",
        "lines": [
            {"code": "S9363", "from": "2026-03-02", "to": "2026-03-13", "units": 12, "authorization": "A-1"},
            {"code": "J0475", "from": "2026-03-02", "to": "2026-03-02", "units": 4, "authorization": None},
        ],
    },
}


def envelope(event_type: str, data: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    event = {
        "event_id": "0b8e6c1e-3f0a-4f5e-9a53-1f2d0c9e7a11",
        "event_type": event_type,
        "schema_version": 1,
        "source": SOURCE_OF.get(event_type, "referrals"),
        "episode_id": "ep-1001",
        "occurred_at": "2026-03-02T14:05:00-05:00",
        "recorded_at": "2026-03-02T19:07:12.481000+00:00",
        "data": copy.deepcopy(SAMPLES[event_type]) if data is None else data,
    }
    event.update(fields)
    return event


def with_data(event_type: str, path: str, value: Any) -> str:
    """The sample of `event_type` with `data.<path>` (dotted, list indexes allowed) set or, for
    the `DELETE` marker, removed; as a JSON line."""
    event = envelope(event_type)
    target: Any = event["data"]
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return json.dumps(event)


DELETE = object()


def rejected(line: str | bytes) -> ContractError:
    with pytest.raises(ContractError) as caught:
        parse_event(line)
    assert caught.value.message == str(caught.value)
    return caught.value


# --- what fits ---------------------------------------------------------------------------------------


def test_the_contract_lists_its_event_types_and_the_code_knows_exactly_those() -> None:
    assert set(events.DATA_MODELS) == set(SOURCE_OF)
    assert {name: events.SOURCE_OF[model] for name, model in events.DATA_MODELS.items()} == SOURCE_OF


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_every_event_type_parses_and_round_trips(event_type: str) -> None:
    line = json.dumps(envelope(event_type))
    event = parse_event(line)
    assert event.event_type == event_type
    assert type(event.data).__name__ == event_type
    assert event.source == SOURCE_OF[event_type]
    assert event.schema_version == 1
    assert event.recorded_at == "2026-03-02T19:07:12.481000+00:00"  # timestamps keep their text
    again = parse_event(to_json(event))
    assert again == event
    assert json.loads(to_json(event))["data"] == SAMPLES[event_type]
    assert parse_event(line.encode()) == event  # bytes too


def test_make_event_derives_type_and_source_from_the_data() -> None:
    data = events.DeliveryCompleted.model_validate_json(json.dumps(SAMPLES["DeliveryCompleted"]))
    event = make_event(
        event_id="e-1",
        episode_id="ep-1",
        occurred_at="2026-03-02T09:00:00-05:00",
        recorded_at="2026-03-02T14:00:00Z",
        data=data,
    )
    assert (event.event_type, event.source, event.schema_version) == ("DeliveryCompleted", "deliveries", 1)
    assert parse_event(to_json(event)) == event


def test_optional_fields_may_be_left_out_and_counting_basis_defaults_to_access() -> None:
    referral = copy.deepcopy(SAMPLES["ReferralReceived"])
    referral["payer"] = {"payer_id": "BCBS-ND"}
    event = parse_event(json.dumps(envelope("ReferralReceived", referral)))
    assert isinstance(event.data, events.ReferralReceived)
    assert event.data.payer.counting_basis == "access"
    assert event.data.payer.plan is None
    change = parse_event(json.dumps(envelope("OrderChanged", {"effective_on": "2026-03-10"})))
    assert isinstance(change.data, events.OrderChanged)
    assert change.data.dose is None and change.data.dosing_interval_hours is None
    assessment = {k: v for k, v in SAMPLES["AssessmentCompleted"].items() if k != "findings"}
    assert parse_event(json.dumps(envelope("AssessmentCompleted", assessment)))


def test_unknown_fields_are_ignored_everywhere() -> None:
    event = envelope("ReferralReceived", trace_id="t-1", partition=3)
    event["data"]["urgency"] = "high"
    event["data"]["payer"]["group"] = "G-7"
    event["data"]["order"]["concentration"] = "2000 mcg/mL"
    event["data"]["prescriber"]["taxonomy"] = "2084N0400X"
    parsed = parse_event(json.dumps(event))
    assert parsed == parse_event(json.dumps(envelope("ReferralReceived")))
    delivery = envelope("DeliveryCompleted")
    delivery["data"]["items"][0]["ndc"] = "0000-0000-00"
    assert parse_event(json.dumps(delivery)) == parse_event(json.dumps(envelope("DeliveryCompleted")))


def test_whole_numbers_zero_is_fine_and_dates_are_real_calendar_dates() -> None:
    assert parse_event(with_data("DeliveryCompleted", "days_supply", 0))
    assert parse_event(with_data("AuthorizationRecorded", "units", 0))
    assert parse_event(with_data("ReferralReceived", "order.dosing_interval_hours", 0))
    assert parse_event(with_data("ReferralAccepted", "accepted_on", "2028-02-29"))  # a leap day


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-03-02T14:05:00Z",
        "2026-03-02T14:05:00z",
        "2026-03-02t14:05:00+00:00",
        "2026-03-02T14:05:00-00:00",
        "2026-03-02T14:05:00+05:30",
        "2026-03-02T14:05:00.5-05:00",
        "2026-03-02T14:05:00.123456Z",
        "2026-03-02T14:05:00.123456789Z",
    ],
)
def test_rfc3339_timestamps_with_an_offset_fit(timestamp: str) -> None:
    event = parse_event(
        json.dumps(envelope("ReferralAccepted", recorded_at=timestamp, occurred_at=timestamp))
    )
    assert event.recorded_at == timestamp
    assert event.recorded_instant.utcoffset() is not None


def test_instants_compare_across_offsets() -> None:
    a = parse_event(json.dumps(envelope("ReferralAccepted", recorded_at="2026-03-02T09:00:00-05:00")))
    b = parse_event(json.dumps(envelope("ReferralAccepted", recorded_at="2026-03-02T14:00:00Z")))
    assert a.recorded_instant == b.recorded_instant
    assert events.instant("2026-03-02T15:00:00+02:00") < events.instant("2026-03-02T09:00:00-05:00")


# --- what does not fit ------------------------------------------------------------------------------------


def assert_names(error: ContractError, *names: str) -> None:
    for name in names:
        assert name in error.message, f"{error.message!r} does not name {name!r}"


@pytest.mark.parametrize(
    ("event_type", "path", "value"),
    [
        # numbers: a string, a whole number written 14.0, a bool, negative, a fraction
        ("DeliveryCompleted", "days_supply", "7"),
        ("DeliveryCompleted", "days_supply", 14.0),
        ("DeliveryCompleted", "days_supply", True),
        ("DeliveryCompleted", "days_supply", -1),
        ("DeliveryCompleted", "days_supply", 7.5),
        ("DeliveryCompleted", "days_supply", None),
        ("DeliveryCompleted", "items.0.units", "4"),
        ("DeliveryCompleted", "items.0.units", 4.0),
        ("AuthorizationRecorded", "units", True),
        ("AuthorizationRecorded", "units", "90"),
        ("AuthorizationRecorded", "units", 90.0),
        ("ReferralReceived", "order.dosing_interval_hours", "24"),
        ("ReferralReceived", "order.dosing_interval_hours", 24.0),
        ("ReferralReceived", "order.dosing_interval_hours", False),
        ("OrderChanged", "dosing_interval_hours", "72"),
        ("OrderChanged", "dosing_interval_hours", -24),
        # booleans
        ("AssessmentCompleted", "eligible", "true"),
        ("AssessmentCompleted", "eligible", 1),
        ("VisitCompleted", "administered", 0),
        # strings: dose, ids, names, reasons
        ("ReferralReceived", "order.dose", 400),
        ("ReferralReceived", "patient_ref", 77),
        ("ReferralReceived", "prescriber.name", ["Dr. Rivera"]),
        ("ReferralReceived", "prescriber.npi", 1234567893),
        ("OrderChanged", "dose", 5),
        ("DeliveryFailed", "reason", False),
        ("VisitCompleted", "nurse", None),
        ("AuthorizationRecorded", "auth_number", 1),
        # dates: real calendar dates written YYYY-MM-DD; scheduled_for is a date
        ("ReferralAccepted", "accepted_on", "2026-02-30"),
        ("ReferralAccepted", "accepted_on", "2026-02-29"),
        ("ReferralAccepted", "accepted_on", "2026-3-1"),
        ("ReferralAccepted", "accepted_on", "20260301"),
        ("ReferralAccepted", "accepted_on", "2026-03-01T00:00:00Z"),
        ("ReferralAccepted", "accepted_on", "2026-W10-1"),
        ("ReferralAccepted", "accepted_on", 1772323200),
        ("DeliveryScheduled", "scheduled_for", "next tuesday"),
        ("VisitScheduled", "scheduled_for", "2026-03-02T10:00:00-05:00"),
        ("ReferralReceived", "order.start_date", "2026-13-01"),
        # timestamps: RFC 3339 with an offset
        ("VisitCompleted", "started_at", "2026-03-02T10:00:00"),
        ("VisitCompleted", "started_at", "2026-03-02 10:00:00-05:00"),
        ("VisitCompleted", "ended_at", "2026-03-02T13:31:00-0500"),
        ("VisitCompleted", "ended_at", "2026-03-02"),
        ("VisitCompleted", "ended_at", "2026-03-02T24:00:00-05:00"),
        # digits are ASCII digits: other Unicode digits (Arabic-Indic, fullwidth) do not fit
        ("VisitCompleted", "ended_at", "2026-03-02T1\u0664:00:00-05:00"),
        ("VisitCompleted", "ended_at", "2026-03-02T14:00:00.\uff11-05:00"),
        ("VisitCompleted", "ended_at", "2026-03-02T14:00:00+0\u0661:00"),
        ("VisitCompleted", "started_at", "\u0662026-03-02T10:00:00-05:00"),
        ("VisitCompleted", "started_at", "2026-03-02T10:00:00-05:00\n"),
        ("ReferralAccepted", "accepted_on", "2026-03-0\u0661"),
        # listed sets
        ("ReferralReceived", "order.route", "oral"),
        ("ReferralReceived", "payer.counting_basis", "visit"),
        ("AssessmentCompleted", "kind", "follow_up"),
        ("VisitCompleted", "kind", "home_visit"),
        ("VisitScheduled", "kind", "Start_of_care"),
        ("ComplicationReported", "kind", "fever"),
        ("ComplicationReported", "severity", "critical"),
        ("DoseAdministered", "by", "pharmacist"),
        ("HospitalAdmitted", "facility_kind", "home"),
        ("TherapyDiscontinued", "reason", "cured"),
        # structure
        ("DeliveryCompleted", "items", {"code": "J0475"}),
        ("ReferralReceived", "diagnosis_codes", "G35"),
        ("ReferralReceived", "payer", "BCBS-ND"),
        ("AssessmentCompleted", "findings", ["home_safe"]),
        # missing required fields
        ("DeliveryCompleted", "days_supply", DELETE),
        ("ReferralReceived", "order.drug_code", DELETE),
        ("ReferralReceived", "payer.payer_id", DELETE),
        ("VisitCompleted", "administered", DELETE),
        ("AuthorizationRecorded", "code", DELETE),
    ],
)
def test_misfit_field_is_rejected_naming_event_and_field(event_type: str, path: str, value: Any) -> None:
    error = rejected(with_data(event_type, path, value))
    field = path.split(".")[-1] if not path.split(".")[-1].isdigit() else path.split(".")[-2]
    assert_names(error, event_type, field)
    assert error.event_id == "0b8e6c1e-3f0a-4f5e-9a53-1f2d0c9e7a11"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occurred_at", "2026-03-02T14:05:00"),
        ("recorded_at", "2026-03-02"),
        ("recorded_at", "2026-02-30T10:00:00Z"),
        ("recorded_at", 1772323200),
        ("recorded_at", "2026-03-02T1\u0669:07:12Z"),
        ("episode_id", 1001),
        ("episode_id", None),
        ("schema_version", 2),
        ("schema_version", 0),
        ("schema_version", "1"),
        ("schema_version", True),
        ("schema_version", 1.0),
        ("schema_version", None),
        ("source", "pharmacy"),
    ],
)
def test_misfit_envelope_field_is_rejected_naming_it(field: str, value: Any) -> None:
    error = rejected(json.dumps(envelope("DeliveryCompleted", **{field: value})))
    assert_names(error, "DeliveryCompleted", field)


@pytest.mark.parametrize("event_type", sorted(SOURCE_OF))
def test_source_must_be_the_owner_service(event_type: str) -> None:
    for source in OWNER:
        line = json.dumps(envelope(event_type, source=source))
        if source == SOURCE_OF[event_type]:
            assert parse_event(line).source == source
        else:
            assert_names(rejected(line), event_type, "source")


def test_unknown_or_missing_event_type() -> None:
    event = envelope("DeliveryCompleted")
    event["event_type"] = "DeliveryLost"
    assert_names(rejected(json.dumps(event)), "event_type", "DeliveryLost")
    del event["event_type"]
    assert_names(rejected(json.dumps(event)), "event_type")
    event["event_type"] = "deliverycompleted"  # case matters
    assert_names(rejected(json.dumps(event)), "event_type")


def test_missing_envelope_fields_are_named() -> None:
    for field in ("event_id", "episode_id", "occurred_at", "recorded_at", "data", "source", "schema_version"):
        event = envelope("TherapyHeld")
        del event[field]
        assert_names(rejected(json.dumps(event)), "TherapyHeld", field)


@pytest.mark.parametrize(
    "line", ["{not json", "", "[1, 2]", '"DeliveryCompleted"', "null", "42", b"\xff\xfe{}"]
)
def test_bad_json_or_not_an_object(line: str | bytes) -> None:
    error = rejected(line)
    assert error.event_id is None
    assert error.message


def test_cross_field_checks() -> None:
    error = rejected(with_data("AuthorizationRecorded", "end_date", "2026-02-28"))
    assert_names(error, "AuthorizationRecorded", "end_date")
    assert parse_event(with_data("AuthorizationRecorded", "end_date", "2026-03-01"))  # one-day period

    # Started 10:00-05:00 (15:00Z); 15:30+02:00 is 13:30Z: before the start, though later as text.
    error = rejected(with_data("VisitCompleted", "ended_at", "2026-03-02T15:30:00+02:00"))
    assert_names(error, "VisitCompleted", "ended_at")
    # 16:00+01:00 is 15:00Z, the very start: a zero-minute visit fits.
    assert parse_event(with_data("VisitCompleted", "ended_at", "2026-03-02T16:00:00+01:00"))
    # 09:00-08:00 is 17:00Z: later than the start as an instant, though earlier as text.
    assert parse_event(with_data("VisitCompleted", "ended_at", "2026-03-02T09:00:00-08:00"))


def test_error_carries_event_id_and_names_the_first_problem_clearly() -> None:
    error = rejected(with_data("DeliveryCompleted", "days_supply", "seven"))
    assert error.event_id == "0b8e6c1e-3f0a-4f5e-9a53-1f2d0c9e7a11"
    assert "seven" in error.message  # what was sent
    event = envelope("DeliveryCompleted", event_id=17)
    assert rejected(json.dumps(event)).event_id is None


# --- JSON Schema export -----------------------------------------------------------------------------------


def _walk_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        refs = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return refs + [ref for value in node.values() for ref in _walk_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _walk_refs(value)]
    return []


def test_carecoord_schema_writes_one_valid_json_schema_per_event_type(tmp_path: Path) -> None:
    outdir = tmp_path / "schema"
    result = subprocess.run(
        [sys.executable, "-m", "carecoord.cli", "schema", str(outdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    names = sorted(path.name for path in outdir.iterdir())
    assert names == sorted(["Envelope.schema.json", *(f"{t}.schema.json" for t in SOURCE_OF)])

    envelope_fields = {
        "event_id",
        "event_type",
        "schema_version",
        "source",
        "episode_id",
        "occurred_at",
        "recorded_at",
        "data",
    }
    documents = {}
    for name in names:
        document = json.loads((outdir / name).read_text())
        documents[name] = document
        # A tiny structural check of a JSON Schema document: draft, an object with the envelope's
        # properties all required, and every local $ref resolving.
        assert document["$schema"].startswith("https://json-schema.org/")
        assert document["type"] == "object"
        assert set(document["properties"]) >= envelope_fields
        assert set(document["required"]) >= envelope_fields
        for ref in _walk_refs(document):
            assert ref.startswith("#/")
            target: Any = document
            for part in ref[2:].split("/"):
                target = target[part]
            assert isinstance(target, dict), ref
    for event_type in SOURCE_OF:
        props = documents[f"{event_type}.schema.json"]["properties"]
        assert props["event_type"].get("const") == event_type
        assert props["source"].get("const") == SOURCE_OF[event_type]

    try:
        import jsonschema_rs  # already installed with the dev tools; no new dependency
    except ImportError:  # the structural check above still ran
        return
    for name, document in documents.items():
        assert jsonschema_rs.meta.is_valid(document), name
    for event_type in SOURCE_OF:
        validator = jsonschema_rs.validator_for(documents[f"{event_type}.schema.json"])
        good = envelope(event_type)
        assert validator.is_valid(good), event_type
        assert not validator.is_valid(dict(good, source="nowhere")), event_type
        assert not validator.is_valid(dict(good, event_type="Other")), event_type
        without_data = {k: v for k, v in good.items() if k != "data"}
        assert not validator.is_valid(without_data), event_type
    delivery = jsonschema_rs.validator_for(documents["DeliveryCompleted.schema.json"])
    assert not delivery.is_valid(json.loads(with_data("DeliveryCompleted", "days_supply", "7")))
    assert not delivery.is_valid(json.loads(with_data("DeliveryCompleted", "days_supply", -1)))
    envelope_validator = jsonschema_rs.validator_for(documents["Envelope.schema.json"])
    for event_type in SOURCE_OF:
        assert envelope_validator.is_valid(envelope(event_type)), event_type


# --- upcasting ----------------------------------------------------------------------------------------------


def v0_delivery(days: Any = 7) -> str:
    """A made-up version 0 of DeliveryCompleted: `days` where version 1 has `days_supply`."""
    data = {
        "delivery_id": "d-9",
        "delivered_on": "2026-03-02",
        "days": days,
        "items": [{"code": "J0475", "description": "baclofen 10 mg", "units": 4}],
    }
    return json.dumps(envelope("DeliveryCompleted", data, schema_version=0))


def registry_with_v0_delivery() -> Upcasters:
    registry = Upcasters()

    @registry.register("DeliveryCompleted", 0)
    def days_renamed_days_supply(raw: dict[str, Any]) -> dict[str, Any]:
        data = dict(raw["data"])
        data["days_supply"] = data.pop("days")
        return {**raw, "data": data}

    return registry


def test_upcaster_reads_version_0_as_the_current_version() -> None:
    event = parse_event(v0_delivery(), upcasters=registry_with_v0_delivery())
    assert event.schema_version == 1
    assert isinstance(event.data, events.DeliveryCompleted)
    assert event.data.days_supply == 7
    assert event.data.delivery_id == "d-9"
    assert event.source == "deliveries"
    # Read as current, it writes out as version 1 with `days_supply` and parses with no upcaster.
    written = json.loads(to_json(event))
    assert (
        written["schema_version"] == 1
        and written["data"]["days_supply"] == 7
        and "days" not in written["data"]
    )
    assert parse_event(to_json(event)) == event


def test_default_registry_rejects_version_0_naming_schema_version() -> None:
    error = rejected(v0_delivery())
    assert_names(error, "DeliveryCompleted", "schema_version")
    assert error.event_id == "0b8e6c1e-3f0a-4f5e-9a53-1f2d0c9e7a11"
    assert events.DEFAULT_UPCASTERS is not None


def test_upcaster_applies_only_to_its_event_type_and_version() -> None:
    registry = registry_with_v0_delivery()
    accepted_v0 = json.dumps(envelope("ReferralAccepted", schema_version=0))
    with pytest.raises(ContractError) as caught:
        parse_event(accepted_v0, upcasters=registry)
    assert_names(caught.value, "ReferralAccepted", "schema_version")
    with pytest.raises(ContractError) as caught:
        parse_event(json.dumps(envelope("DeliveryCompleted", schema_version=2)), upcasters=registry)
    assert_names(caught.value, "DeliveryCompleted", "schema_version")
    # A current line is untouched by the registry.
    assert parse_event(json.dumps(envelope("DeliveryCompleted")), upcasters=registry).data.days_supply == 14


def test_upcast_event_is_still_validated_strictly() -> None:
    with pytest.raises(ContractError) as caught:
        parse_event(v0_delivery(days="seven"), upcasters=registry_with_v0_delivery())
    assert_names(caught.value, "DeliveryCompleted", "days_supply")
