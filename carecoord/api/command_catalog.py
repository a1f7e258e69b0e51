"""The commands the API accepts, in one table: name, service, who may send it, and its body.

Each command is the application method of the same name (`complete_delivery` ->
`DeliveriesApplication.complete_delivery`); its path is `/{service}/{episode_id}/{name with dashes}`
and its body holds the method's keyword arguments. The role matrix (roles.py), the endpoints
(commands.py), docs/roles.md and the README's table are all made from `COMMANDS`.
"""
# No `from __future__ import annotations` here: pydantic and FastAPI read the bodies' annotations.

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, StrictBool

from carecoord.api.models import (
    AuthUnits,
    BirthDate,
    Day,
    DaysSupply,
    Description,
    Findings,
    Hours,
    Id,
    ItemUnits,
    Period,
    RequestBody,
    Text,
    Timestamp,
)
from events import Order, Payer, Prescriber
from events.models import (
    AssessmentKind,
    CareTeamRole,
    ComplicationKind,
    CountingBasis,
    DiscontinuationReason,
    DoseGivenBy,
    FacilityKind,
    Route,
    Severity,
    VisitKind,
)
from services.referrals.domainmodel import PatientDetails

if TYPE_CHECKING:  # roles.py builds its matrix from this table; only the type is needed here
    from carecoord.api.roles import Role


class Command(RequestBody):
    occurred_at: Timestamp | None = None

    def arguments(self) -> dict[str, Any]:
        """The application method's keyword arguments (besides episode_id)."""
        return {name: getattr(self, name) for name in type(self).model_fields}


# --- referrals -------------------------------------------------------------------------------------


class PayerBody(RequestBody):
    payer_id: Id
    plan: Text | None = None
    member_ref: Text | None = None
    counting_basis: CountingBasis = "access"


class PrescriberBody(RequestBody):
    npi: Id
    name: Text


class OrderBody(RequestBody):
    drug: Text
    drug_code: Id
    route: Route
    dose: Text
    dosing_interval_hours: Hours
    start_date: Day


class PatientBody(RequestBody):
    """Who the patient is: stored encrypted by the referrals service, never given back by the API."""

    name: Text
    birth_date: BirthDate
    address: Text
    phone: Text


class ReceiveReferral(Command):
    patient_ref: Id
    payer: PayerBody
    prescriber: PrescriberBody
    diagnosis_codes: Annotated[list[Id], Field(max_length=50, description="ICD-10 codes")]
    order: OrderBody
    patient: Annotated[
        PatientBody | None,
        Field(
            description="who the patient is: required when patient_ref is new (not registered before), "
            "and left out when it is not (a referral never changes a patient's details: "
            "change-patient-details does)"
        ),
    ] = None

    def arguments(self) -> dict[str, Any]:
        return {
            "patient_ref": self.patient_ref,
            "payer": Payer(**self.payer.model_dump()),
            "prescriber": Prescriber(**self.prescriber.model_dump()),
            "diagnosis_codes": list(self.diagnosis_codes),
            "order": Order(**self.order.model_dump()),
            "patient": PatientDetails(**self.patient.model_dump()) if self.patient else None,
            "occurred_at": self.occurred_at,
        }


class ChangePatientDetails(Command):
    """The fields to change (at least one); the timeline records their names, never their values."""

    name: Text | None = None
    birth_date: BirthDate | None = None
    address: Text | None = None
    phone: Text | None = None


class AssignCareTeam(Command):
    member: Annotated[Id, Field(description="the staff member's token subject (`sub`)")]
    role: CareTeamRole
    assigned_on: Day


class ReleaseCareTeam(Command):
    member: Id
    released_on: Day


class AcceptReferral(Command):
    accepted_on: Day


class DeclineReferral(Command):
    reason: Text


class RecordAuthorization(Command):
    auth_number: Id
    start_date: Day
    end_date: Day
    units: AuthUnits
    code: Id = "S9363"


class ChangeOrder(Command):
    effective_on: Day
    dose: Text | None = None
    dosing_interval_hours: Hours | None = None


class DiscontinueTherapy(Command):
    discontinued_on: Day
    reason: DiscontinuationReason


# --- assessments, deliveries, visits, complications -----------------------------------------------


class CompleteAssessment(Command):
    assessment_id: Id
    kind: AssessmentKind
    assessed_on: Day
    eligible: StrictBool
    clinician: Text
    findings: Findings = None


class ScheduleDelivery(Command):
    delivery_id: Id
    scheduled_for: Day


class DeliveryItemBody(RequestBody):
    code: Id
    units: ItemUnits
    description: Description = ""


class CompleteDelivery(Command):
    delivery_id: Id
    delivered_on: Day
    days_supply: DaysSupply
    items: Annotated[list[DeliveryItemBody], Field(min_length=1, max_length=100)]

    def arguments(self) -> dict[str, Any]:
        return {**super().arguments(), "items": [item.model_dump() for item in self.items]}


