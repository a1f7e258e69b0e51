"""Helpers for the services' tests (and the demo): sample referrals, a refused-command check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import pytest

from carecoord.bootstrap import Services
from events import Order, Payer, Prescriber
from events.models import AssessmentKind
from services.common.application import ServiceApplication
from services.common.errors import DomainError
from services.referrals.domainmodel import PatientDetails

EASTERN = timezone(timedelta(hours=-5), "EST")


def at(day: date | str, hour: int = 9, minute: int = 0, tz: timezone = EASTERN) -> datetime:
    """An aware datetime on a local date (Eastern by default)."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=tz)


def sample_order(start_date: date = date(2026, 3, 2), interval: int = 0) -> Order:
    return Order(
        drug="baclofen",
        drug_code="J0475",
        route="intrathecal",
        dose="200 mcg/day",
        dosing_interval_hours=interval,
        start_date=start_date,
    )


def sample_patient(name: str = "Agnes Quillfeather") -> PatientDetails:
    return PatientDetails(
        name=name, birth_date=date(1961, 7, 14), address="12 Larkspur Lane, Dover", phone="555-0142"
    )


def receive(
    services: Services,
    episode_id: str = "ep-1",
    patient_ref: str = "pt-1",
    patient: PatientDetails | None = None,
    occurred_at: datetime | None = None,
    start_date: date = date(2026, 3, 2),
) -> None:
    services.referrals.receive_referral(
        episode_id=episode_id,
        patient_ref=patient_ref,
        patient=patient or sample_patient(),
        payer=Payer(payer_id="bcbs-nd", plan="PPO", member_ref="M-1"),
        prescriber=Prescriber(npi="1234567890", name="Dr. Ruth Okafor"),
        diagnosis_codes=["G35"],
        order=sample_order(start_date),
        occurred_at=occurred_at or at(start_date - timedelta(days=2)),
    )


def open_episode(services: Services, episode_id: str = "ep-1", accepted_on: date = date(2026, 3, 2)) -> None:
    """A received and accepted referral."""
    receive(services, episode_id, patient_ref=f"pt-{episode_id}")
    services.referrals.accept_referral(episode_id, accepted_on, at(accepted_on, 8))


def assess(
    services: Services,
    episode_id: str = "ep-1",
    assessment_id: str = "as-1",
    assessed_on: date = date(2026, 3, 2),
    kind: AssessmentKind = "initial",
) -> None:
    """An assessment that finds the patient eligible."""
    services.assessments.complete_assessment(
        episode_id,
        assessment_id=assessment_id,
        kind=kind,
        assessed_on=assessed_on,
        eligible=True,
        clinician="RN Dana Whitfield",
    )


def assert_refused(
    app: ServiceApplication, command: Callable[[], object], error: type[DomainError], match: str
) -> None:
    """The command raises `error` with a message matching `match`, and the app stored nothing."""
    before = app.max_position()
    with pytest.raises(error, match=match):
        command()
    assert app.max_position() == before, "a refused command stored events"


def event_types(app: ServiceApplication) -> list[str]:
    return [event.event_type for _, event in app.contract_events()]
