"""The public event contract, version 1 (shared/contract.md), as typed models.

One model per event type holds the type's `data`; `Event` is the envelope. Validation is
strict by design: a number sent as a string, `14.0` for a whole number or `true` for a number
does not fit, because other teams' consumers are written against these exact types.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)

CURRENT_SCHEMA_VERSION = 1

# RFC 3339 with an offset, and a real calendar date (leap years included), checked by pydantic-core's
# regex engine so that no Python runs per timestamp: the hot path of a million-event replay.
# Digits are [0-9], never \d: both regex engines read \d as any Unicode digit ("1٤:00"), which
# `datetime.fromisoformat` then refuses, crashing the replay instead of rejecting the line.
_YEAR = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_CALENDAR_DATE = (
    rf"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    rf"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|{_LEAP_YEAR}-02-29)"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
RFC3339_PATTERN = rf"^{_CALENDAR_DATE}[Tt]{_TIME}{_OFFSET}$"
# A claim's period: a real calendar month, YYYY-MM.
PERIOD_PATTERN = rf"^{_YEAR}-(?:0[1-9]|1[0-2])$"
DATE_PATTERN = rf"^{_CALENDAR_DATE}$"  # a real calendar date YYYY-MM-DD (the JSON Schema's)
_RFC3339 = re.compile(RFC3339_PATTERN)


def instant(timestamp: str) -> datetime:
    """The aware datetime of an RFC 3339 timestamp (already validated by the contract)."""
    try:
        return datetime.fromisoformat(timestamp)
    except ValueError:  # RFC 3339 allows a lower-case `t` and `z`
        return datetime.fromisoformat(timestamp.upper())


def check_rfc3339(value: str) -> str:
    """The same check as the contract's, for timestamps that come from elsewhere (CLI, API).

    `fullmatch`: Python's `$` also matches before a final newline, which `fromisoformat` refuses.
    """
    if not _RFC3339.fullmatch(value):
        raise ValueError(f"expected an RFC 3339 timestamp with an offset and a real date, got {value!r}")
    return value


# Timestamps keep the text they were sent with, so what goes out equals what came in;
# `instant()` gives the comparable value.
Timestamp = Annotated[str, Field(pattern=RFC3339_PATTERN)]
WholeNumber = Annotated[int, Field(ge=0)]
PositiveWholeNumber = Annotated[int, Field(gt=0)]
Period = Annotated[str, Field(pattern=PERIOD_PATTERN)]
# Identifiers and codes are never empty; free text (names, reasons, doses) is any string, as the
# contract says: an empty reason is a poor record, not a reason to lose the event.
Text = Annotated[str, Field(min_length=1)]

CountingBasis = Literal["access", "infusion_day", "visit_day"]
Route = Literal["intravenous", "intrathecal", "subcutaneous"]
DiscontinuationReason = Literal[
    "completed", "physician_order", "patient_choice", "transfer", "death", "other"
]
AssessmentKind = Literal["initial", "reassessment"]
VisitKind = Literal["start_of_care", "follow_up", "line_care", "teaching", "discharge"]
DoseGivenBy = Literal["nurse", "patient", "caregiver"]
ComplicationKind = Literal[
    "line_infection",
    "site_irritation",
    "bleeding",
    "bruising",
    "allergic_reaction",
    "medication_side_effect",
    "catheter_complication",
]
Severity = Literal["mild", "moderate", "severe"]
FacilityKind = Literal["hospital", "critical_access_hospital", "skilled_nursing_facility"]
ClaimFrequency = Literal["original", "replacement", "void"]
Source = Literal["referrals", "assessments", "deliveries", "visits", "complications", "claims"]
# The services, in the contract's order: every list of services in the project is this one.
SERVICE_NAMES: tuple[Source, ...] = get_args(Source)


def _also_null(schema: dict[str, Any]) -> None:
    """The field's JSON Schema also admits null, which the parser reads as the default."""
    options = {key: schema.pop(key) for key in ("enum", "type", "const") if key in schema}
    schema["anyOf"] = [options, {"type": "null"}]


