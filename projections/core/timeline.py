"""The episode timeline: every event, in business-time order, with a one-line summary.

Summaries carry no patient name, birth date or address: events never hold them. An entry keeps its
event's data and formats the summary when it is read: an episode recomputed and found unchanged
(its digest, sections.py, is made from the entries' ids, not their summaries) is never formatted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from events import (
    AssessmentCompleted,
    AuthorizationRecorded,
    CareTeamAssigned,
    CareTeamReleased,
    ClaimSubmitted,
    ComplicationReported,
    ComplicationResolved,
    DeliveryCompleted,
    DeliveryFailed,
    DeliveryScheduled,
    DeliveryVoided,
    DoseAdministered,
    Event,
    HospitalAdmitted,
    HospitalDischarged,
    OrderChanged,
    PatientDetailsChanged,
    ReferralAccepted,
    ReferralDeclined,
    ReferralReceived,
    TherapyDiscontinued,
    TherapyHeld,
    TherapyResumed,
    VisitCompleted,
    VisitMissed,
    VisitScheduled,
    VisitVoided,
    instant,
)
from projections.core.facts import visit_minutes


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    occurred_at: str
    recorded_at: str
    event_type: str
    source: str
    event_id: str
    # The event's data: what the summary is made from (an event_id's data never changes).
    data: Any = field(repr=False)

    @property
    def summary(self) -> str:
        return SUMMARIES[type(self.data)](self.data)

    def row(self) -> tuple[str, str, str, str, str, str]:
        """As the timeline is stored and read: (occurred_at, recorded_at, event_type, source,
        event_id, summary)."""
        return (self.occurred_at, self.recorded_at, self.event_type, self.source, self.event_id, self.summary)


def _referral(d: ReferralReceived) -> str:
    o = d.order
    interval = "continuous" if o.dosing_interval_hours == 0 else f"every {o.dosing_interval_hours} h"
    return (
        f"Referral for {d.patient_ref} from NPI {d.prescriber.npi}, payer {d.payer.payer_id} "
        f"({d.payer.counting_basis}): {o.drug} {o.drug_code} {o.route} {o.dose} {interval}"
        f" from {o.start_date}"
    )


def _order_changed(d: OrderChanged) -> str:
    changes = []
    if d.dose is not None:
        changes.append(f"dose {d.dose}")
    if d.dosing_interval_hours is not None:
        changes.append(f"interval {d.dosing_interval_hours} h")
    return f"Order changed from {d.effective_on}: {', '.join(changes) or 'no change to dose or interval'}"


def _delivery(d: DeliveryCompleted) -> str:
    items = ", ".join(f"{item.code} x{item.units}" for item in d.items) or "no items"
    summary = f"Delivery {d.delivery_id} on {d.delivered_on}: {d.days_supply} days supply ({items})"
    return summary + _corrected(d.correction)


def _visit(d: VisitCompleted) -> str:
    given = "drug administered" if d.administered else "no administration"
    summary = f"Visit {d.visit_id} ({d.kind}) on {d.visit_date}: {visit_minutes(d)} min, {given}, {d.nurse}"
    return summary + _corrected(d.correction)


def _corrected(reason: str | None) -> str:
    """A completion that corrects an earlier one of the same id says so, and why."""
    return "" if reason is None else f" (correction: {reason})"


def _claim(d: ClaimSubmitted) -> str:
    replaces = f" replacing {d.replaces}" if d.replaces is not None else ""
    per_diem = sum(line.units for line in d.lines if line.code == "S9363")
    return (
        f"Claim {d.claim_id} ({d.frequency}{replaces}) for {d.period} submitted on {d.submitted_on}: "
        f"{len(d.lines)} lines, {per_diem} S9363 units"
    )


SUMMARIES: dict[type[Any], Callable[[Any], str]] = {
    ReferralReceived: _referral,
    ReferralAccepted: lambda d: f"Referral accepted on {d.accepted_on}",
    ReferralDeclined: lambda d: f"Referral declined: {d.reason}",
    AuthorizationRecorded: lambda d: (
        f"Authorization {d.auth_number} ({d.code}) {d.start_date} to {d.end_date}, {d.units} units"
    ),
    OrderChanged: _order_changed,
    TherapyDiscontinued: lambda d: f"Therapy discontinued on {d.discontinued_on} ({d.reason})",
    # The names of the fields only: the values never leave the referrals service.
    PatientDetailsChanged: lambda d: f"Patient details changed: {', '.join(d.fields)}",
    CareTeamAssigned: lambda d: f"{d.member} joined the care team as {d.role} on {d.assigned_on}",
    CareTeamReleased: lambda d: f"{d.member} left the care team on {d.released_on}",
    AssessmentCompleted: lambda d: (
        f"Assessment {d.assessment_id} ({d.kind}) on {d.assessed_on}: "
        f"{'eligible' if d.eligible else 'not eligible'}"
    ),
    DeliveryScheduled: lambda d: f"Delivery {d.delivery_id} scheduled for {d.scheduled_for}",
    DeliveryCompleted: _delivery,
    DeliveryFailed: lambda d: f"Delivery {d.delivery_id} failed: {d.reason}",
    DeliveryVoided: lambda d: f"Delivery {d.delivery_id} voided: {d.reason}",
    VisitScheduled: lambda d: f"Visit {d.visit_id} ({d.kind}) scheduled for {d.scheduled_for}",
    VisitCompleted: _visit,
    VisitMissed: lambda d: f"Visit {d.visit_id} missed: {d.reason}",
    VisitVoided: lambda d: f"Visit {d.visit_id} voided: {d.reason}",
    DoseAdministered: lambda d: f"Dose given on {d.administered_on} by {d.by}",
    ComplicationReported: lambda d: (
        f"Complication {d.complication_id}: {d.kind.replace('_', ' ')} ({d.severity}) from {d.onset_on}"
    ),
    ComplicationResolved: lambda d: f"Complication {d.complication_id} resolved on {d.resolved_on}",
    TherapyHeld: lambda d: f"Therapy held from {d.held_from}: {d.reason}",
    TherapyResumed: lambda d: f"Therapy resumed on {d.resumed_on}",
    HospitalAdmitted: lambda d: f"Admitted to {d.facility_kind.replace('_', ' ')} on {d.admitted_on}",
    HospitalDischarged: lambda d: f"Discharged on {d.discharged_on}",
    ClaimSubmitted: _claim,
}


def summarize(event: Event) -> str:
    return SUMMARIES[type(event.data)](event.data)


def timeline(events: Iterable[Event]) -> list[TimelineEntry]:
    """Every event, by occurred_at, then recorded_at (as instants), then event_id."""
    ordered = sorted(events, key=lambda e: (instant(e.occurred_at), instant(e.recorded_at), e.event_id))
    return [
        TimelineEntry(e.occurred_at, e.recorded_at, e.event_type, e.source, e.event_id, e.data)
        for e in ordered
    ]
