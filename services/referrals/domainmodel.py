"""Referrals: the episode from its referral to discontinuation, and the patient it is for.

`Episode` holds the referral, its acceptance or decline, the prior authorizations, order changes and
the discontinuation. Its events are the contract's referrals events. `Patient` holds what identifies
a person (name, birth date, address, phone); its events never leave this service (they are not in
the contract) and, like every event of this service, are stored encrypted.

Each public method checks the rules and then triggers one event; the `@event` methods only apply it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event
from eventsourcing.utils import register_topic

from events import Order, Payer, Prescriber
from events.models import CareTeamRole, DiscontinuationReason
from services.common.domain import ServiceAggregate
from services.common.errors import AlreadyRecorded, InvalidCommand, NotFound, RuleViolated
from services.common.values import calendar_date, contract_data, one_of, text, whole_number

DISCONTINUATION_REASONS = ("completed", "physician_order", "patient_choice", "transfer", "death", "other")
CARE_TEAM_ROLES = ("nurse", "pharmacist")
PATIENT_FIELDS = ("name", "birth_date", "address", "phone")


@dataclass(frozen=True)
class PatientDetails:
    """Who the patient is. Never logged, never in an event that leaves the referrals service."""

    name: str = field(repr=False)
    birth_date: date = field(repr=False)
    address: str = field(repr=False)
    phone: str = field(repr=False)

    def checked(self) -> PatientDetails:
        text("patient name", self.name)
        calendar_date("patient birth_date", self.birth_date)
        text("patient address", self.address)
        text("patient phone", self.phone)
        return self


class Patient(ServiceAggregate):
    """A patient's identifying details, keyed by the opaque `patient_ref` the events carry."""

    @staticmethod
    def create_id(patient_ref: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"carecoord:referrals/patient/{patient_ref}")

    @event("PatientRegistered")
    def __init__(self, patient_ref: str, name: str, birth_date: date, address: str, phone: str) -> None:
        self.patient_ref = patient_ref
        self.details = PatientDetails(name, birth_date, address, phone)

    @classmethod
    def register(cls, patient_ref: str, details: PatientDetails) -> Patient:
        text("patient_ref", patient_ref)
        details.checked()
        return cls(patient_ref, details.name, details.birth_date, details.address, details.phone)

    def change_details(self, changes: dict[str, Any]) -> list[str]:
        """Change the fields given (the others stay); the names of the fields given, in their order.

        Recorded even when a value is the one on record: whether it was is never told, so that a
        change cannot be used to guess a patient's details."""
        given = [name for name in PATIENT_FIELDS if changes.get(name) is not None]
        if not given:
            raise InvalidCommand(
                f"a change of patient details needs at least one of {', '.join(PATIENT_FIELDS)}"
            )
        details = replace(self.details, **{name: changes[name] for name in given}).checked()
        self._demographics_changed(details.name, details.birth_date, details.address, details.phone)
        return given

    # Private to this service (never in the contract): the values, stored encrypted. Named apart
    # from the contract's PatientDetailsChanged, which carries only the fields' names.
    @event("DemographicsChanged")
    def _demographics_changed(self, name: str, birth_date: date, address: str, phone: str) -> None:
        self.details = PatientDetails(name, birth_date, address, phone)

    def __repr__(self) -> str:  # the library's repr would show the demographics
        return f"Patient(id={self.id!r}, version={self.version}, patient_ref={self.patient_ref!r})"


def _identity_only_repr(self: Any) -> str:
    """The events that carry demographics show only which event they are, should one be logged."""
    return (
        f"{type(self).__qualname__}(originator_id={self.originator_id!r}, version={self.originator_version})"
    )


Patient.PatientRegistered.__repr__ = _identity_only_repr  # type: ignore[attr-defined]
Patient.DemographicsChanged.__repr__ = _identity_only_repr  # type: ignore[attr-defined]
# Stored before the rename under the contract type's name: read as what they are.
register_topic(
    "services.referrals.domainmodel:Patient.PatientDetailsChanged",
    Patient.DemographicsChanged,  # type: ignore[attr-defined]
)


@dataclass(frozen=True)
class Authorization:
    auth_number: str
    code: str
    start_date: date
    end_date: date
    units: int


