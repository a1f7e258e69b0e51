"""Who did what, patient details, care teams and corrections, at the services (no HTTP)."""

from __future__ import annotations

from datetime import date

import pytest

from carecoord.bootstrap import Services
from events import DeliveryCompleted, VisitCompleted
from services.common.actor import acting_as
from services.common.errors import AlreadyRecorded, EpisodeUnknown, InvalidCommand, NotFound, RuleViolated
from services.deliveries.domainmodel import Item
from tests.support.services import EASTERN, assert_refused, at, open_episode, receive, sample_patient

ITEMS = [Item("J0475", 4, "baclofen 10 mg")]


def contract_events(services: Services, service: str) -> list:  # type: ignore[type-arg]
    return [event for _, event in getattr(services, service).contract_events()]


def test_every_stored_event_records_who_caused_it(services: Services) -> None:
    with acting_as("alice", "coordinator"):
        receive(services, "ep-1", "pt-1")
    services.referrals.accept_referral("ep-1", date(2026, 3, 2))  # no person: the service itself
    received, accepted = contract_events(services, "referrals")
    assert received.recorded_by is not None
    assert (received.recorded_by.subject, received.recorded_by.role) == ("alice", "coordinator")
    assert accepted.recorded_by is not None
    assert (accepted.recorded_by.subject, accepted.recorded_by.role) == ("referrals", "service")
    with acting_as("pharm-ann", "pharmacist"):
        services.deliveries.complete_delivery(
            "ep-1", delivery_id="d-1", delivered_on=date(2026, 3, 3), days_supply=7, items=ITEMS
        )
    [delivery] = contract_events(services, "deliveries")
    assert delivery.recorded_by is not None and delivery.recorded_by.subject == "pharm-ann"


@pytest.mark.parametrize(
    "findings",
    [
        {"x": float("nan")},
        {"x": [float("inf")]},
        {"x": "a\x00b"},
        {"a\x00": 1},
        {"x": "\ud800"},
        {"n": {"n": {"n": {}}}} | {"deep": eval("{'n': " * 40 + "1" + "}" * 40)},
        {"big": "x" * 20_000},
    ],
    ids=["nan", "inf", "nul", "nul-key", "surrogate", "deep", "big"],
)
def test_the_assessments_service_refuses_findings_no_store_keeps_alike(
    services: Services, findings: dict[str, object]
) -> None:
    open_episode(services, "ep-1")
    assert_refused(
        services.assessments,
        lambda: services.assessments.complete_assessment(
            "ep-1",
            assessment_id="a-1",
            kind="initial",
            assessed_on=date(2026, 3, 2),
            eligible=True,
            clinician="RN A",
            findings=findings,
        ),
        InvalidCommand,
        "findings",
    )


def test_a_referral_never_changes_a_known_patients_details(services: Services) -> None:
    receive(services, "ep-1", "pt-1")
    assert_refused(
        services.referrals,
        lambda: receive(services, "ep-2", "pt-1", patient=sample_patient("Someone Else")),
        AlreadyRecorded,
        "change-patient-details",
    )
    assert services.referrals.patient_details("pt-1").name == "Agnes Quillfeather"


def test_changing_patient_details_is_its_own_command_naming_only_the_fields(services: Services) -> None:
    receive(services, "ep-1", "pt-1")
    with acting_as("alice", "coordinator"):
        services.referrals.change_patient_details(
            "ep-1", name="Agnes Q. Smith", address="3 Elm Row", occurred_at=at("2026-03-05")
        )
    assert services.referrals.patient_details("pt-1").name == "Agnes Q. Smith"
    assert services.referrals.patient_details("pt-1").phone == "555-0142"
    changed = contract_events(services, "referrals")[-1]
    assert changed.event_type == "PatientDetailsChanged"
    assert changed.data.model_dump() == {"patient_ref": "pt-1", "fields": ["name", "address"]}
    assert "Smith" not in changed.model_dump_json() and "Elm" not in changed.model_dump_json()
    assert_refused(
        services.referrals,
        lambda: services.referrals.change_patient_details("ep-1"),
        InvalidCommand,
        "at least one",
    )
    assert_refused(
        services.referrals,
        lambda: services.referrals.change_patient_details("ep-9", name="X"),
        EpisodeUnknown,
        "ep-9",
    )


def test_care_teams_are_assigned_and_released(services: Services) -> None:
    open_episode(services, "ep-1")
    referrals = services.referrals
    referrals.assign_care_team("ep-1", member="rn-lee", role="nurse", assigned_on=date(2026, 3, 2))
    referrals.assign_care_team("ep-1", member="ph-ann", role="pharmacist", assigned_on=date(2026, 3, 2))
    assert_refused(
        referrals,
        lambda: referrals.assign_care_team(
            "ep-1", member="rn-lee", role="nurse", assigned_on=date(2026, 3, 3)
        ),
        AlreadyRecorded,
        "rn-lee",
    )
    assert_refused(
        referrals,
        lambda: referrals.assign_care_team("ep-1", member="x", role="doctor", assigned_on=date(2026, 3, 3)),  # type: ignore[arg-type]
        InvalidCommand,
        "role",
    )
    referrals.release_care_team("ep-1", member="rn-lee", released_on=date(2026, 3, 9))
    assert_refused(
        referrals,
        lambda: referrals.release_care_team("ep-1", member="rn-lee", released_on=date(2026, 3, 9)),
        NotFound,
        "rn-lee",
    )
    types = [e.event_type for e in contract_events(services, "referrals")][-3:]
    assert types == ["CareTeamAssigned", "CareTeamAssigned", "CareTeamReleased"]


