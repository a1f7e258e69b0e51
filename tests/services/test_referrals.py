"""The referrals service: the happy path, every refused command, and the patient's privacy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from carecoord.bootstrap import Services
from events import (
    AuthorizationRecorded,
    Order,
    OrderChanged,
    Payer,
    Prescriber,
    ReferralAccepted,
    ReferralReceived,
    TherapyDiscontinued,
    to_json,
)
from services.common.clock import use_clock
from services.common.errors import AlreadyRecorded, EpisodeUnknown, InvalidCommand, RuleViolated
from services.referrals.domainmodel import PatientDetails
from tests.support.services import (
    assert_refused,
    at,
    event_types,
    open_episode,
    receive,
    sample_order,
    sample_patient,
)


def test_a_referral_from_receipt_to_discontinuation(services: Services) -> None:
    referrals = services.referrals
    receive(services, "ep-1", occurred_at=at("2026-02-28", 10, 30))
    referrals.accept_referral("ep-1", date(2026, 3, 2), at("2026-03-02", 8))
    referrals.record_authorization(
        "ep-1", auth_number="A-1", start_date=date(2026, 3, 2), end_date=date(2026, 3, 31), units=30
    )
    referrals.change_order("ep-1", effective_on=date(2026, 3, 10), dosing_interval_hours=24)
    referrals.discontinue_therapy("ep-1", discontinued_on=date(2026, 3, 28), reason="completed")

    events = [event for _, event in referrals.contract_events()]
    assert [e.event_type for e in events] == [
        "ReferralReceived",
        "ReferralAccepted",
        "AuthorizationRecorded",
        "OrderChanged",
        "TherapyDiscontinued",
    ]
    assert all(e.source == "referrals" and e.episode_id == "ep-1" for e in events)
    received, accepted, authorization, change, discontinued = (e.data for e in events)
    assert isinstance(received, ReferralReceived) and received.patient_ref == "pt-1"
    assert received.order.drug_code == "J0475" and received.payer.payer_id == "bcbs-nd"
    assert events[0].occurred_at == "2026-02-28T10:30:00-05:00"
    assert isinstance(accepted, ReferralAccepted) and accepted.accepted_on == date(2026, 3, 2)
    assert isinstance(authorization, AuthorizationRecorded)
    assert (authorization.code, authorization.units) == ("S9363", 30)
    assert isinstance(change, OrderChanged) and change.dosing_interval_hours == 24 and change.dose is None
    assert isinstance(discontinued, TherapyDiscontinued) and discontinued.reason == "completed"
    assert len({e.event_id for e in events}) == 5

    episode = referrals.get_episode("ep-1")
    assert episode.accepted_on == date(2026, 3, 2) and episode.discontinued_on == date(2026, 3, 28)
    assert episode.order["dosing_interval_hours"] == 24


def test_a_declined_referral(services: Services) -> None:
    receive(services, "ep-2")
    services.referrals.decline_referral("ep-2", "patient lives outside the service area")
    assert event_types(services.referrals) == ["ReferralReceived", "ReferralDeclined"]


def test_envelopes_are_stable_and_recorded_at_is_the_stored_timestamp(services: Services) -> None:
    recorded = datetime(2026, 3, 1, 14, 0, 5, 250000, tzinfo=UTC)
    with use_clock(lambda: recorded):
        receive(services, "ep-1")
    (position, event), *_ = services.referrals.contract_events()
    assert event.recorded_at == "2026-03-01T14:00:05.250000+00:00"
    assert services.referrals.contract_events() == [(position, event)]  # same stored event, same event_id
    assert services.referrals.contract_events(start=position + 1) == []


def test_a_patient_with_two_episodes_is_registered_once(services: Services) -> None:
    receive(services, "ep-1", patient_ref="pt-7")
    services.referrals.receive_referral(
        episode_id="ep-2",
        patient_ref="pt-7",
        payer=_payer(),
        prescriber=_prescriber(),
        diagnosis_codes=["G35", "R25.2"],
        order=sample_order(),
    )
    assert services.referrals.patient_details("pt-7") == sample_patient()
    moved = PatientDetails("Agnes Quillfeather", date(1961, 7, 14), "3 Harbour Road, Dover", "555-0199")
    services.referrals.change_patient_details("ep-2", address=moved.address, phone=moved.phone)
    assert services.referrals.patient_details("pt-7") == moved
    assert event_types(services.referrals) == ["ReferralReceived"] * 2 + ["PatientDetailsChanged"]


def test_patient_demographics_are_unreadable_in_the_stored_events(
    services: Services, raw_store: Callable[[str], bytes]
) -> None:
    patient = PatientDetails("Zebulon Marchetti", date(1948, 11, 23), "77 Quincewood Terrace", "555-8812")
    receive(services, "ep-1", patient_ref="pt-42", patient=patient)
    services.referrals.accept_referral("ep-1", date(2026, 3, 2))

    raw = raw_store("referrals")
    assert raw, "nothing was read from the referrals table"
    for secret in ("Zebulon", "Marchetti", "1948-11-23", "Quincewood", "555-8812", "pt-42", "G35"):
        assert secret.encode() not in raw, f"{secret!r} is readable in the stored events"
    # The contract events carry the opaque patient_ref only.
    published = "".join(to_json(e) for _, e in services.referrals.contract_events())
    assert "pt-42" in published
    assert not any(s in published for s in ("Zebulon", "Marchetti", "1948-11-23", "Quincewood", "555-8812"))
    # And the details do not leak through a repr (logs), neither of the details nor of the stored events.
    assert "Zebulon" not in repr(patient)
    stored = [
        services.referrals.mapper.to_domain_event(n)
        for n in services.referrals.notification_log.select(1, 100)
    ]
    assert any(type(e).__name__ == "PatientRegistered" for e in stored)
    assert not any("Zebulon" in repr(e) or "Quincewood" in repr(e) for e in stored)
    assert services.referrals.patient_details("pt-42") == patient


# --- refused commands --------------------------------------------------------------------------


def test_receive_is_refused_for_an_existing_episode(services: Services) -> None:
    receive(services, "ep-1")
    assert_refused(
        services.referrals,
        lambda: receive(services, "ep-1"),
        AlreadyRecorded,
        "a referral for episode ep-1 was already received",
    )


def test_receive_is_refused_for_a_new_patient_without_details(services: Services) -> None:
    def command() -> None:
        services.referrals.receive_referral(
            episode_id="ep-1",
            patient_ref="pt-new",
            payer=_payer(),
            prescriber=_prescriber(),
            diagnosis_codes=["G35"],
            order=_order(),
        )

    assert_refused(
        services.referrals,
        command,
        InvalidCommand,
        "patient is required for a patient_ref not registered before",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"diagnosis_codes": []}, "a referral needs at least one ICD-10 diagnosis code"),
        ({"diagnosis_codes": [""]}, "diagnosis code is required"),
        ({"patient_ref": ""}, "patient_ref is required"),
        ({"episode_id": " "}, "episode_id is required"),
        ({"patient": PatientDetails("", date(1960, 1, 1), "x", "y")}, "patient name is required"),
        (
            {"patient": PatientDetails("A", "1960-01-01", "x", "y")},  # type: ignore[arg-type]
            "patient birth_date must be a calendar date",
        ),
        ({"payer": {"payer_id": "x"}}, "payer must be an events.Payer"),
        ({"occurred_at": datetime(2026, 3, 1, 9, 0)}, "occurred_at must carry a UTC offset"),
    ],
)
def test_receive_is_refused_for_bad_values(
    services: Services, change: dict[str, object], message: str
) -> None:
    values: dict[str, object] = dict(
        episode_id="ep-1",
        patient_ref="pt-1",
        patient=sample_patient(),
        payer=_payer(),
        prescriber=_prescriber(),
        diagnosis_codes=["G35"],
        order=_order(),
    )
    values.update(change)
    assert_refused(
        services.referrals,
        lambda: services.referrals.receive_referral(**values),  # type: ignore[arg-type]
        InvalidCommand,
        message,
    )


def test_commands_for_an_unknown_episode_are_refused(services: Services) -> None:
    referrals = services.referrals
    for command in (
        lambda: referrals.accept_referral("ep-9", date(2026, 3, 2)),
        lambda: referrals.decline_referral("ep-9", "no"),
        lambda: referrals.record_authorization(
            "ep-9", auth_number="A", start_date=date(2026, 3, 1), end_date=date(2026, 3, 2), units=1
        ),
        lambda: referrals.change_order("ep-9", effective_on=date(2026, 3, 2), dose="1 mg"),
        lambda: referrals.discontinue_therapy("ep-9", discontinued_on=date(2026, 3, 2), reason="other"),
    ):
        assert_refused(referrals, command, EpisodeUnknown, "episode ep-9 is unknown: no referral received")


def test_no_accept_after_decline(services: Services) -> None:
    receive(services, "ep-1")
    services.referrals.decline_referral("ep-1", "not eligible")
    assert_refused(
        services.referrals,
        lambda: services.referrals.accept_referral("ep-1", date(2026, 3, 2)),
        RuleViolated,
        "the referral for episode ep-1 was declined: it cannot be accepted",
    )
    assert_refused(
        services.referrals,
        lambda: services.referrals.decline_referral("ep-1", "again"),
        AlreadyRecorded,
        "the referral for episode ep-1 was already declined",
    )


def test_no_second_accept_and_no_decline_after_accept(services: Services) -> None:
    open_episode(services, "ep-1")
    assert_refused(
        services.referrals,
        lambda: services.referrals.accept_referral("ep-1", date(2026, 3, 3)),
        AlreadyRecorded,
        "already accepted on 2026-03-02",
    )
    assert_refused(
        services.referrals,
        lambda: services.referrals.decline_referral("ep-1", "changed mind"),
        RuleViolated,
        r"was accepted on 2026-03-02: it cannot be declined \(discontinue",
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"start_date": date(2026, 3, 10), "end_date": date(2026, 3, 9), "units": 5},
            "authorization A-1: end_date 2026-03-09 is before start_date 2026-03-10",
        ),
        (
            {"start_date": date(2026, 3, 1), "end_date": date(2026, 3, 9), "units": 0},
            "authorization A-1: units must be more than 0, got 0",
        ),
        (
            {"start_date": date(2026, 3, 1), "end_date": date(2026, 3, 9), "units": -3},
            "units must be 0 or more, got -3",
        ),
        (
            {"start_date": date(2026, 3, 1), "end_date": date(2026, 3, 9), "units": 5.0},
            "units must be a whole number",
        ),
        (
            {"start_date": date(2026, 3, 1), "end_date": date(2026, 3, 9), "units": 5, "code": ""},
            "code is required",
        ),
    ],
)
def test_bad_authorizations_are_refused(services: Services, values: dict[str, object], message: str) -> None:
    open_episode(services, "ep-1")
    assert_refused(
        services.referrals,
        lambda: services.referrals.record_authorization("ep-1", auth_number="A-1", **values),  # type: ignore[arg-type]
        InvalidCommand,
        message,
    )


def test_no_authorization_or_order_change_after_discontinuation(services: Services) -> None:
    open_episode(services, "ep-1")
    services.referrals.discontinue_therapy(
        "ep-1", discontinued_on=date(2026, 3, 20), reason="physician_order"
    )
    assert_refused(
        services.referrals,
        lambda: services.referrals.record_authorization(
            "ep-1", auth_number="A-2", start_date=date(2026, 3, 1), end_date=date(2026, 3, 31), units=10
        ),
        RuleViolated,
        "therapy for episode ep-1 was discontinued on 2026-03-20: cannot record authorization A-2",
    )
    assert_refused(
        services.referrals,
        lambda: services.referrals.change_order("ep-1", effective_on=date(2026, 3, 5), dose="300 mcg/day"),
        RuleViolated,
        "was discontinued on 2026-03-20: cannot record an order change",
    )
    assert_refused(
        services.referrals,
        lambda: services.referrals.discontinue_therapy(
            "ep-1", discontinued_on=date(2026, 3, 21), reason="other"
        ),
        AlreadyRecorded,
        "therapy for episode ep-1 was already discontinued on 2026-03-20",
    )


def test_no_authorization_for_a_declined_referral(services: Services) -> None:
    receive(services, "ep-1")
    services.referrals.decline_referral("ep-1", "no coverage")
    assert_refused(
        services.referrals,
        lambda: services.referrals.record_authorization(
            "ep-1", auth_number="A-1", start_date=date(2026, 3, 1), end_date=date(2026, 3, 31), units=10
        ),
        RuleViolated,
        "the referral for episode ep-1 was declined: cannot record authorization A-1",
    )


def test_an_order_change_must_change_something(services: Services) -> None:
    open_episode(services, "ep-1")
    assert_refused(
        services.referrals,
        lambda: services.referrals.change_order("ep-1", effective_on=date(2026, 3, 5)),
        InvalidCommand,
        "an order change must give a new dose or a new dosing interval",
    )
    assert_refused(
        services.referrals,
        lambda: services.referrals.change_order(
            "ep-1", effective_on=date(2026, 3, 5), dosing_interval_hours=-1
        ),
        InvalidCommand,
        "dosing_interval_hours must be 0 or more",
    )


def test_discontinuation_rules(services: Services) -> None:
    receive(services, "ep-1")
    assert_refused(
        services.referrals,
        lambda: services.referrals.discontinue_therapy(
            "ep-1", discontinued_on=date(2026, 3, 5), reason="other"
        ),
        RuleViolated,
        "the referral for episode ep-1 was never accepted: decline it instead",
    )
    services.referrals.accept_referral("ep-1", date(2026, 3, 2))
    assert_refused(
        services.referrals,
        lambda: services.referrals.discontinue_therapy(
            "ep-1", discontinued_on=date(2026, 3, 1), reason="other"
        ),
        InvalidCommand,
        "discontinued_on 2026-03-01 is before the referral was accepted on 2026-03-02",
    )
    assert_refused(
        services.referrals,
        lambda: services.referrals.discontinue_therapy(
            "ep-1",
            discontinued_on=date(2026, 3, 5),
            reason="bored",  # type: ignore[arg-type]
        ),
        InvalidCommand,
        "reason must be one of completed, death, other, patient_choice, physician_order, transfer",
    )


def test_a_declined_referral_cannot_be_discontinued(services: Services) -> None:
    receive(services, "ep-1")
    services.referrals.decline_referral("ep-1", "no")
    assert_refused(
        services.referrals,
        lambda: services.referrals.discontinue_therapy(
            "ep-1", discontinued_on=date(2026, 3, 5), reason="other"
        ),
        RuleViolated,
        "the referral for episode ep-1 was declined: there is no therapy to discontinue",
    )


def _payer() -> Payer:
    return Payer(payer_id="medicare")


def _prescriber() -> Prescriber:
    return Prescriber(npi="1234567890", name="Dr. Ruth Okafor")


def _order() -> Order:
    return sample_order()