def _never_null(schema: dict[str, Any]) -> None:
    """An optional field that is an object when present: null does not fit (the parser agrees)."""
    options = [option for option in schema.pop("anyOf", []) if option.get("type") != "null"]
    schema.update(options[0] if len(options) == 1 else {"anyOf": options})
    schema.pop("default", None)


class ContractModel(BaseModel):
    """Strict, immutable, and tolerant of unknown fields (consumers must accept added fields)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


# --- referrals -------------------------------------------------------------------------------


class Payer(ContractModel):
    payer_id: Text
    plan: str | None = None
    member_ref: str | None = None
    # Optional: absent or null means NHIA's access days.
    counting_basis: Annotated[
        CountingBasis,
        BeforeValidator(lambda v: "access" if v is None else v),
        Field(json_schema_extra=_also_null),
    ] = "access"


class Prescriber(ContractModel):
    npi: Text
    name: str


class Order(ContractModel):
    drug: str
    drug_code: Text
    route: Route
    dose: str
    dosing_interval_hours: WholeNumber
    start_date: date


class ReferralReceived(ContractModel):
    patient_ref: Text
    payer: Payer
    prescriber: Prescriber
    diagnosis_codes: list[Text]
    order: Order


class ReferralAccepted(ContractModel):
    accepted_on: date


class ReferralDeclined(ContractModel):
    reason: str


class AuthorizationRecorded(ContractModel):
    auth_number: Text
    code: Text
    start_date: date
    end_date: date
    units: WholeNumber

    @field_validator("end_date")
    @classmethod
    def _end_not_before_start(cls, end_date: date, info: ValidationInfo) -> date:
        start_date = info.data.get("start_date")
        if start_date is not None and end_date < start_date:
            raise ValueError(f"end_date {end_date} is before start_date {start_date}")
        return end_date


class OrderChanged(ContractModel):
    effective_on: date
    dose: str | None = None
    dosing_interval_hours: WholeNumber | None = None


class TherapyDiscontinued(ContractModel):
    discontinued_on: date
    reason: DiscontinuationReason


class PatientDetailsChanged(ContractModel):
    """A coordinator changed the patient's demographics: the names of the fields, never their values."""

    patient_ref: Text
    fields: list[Text]


CareTeamRole = Literal["nurse", "pharmacist"]


class CareTeamAssigned(ContractModel):
    member: Text  # a staff subject (the token's `sub`), never patient data
    role: CareTeamRole
    assigned_on: date


class CareTeamReleased(ContractModel):
    member: Text
    released_on: date


# --- assessments -----------------------------------------------------------------------------


class AssessmentCompleted(ContractModel):
    assessment_id: Text
    kind: AssessmentKind
    assessed_on: date
    eligible: bool
    clinician: str
    findings: dict[str, Any] | None = None


# --- deliveries ------------------------------------------------------------------------------


class DeliveryItem(ContractModel):
    code: Text
    description: str
    units: WholeNumber


class DeliveryScheduled(ContractModel):
    delivery_id: Text
    scheduled_for: date


class DeliveryCompleted(ContractModel):
    delivery_id: Text
    delivered_on: date
    days_supply: WholeNumber
    items: list[DeliveryItem]
    # Set when it corrects an earlier completion of the same delivery_id: why. The last recorded counts.
    correction: Annotated[str | None, Field(exclude_if=lambda v: v is None)] = None


class DeliveryFailed(ContractModel):
    delivery_id: Text
    reason: str


class DeliveryVoided(ContractModel):
    delivery_id: Text
    reason: str


# --- visits ----------------------------------------------------------------------------------


class VisitScheduled(ContractModel):
    visit_id: Text
    scheduled_for: date
    kind: VisitKind


class VisitCompleted(ContractModel):
    visit_id: Text
    kind: VisitKind
    visit_date: date
    started_at: Timestamp
    ended_at: Timestamp
    administered: bool
    nurse: str
    correction: Annotated[str | None, Field(exclude_if=lambda v: v is None)] = None  # as for deliveries

    @field_validator("ended_at")
    @classmethod
    def _ends_after_start(cls, ended_at: str, info: ValidationInfo) -> str:
        started_at = info.data.get("started_at")
        if started_at is not None and instant(ended_at) < instant(started_at):
            raise ValueError(f"ended_at {ended_at} is before started_at {started_at}")
        return ended_at