class Episode(ServiceAggregate):
    """One care episode, from the referral received to therapy discontinued."""

    @staticmethod
    def create_id(episode_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"carecoord:referrals/episode/{episode_id}")

    @event("ReferralReceived")
    def __init__(
        self,
        episode_id: str,
        occurred_at: str,
        patient_ref: str,
        payer: dict[str, Any],
        prescriber: dict[str, Any],
        diagnosis_codes: list[str],
        order: dict[str, Any],
    ) -> None:
        self.episode_id = episode_id
        self.patient_ref = patient_ref
        self.payer = payer
        self.prescriber = prescriber
        self.diagnosis_codes = diagnosis_codes
        self.order = dict(order)
        self.accepted_on: date | None = None
        self.declined_reason: str | None = None
        self.discontinued_on: date | None = None
        self.authorizations: dict[str, Authorization] = {}
        self.care_team: dict[str, str] = {}  # member -> role

    @classmethod
    def receive(
        cls,
        episode_id: str,
        occurred_at: str,
        patient_ref: str,
        payer: Payer,
        prescriber: Prescriber,
        diagnosis_codes: list[str],
        order: Order,
    ) -> Episode:
        text("episode_id", episode_id)
        text("patient_ref", patient_ref)
        if not isinstance(diagnosis_codes, list | tuple) or not diagnosis_codes:
            raise InvalidCommand("diagnosis_codes: a referral needs at least one ICD-10 diagnosis code")
        for code in diagnosis_codes:
            text("diagnosis code", code)
        for name, value, model in (
            ("payer", payer, Payer),
            ("prescriber", prescriber, Prescriber),
            ("order", order, Order),
        ):
            if not isinstance(value, model):
                raise InvalidCommand(f"{name} must be an events.{model.__name__}, got {type(value).__name__}")
        contract_data(
            "ReferralReceived",
            patient_ref=patient_ref,
            payer=payer,
            prescriber=prescriber,
            diagnosis_codes=list(diagnosis_codes),
            order=order,
        )
        return cls(
            episode_id=episode_id,
            occurred_at=occurred_at,
            patient_ref=patient_ref,
            payer=payer.model_dump(),
            prescriber=prescriber.model_dump(),
            diagnosis_codes=list(diagnosis_codes),
            order=order.model_dump(),
        )

    # --- accept, decline -----------------------------------------------------------------------

    def accept(self, accepted_on: date, occurred_at: str) -> None:
        calendar_date("accepted_on", accepted_on)
        if self.declined_reason is not None:
            raise RuleViolated(
                f"the referral for episode {self.episode_id} was declined: it cannot be accepted"
            )
        if self.accepted_on is not None:
            raise AlreadyRecorded(
                f"the referral for episode {self.episode_id} was already accepted on {self.accepted_on}"
            )
        self._accepted(episode_id=self.episode_id, occurred_at=occurred_at, accepted_on=accepted_on)

    @event("ReferralAccepted")
    def _accepted(self, episode_id: str, occurred_at: str, accepted_on: date) -> None:
        self.accepted_on = accepted_on

    def decline(self, reason: str, occurred_at: str) -> None:
        text("reason", reason)
        if self.declined_reason is not None:
            raise AlreadyRecorded(f"the referral for episode {self.episode_id} was already declined")
        if self.accepted_on is not None:
            raise RuleViolated(
                f"the referral for episode {self.episode_id} was accepted on {self.accepted_on}: "
                "it cannot be declined (discontinue the therapy instead)"
            )
        self._declined(episode_id=self.episode_id, occurred_at=occurred_at, reason=reason)

    @event("ReferralDeclined")
    def _declined(self, episode_id: str, occurred_at: str, reason: str) -> None:
        self.declined_reason = reason

    # --- authorizations and orders -------------------------------------------------------------

    def record_authorization(
        self, auth_number: str, code: str, start_date: date, end_date: date, units: int, occurred_at: str
    ) -> None:
        text("auth_number", auth_number)
        text("code", code)
        calendar_date("start_date", start_date)
        calendar_date("end_date", end_date)
        whole_number("units", units)
        if units <= 0:
            raise InvalidCommand(f"authorization {auth_number}: units must be more than 0, got {units}")
        if end_date < start_date:
            raise InvalidCommand(
                f"authorization {auth_number}: end_date {end_date} is before start_date {start_date}"
            )
        self._require_open(f"authorization {auth_number}")
        self._authorization_recorded(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            auth_number=auth_number,
            code=code,
            start_date=start_date,
            end_date=end_date,
            units=units,
        )

    @event("AuthorizationRecorded")
    def _authorization_recorded(
        self,
        episode_id: str,
        occurred_at: str,
        auth_number: str,
        code: str,
        start_date: date,
        end_date: date,
        units: int,
    ) -> None:
        # A second one with the same number is a correction: the one recorded last counts.
        self.authorizations[auth_number] = Authorization(auth_number, code, start_date, end_date, units)

    def change_order(
        self,
        effective_on: date,
        occurred_at: str,
        dose: str | None = None,
        dosing_interval_hours: int | None = None,
    ) -> None:
        calendar_date("effective_on", effective_on)
        if dose is None and dosing_interval_hours is None:
            raise InvalidCommand("an order change must give a new dose or a new dosing interval")
        if dose is not None:
            text("dose", dose)
        if dosing_interval_hours is not None:
            whole_number("dosing_interval_hours", dosing_interval_hours)
        self._require_open("an order change")
        self._order_changed(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            effective_on=effective_on,
            dose=dose,
            dosing_interval_hours=dosing_interval_hours,
        )

    @event("OrderChanged")
    def _order_changed(
        self,
        episode_id: str,
        occurred_at: str,
        effective_on: date,
        dose: str | None,
        dosing_interval_hours: int | None,
    ) -> None:
        if dose is not None:
            self.order["dose"] = dose
        if dosing_interval_hours is not None:
            self.order["dosing_interval_hours"] = dosing_interval_hours

    # --- discontinuation -----------------------------------------------------------------------

    def discontinue(self, discontinued_on: date, reason: DiscontinuationReason, occurred_at: str) -> None:
        calendar_date("discontinued_on", discontinued_on)
        one_of("reason", reason, DISCONTINUATION_REASONS)
        if self.declined_reason is not None:
            raise RuleViolated(
                f"the referral for episode {self.episode_id} was declined: there is no therapy to discontinue"
            )
        if self.accepted_on is None:
            raise RuleViolated(
                f"the referral for episode {self.episode_id} was never accepted: decline it "
                "instead of discontinuing"
            )
        if self.discontinued_on is not None:
            raise AlreadyRecorded(
                f"therapy for episode {self.episode_id} was already discontinued on {self.discontinued_on}"
            )
        if discontinued_on < self.accepted_on:
            raise InvalidCommand(
                f"discontinued_on {discontinued_on} is before the referral was accepted on {self.accepted_on}"
            )
        self._discontinued(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            discontinued_on=discontinued_on,
            reason=reason,
        )

    @event("TherapyDiscontinued")
    def _discontinued(self, episode_id: str, occurred_at: str, discontinued_on: date, reason: str) -> None:
        self.discontinued_on = discontinued_on

    # --- the patient's details, the care team ---------------------------------------------------

    def record_patient_details_changed(self, fields: list[str], occurred_at: str) -> None:
        self._patient_details_changed(
            episode_id=self.episode_id, occurred_at=occurred_at, patient_ref=self.patient_ref, fields=fields
        )

    @event("PatientDetailsChanged")
    def _patient_details_changed(
        self, episode_id: str, occurred_at: str, patient_ref: str, fields: list[str]
    ) -> None:
        pass

    def assign_care_team(self, member: str, role: CareTeamRole, assigned_on: date, occurred_at: str) -> None:
        text("member", member)
        one_of("role", role, CARE_TEAM_ROLES)
        calendar_date("assigned_on", assigned_on)
        if self.declined_reason is not None:
            raise RuleViolated(
                f"the referral for episode {self.episode_id} was declined: it has no care team"
            )
        if member in self.care_team:
            raise AlreadyRecorded(
                f"{member} is already on the care team of episode {self.episode_id} "
                f"({self.care_team[member]})"
            )
        contract_data("CareTeamAssigned", member=member, role=role, assigned_on=assigned_on)
        self._care_team_assigned(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            member=member,
            role=role,
            assigned_on=assigned_on,
        )

    @event("CareTeamAssigned")
    def _care_team_assigned(
        self, episode_id: str, occurred_at: str, member: str, role: str, assigned_on: date
    ) -> None:
        self.care_team[member] = role

    def release_care_team(self, member: str, released_on: date, occurred_at: str) -> None:
        text("member", member)
        calendar_date("released_on", released_on)
        if member not in self.care_team:
            raise NotFound(f"{member} is not on the care team of episode {self.episode_id}")
        self._care_team_released(
            episode_id=self.episode_id, occurred_at=occurred_at, member=member, released_on=released_on
        )

    @event("CareTeamReleased")
    def _care_team_released(self, episode_id: str, occurred_at: str, member: str, released_on: date) -> None:
        self.care_team.pop(member, None)

    def _require_open(self, what: str) -> None:
        if self.declined_reason is not None:
            raise RuleViolated(
                f"the referral for episode {self.episode_id} was declined: cannot record {what}"
            )
        if self.discontinued_on is not None:
            raise RuleViolated(
                f"therapy for episode {self.episode_id} was discontinued on "
                f"{self.discontinued_on}: cannot record {what}"
            )