class CorrectDelivery(CompleteDelivery):
    correction: Annotated[Text, Field(description="why the earlier completion was wrong")]


class FailDelivery(Command):
    delivery_id: Id
    reason: Text


class VoidDelivery(Command):
    delivery_id: Id
    reason: Text


class ScheduleVisit(Command):
    visit_id: Id
    scheduled_for: Day
    kind: VisitKind


class CompleteVisit(Command):
    visit_id: Id
    started_at: Timestamp
    ended_at: Timestamp
    administered: StrictBool
    nurse: Text
    kind: VisitKind | None = None


class CorrectVisit(CompleteVisit):
    correction: Annotated[Text, Field(description="why the earlier completion was wrong")]


class MissVisit(Command):
    visit_id: Id
    reason: Text


class VoidVisit(Command):
    visit_id: Id
    reason: Text


class LogDose(Command):
    administered_on: Day
    by: DoseGivenBy


class ReportComplication(Command):
    complication_id: Id
    kind: ComplicationKind
    severity: Severity
    onset_on: Day


class ResolveComplication(Command):
    complication_id: Id
    resolved_on: Day


class HoldTherapy(Command):
    held_from: Day
    reason: Text


class ResumeTherapy(Command):
    resumed_on: Day


class AdmitToHospital(Command):
    admitted_on: Day
    facility_kind: FacilityKind = "hospital"


class DischargeFromHospital(Command):
    discharged_on: Day


# --- claims --------------------------------------------------------------------------------------


class SubmitClaim(Command):
    """The claim to submit is not in the body: it is what the period's action calls for, computed
    from the read models (carecoord/api/claims.py)."""

    period: Period
    submitted_on: Day


@dataclass(frozen=True)
class CommandSpec:
    """One command: the application method `name` of `service`, its body, the roles that may send it.

    `generic` False: the endpoint is not the method called with the body (commands.py) but one of
    its own (`submit`: carecoord/api/claims.py); it is listed here for the role matrix."""

    name: str
    service: str
    body: type[Command]
    roles: "frozenset[Role]"
    generic: bool = True

    @property
    def path(self) -> str:
        return f"/{self.service}/{{episode_id}}/{self.name.replace('_', '-')}"


def _spec(name: str, service: str, body: type[Command], *roles: "Role", generic: bool = True) -> CommandSpec:
    return CommandSpec(name, service, body, frozenset(roles), generic)


COMMANDS: tuple[CommandSpec, ...] = (
    _spec("receive_referral", "referrals", ReceiveReferral, "coordinator"),
    _spec("accept_referral", "referrals", AcceptReferral, "coordinator"),
    _spec("decline_referral", "referrals", DeclineReferral, "coordinator"),
    _spec("record_authorization", "referrals", RecordAuthorization, "coordinator"),
    _spec("change_order", "referrals", ChangeOrder, "pharmacist"),
    _spec("discontinue_therapy", "referrals", DiscontinueTherapy, "coordinator"),
    _spec("change_patient_details", "referrals", ChangePatientDetails, "coordinator"),
    _spec("assign_care_team", "referrals", AssignCareTeam, "coordinator"),
    _spec("release_care_team", "referrals", ReleaseCareTeam, "coordinator"),
    _spec("complete_assessment", "assessments", CompleteAssessment, "nurse"),
    _spec("schedule_delivery", "deliveries", ScheduleDelivery, "pharmacist"),
    _spec("complete_delivery", "deliveries", CompleteDelivery, "pharmacist"),
    _spec("correct_delivery", "deliveries", CorrectDelivery, "pharmacist"),
    _spec("fail_delivery", "deliveries", FailDelivery, "pharmacist"),
    _spec("void_delivery", "deliveries", VoidDelivery, "pharmacist"),
    _spec("schedule_visit", "visits", ScheduleVisit, "nurse"),
    _spec("complete_visit", "visits", CompleteVisit, "nurse"),
    _spec("correct_visit", "visits", CorrectVisit, "nurse"),
    _spec("miss_visit", "visits", MissVisit, "nurse"),
    _spec("void_visit", "visits", VoidVisit, "nurse"),
    _spec("log_dose", "visits", LogDose, "nurse"),
    _spec("report_complication", "complications", ReportComplication, "nurse"),
    _spec("resolve_complication", "complications", ResolveComplication, "nurse"),
    _spec("hold_therapy", "complications", HoldTherapy, "coordinator"),
    _spec("resume_therapy", "complications", ResumeTherapy, "coordinator"),
    _spec("admit_to_hospital", "complications", AdmitToHospital, "coordinator"),
    _spec("discharge_from_hospital", "complications", DischargeFromHospital, "coordinator"),
    _spec("submit", "claims", SubmitClaim, "biller", generic=False),
)
COMMAND_BY_NAME: dict[str, CommandSpec] = {spec.name: spec for spec in COMMANDS}