class VisitMissed(ContractModel):
    visit_id: Text
    reason: str


class VisitVoided(ContractModel):
    visit_id: Text
    reason: str


class DoseAdministered(ContractModel):
    administered_on: date
    by: DoseGivenBy


# --- complications ---------------------------------------------------------------------------


class ComplicationReported(ContractModel):
    complication_id: Text
    kind: ComplicationKind
    severity: Severity
    onset_on: date


class ComplicationResolved(ContractModel):
    complication_id: Text
    resolved_on: date


class TherapyHeld(ContractModel):
    held_from: date
    reason: str


class TherapyResumed(ContractModel):
    resumed_on: date


class HospitalAdmitted(ContractModel):
    admitted_on: date
    facility_kind: FacilityKind


class HospitalDischarged(ContractModel):
    discharged_on: date


# --- claims (shared/claims.md) ----------------------------------------------------------------


class SubmittedLine(ContractModel):
    """One line of a sent claim, with exactly the five fields of a claim line.

    `from` and `to` are Python keywords: the fields are named like `projections`' claim lines and
    travel under their contract names. `authorization` is required but may be null, so it is
    written even when null (the envelope is written with absent optionals left out).
    """

    model_config = ConfigDict(serialize_by_alias=True)

    code: Text
    from_date: date = Field(alias="from")
    to_date: date = Field(alias="to")
    units: PositiveWholeNumber
    authorization: Text | None

    @field_validator("to_date")
    @classmethod
    def _to_not_before_from(cls, to_date: date, info: ValidationInfo) -> date:
        from_date = info.data.get("from_date")
        if from_date is not None and to_date < from_date:
            raise ValueError(f"to {to_date} is before from {from_date}")
        return to_date

    @model_serializer(mode="wrap")
    def _with_null_authorization(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        written: dict[str, Any] = handler(self)
        written.setdefault("authorization", None)
        return written

    @classmethod
    def of(
        cls, code: str, from_date: date, to_date: date, units: int, authorization: str | None
    ) -> SubmittedLine:
        """A line from Python values (fields go in under their contract names: no second spelling
        of `from` is accepted on the wire)."""
        return cls.model_validate(
            {"code": code, "from": from_date, "to": to_date, "units": units, "authorization": authorization}
        )


# The cross-field rules of a claim, for the JSON Schema (parsing checks them in the validators below).
_CLAIM_FREQUENCY_RULES: list[JsonValue] = [
    {
        "if": {"properties": {"frequency": {"const": "original"}}, "required": ["frequency"]},
        "then": {"properties": {"replaces": {"type": "null"}, "lines": {"minItems": 1}}},
    },
    {
        "if": {"properties": {"frequency": {"const": "replacement"}}, "required": ["frequency"]},
        "then": {
            "required": ["replaces"],
            "properties": {"replaces": {"type": "string", "minLength": 1}, "lines": {"minItems": 1}},
        },
    },
    {
        "if": {"properties": {"frequency": {"const": "void"}}, "required": ["frequency"]},
        "then": {
            "required": ["replaces"],
            "properties": {"replaces": {"type": "string", "minLength": 1}, "lines": {"maxItems": 0}},
        },
    },
]


class ClaimSubmitted(ContractModel):
    """A claim sent to the payer for one episode and calendar month (shared/claims.md)."""

    model_config = ConfigDict(json_schema_extra={"allOf": _CLAIM_FREQUENCY_RULES})

    claim_id: Text
    period: Period
    frequency: ClaimFrequency
    # Validated even when absent, so that a replacement or void without it is refused.
    replaces: Text | None = Field(default=None, validate_default=True)
    submitted_on: date
    lines: list[SubmittedLine]

    @field_validator("replaces")
    @classmethod
    def _replaces_only_a_replacement_or_void(cls, replaces: str | None, info: ValidationInfo) -> str | None:
        frequency = info.data.get("frequency")
        if frequency == "original" and replaces is not None:
            raise ValueError(f"expected none on an original claim (it replaces nothing), got {replaces!r}")
        if frequency in ("replacement", "void") and replaces is None:
            raise ValueError(f"required on a claim of frequency {frequency}: the claim_id it replaces")
        return replaces

    @field_validator("lines")
    @classmethod
    def _lines_fit_the_frequency(
        cls, lines: list[SubmittedLine], info: ValidationInfo
    ) -> list[SubmittedLine]:
        frequency = info.data.get("frequency")
        if frequency == "void" and lines:
            raise ValueError(f"expected no line on a void claim, got {len(lines)}")
        if frequency in ("original", "replacement") and not lines:
            raise ValueError(f"expected at least one line on a claim of frequency {frequency}")
        return lines


EventData = (
    ReferralReceived
    | ReferralAccepted
    | ReferralDeclined
    | AuthorizationRecorded
    | OrderChanged
    | TherapyDiscontinued
    | PatientDetailsChanged
    | CareTeamAssigned
    | CareTeamReleased
    | AssessmentCompleted
    | DeliveryScheduled
    | DeliveryCompleted
    | DeliveryFailed
    | DeliveryVoided
    | VisitScheduled
    | VisitCompleted
    | VisitMissed
    | VisitVoided
    | DoseAdministered
    | ComplicationReported
    | ComplicationResolved
    | TherapyHeld
    | TherapyResumed
    | HospitalAdmitted
    | HospitalDischarged
    | ClaimSubmitted
)

# The service that owns each event type: an event from another source does not fit.
SOURCE_OF: dict[type[BaseModel], Source] = {
    ReferralReceived: "referrals",
    ReferralAccepted: "referrals",
    ReferralDeclined: "referrals",
    AuthorizationRecorded: "referrals",
    OrderChanged: "referrals",
    TherapyDiscontinued: "referrals",
    PatientDetailsChanged: "referrals",
    CareTeamAssigned: "referrals",
    CareTeamReleased: "referrals",
    AssessmentCompleted: "assessments",
    DeliveryScheduled: "deliveries",
    DeliveryCompleted: "deliveries",
    DeliveryFailed: "deliveries",
    DeliveryVoided: "deliveries",
    VisitScheduled: "visits",
    VisitCompleted: "visits",
    VisitMissed: "visits",
    VisitVoided: "visits",
    DoseAdministered: "visits",
    ComplicationReported: "complications",
    ComplicationResolved: "complications",
    TherapyHeld: "complications",
    TherapyResumed: "complications",
    HospitalAdmitted: "complications",
    HospitalDischarged: "complications",
    ClaimSubmitted: "claims",
}

DATA_MODELS: dict[str, type[BaseModel]] = {model.__name__: model for model in SOURCE_OF}


class RecordedBy(ContractModel):
    """Who caused an event: a token's subject and role, or a service's own identity (role `service`).
    Staff identifiers, never patient data."""

    subject: Text
    role: Text


class Event(ContractModel):
    """The envelope every event travels in, on Kafka and in a history file."""

    event_id: Text
    event_type: str
    schema_version: Literal[1]
    source: Source
    episode_id: Text
    occurred_at: Timestamp
    recorded_at: Timestamp
    data: EventData
    # Optional: histories written before it are valid. When present, an object (never null).
    # Left out of every dump when absent (a dump with `null` would not fit the contract).
    recorded_by: Annotated[
        RecordedBy | None, Field(json_schema_extra=_never_null, exclude_if=lambda v: v is None)
    ] = None

    @field_validator("recorded_by", mode="before")
    @classmethod
    def _recorded_by_is_an_object(cls, value: object) -> object:
        if value is None:
            raise ValueError("expected an object with subject and role, got None")
        return value

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version_is_a_whole_number(cls, version: object) -> object:
        """`schema_version` is a whole number: `true` or `1.0` for it is mistyped, as for any number.

        (`Literal[1]` alone lets both through, since `True == 1.0 == 1` in Python.)
        """
        if type(version) is not int:
            raise ValueError(f"expected a whole number, got {version!r}")
        return version

    @property
    def occurred_instant(self) -> datetime:
        return instant(self.occurred_at)

    @property
    def recorded_instant(self) -> datetime:
        return instant(self.recorded_at)