def test_a_nurse_acts_only_on_the_episodes_whose_care_team_she_is_on(services: Services) -> None:
    open_episode(services, "ep-1")
    open_episode(services, "ep-2")
    services.referrals.assign_care_team("ep-1", member="rn-lee", role="nurse", assigned_on=date(2026, 3, 2))

    def dose(episode_id: str) -> None:
        services.visits.log_dose(episode_id, administered_on=date(2026, 3, 4), by="nurse")

    with acting_as("rn-lee", "nurse"):
        dose("ep-1")
        with pytest.raises(EpisodeUnknown, match="episode ep-2 is unknown"):
            dose("ep-2")
    with acting_as("rn-kim", "nurse"), pytest.raises(EpisodeUnknown):
        dose("ep-1")
    with acting_as("ph-ann", "pharmacist"):  # pharmacists keep their reach
        services.deliveries.schedule_delivery("ep-2", delivery_id="d-1", scheduled_for=date(2026, 3, 3))
    services.referrals.release_care_team("ep-1", member="rn-lee", released_on=date(2026, 3, 9))
    with acting_as("rn-lee", "nurse"), pytest.raises(EpisodeUnknown):
        dose("ep-1")


def test_a_delivery_is_corrected_by_a_new_completion_with_its_reason(services: Services) -> None:
    open_episode(services, "ep-1")
    deliveries = services.deliveries
    deliveries.complete_delivery(
        "ep-1", delivery_id="d-1", delivered_on=date(2026, 3, 3), days_supply=7, items=ITEMS
    )
    deliveries.correct_delivery(
        "ep-1",
        delivery_id="d-1",
        delivered_on=date(2026, 3, 3),
        days_supply=14,
        items=ITEMS,
        correction="typed 7 for 14 days",
    )
    first, corrected = [
        e for e in contract_events(services, "deliveries") if e.event_type == "DeliveryCompleted"
    ]
    assert isinstance(corrected.data, DeliveryCompleted) and isinstance(first.data, DeliveryCompleted)
    assert (first.data.correction, corrected.data.correction) == (None, "typed 7 for 14 days")
    assert corrected.data.days_supply == 14
    for delivery_id, error in (("d-9", NotFound), ("d-1", InvalidCommand)):
        assert_refused(
            deliveries,
            lambda delivery_id=delivery_id: deliveries.correct_delivery(  # type: ignore[misc]
                "ep-1",
                delivery_id=delivery_id,
                delivered_on=date(2026, 3, 3),
                days_supply=14,
                items=ITEMS,
                correction="" if delivery_id == "d-1" else "why",
            ),
            error,
            "d-",
        )
    deliveries.void_delivery("ep-1", delivery_id="d-1", reason="wrong patient")
    assert_refused(
        deliveries,
        lambda: deliveries.correct_delivery(
            "ep-1",
            delivery_id="d-1",
            delivered_on=date(2026, 3, 3),
            days_supply=7,
            items=ITEMS,
            correction="x",
        ),
        RuleViolated,
        "voided",
    )


def test_a_visit_is_corrected_by_a_new_completion_with_its_reason(services: Services) -> None:
    open_episode(services, "ep-1")
    visits = services.visits
    start = at("2026-03-03", 9, tz=EASTERN)
    visits.complete_visit(
        "ep-1",
        visit_id="v-1",
        started_at=start,
        ended_at=at("2026-03-03", 10),
        administered=True,
        nurse="RN Lee",
        kind="start_of_care",
    )
    visits.correct_visit(
        "ep-1",
        visit_id="v-1",
        started_at=start,
        ended_at=at("2026-03-03", 12),
        administered=True,
        nurse="RN Lee",
        kind="start_of_care",
        correction="ended at noon",
    )
    completions = [e for e in contract_events(services, "visits") if e.event_type == "VisitCompleted"]
    assert isinstance(completions[-1].data, VisitCompleted)
    assert completions[-1].data.correction == "ended at noon" and completions[-1].data.ended_at.startswith(
        "2026-03-03T12"
    )
    assert_refused(
        visits,
        lambda: visits.correct_visit(
            "ep-1",
            visit_id="v-2",
            started_at=start,
            ended_at=at("2026-03-03", 12),
            administered=True,
            nurse="RN Lee",
            kind="follow_up",
            correction="x",
        ),
        NotFound,
        "v-2",
    )
