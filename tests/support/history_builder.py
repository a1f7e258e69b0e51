"""A compact builder of histories in the public event contract (shared/contract.md).

Each helper appends one contract event (a plain dict, exactly as it travels on the wire) to a
`History`. `recorded_at` advances one minute per event unless given, so "the one recorded last"
is simply the one added last. `replay()` runs the real core (`projections.core.documents.replay_document`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from events import instant
from projections.core.documents import replay_document
from tests.support.day_by_day import check_history

SOURCE = {
    "ReferralReceived": "referrals",
    "ReferralAccepted": "referrals",
    "ReferralDeclined": "referrals",
    "AuthorizationRecorded": "referrals",
    "OrderChanged": "referrals",
    "TherapyDiscontinued": "referrals",
    "AssessmentCompleted": "assessments",
    "DeliveryScheduled": "deliveries",
    "DeliveryCompleted": "deliveries",
    "DeliveryFailed": "deliveries",
    "DeliveryVoided": "deliveries",
    "VisitScheduled": "visits",
    "VisitCompleted": "visits",
    "VisitMissed": "visits",
    "VisitVoided": "visits",
    "DoseAdministered": "visits",
    "ComplicationReported": "complications",
    "ComplicationResolved": "complications",
    "TherapyHeld": "complications",
    "TherapyResumed": "complications",
    "HospitalAdmitted": "complications",
    "HospitalDischarged": "complications",
}

RECORDING_STARTS = datetime(2026, 1, 1, tzinfo=UTC)


class History:
    """Events of one or more episodes; `ep` is the episode the helpers write to by default."""

    def __init__(self, episode_id: str = "ep-1") -> None:
        self.ep = episode_id
        self.events: list[dict[str, Any]] = []
        self.count = 0  # events ever added: ids and recording times stay unique if events are removed

    def add(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        episode_id: str | None = None,
        occurred_at: str | None = None,
        recorded_at: str | None = None,
        event_id: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        self.count += 1
        number = self.count
        event = {
            "event_id": event_id or f"e-{number:04d}",
            "event_type": event_type,
            "schema_version": 1,
            "source": source or SOURCE[event_type],
            "episode_id": episode_id or self.ep,
            "occurred_at": occurred_at or _occurred(data),
            "recorded_at": recorded_at or (RECORDING_STARTS + timedelta(minutes=number)).isoformat(),
            "data": data,
        }
        self.events.append(event)
        return event

    def lines(self) -> list[str]:
        return [json.dumps(event) for event in self.events]

    def replay(self, through: str, as_of: str | None = None) -> dict[str, Any]:
        return replay(self.lines(), through, as_of)

    # --- referrals ---------------------------------------------------------------------------
    def referral(
        self,
        patient: str = "pt-1",
        *,
        basis: str | None = None,
        interval: int = 24,
        drug_code: str = "J0475",
        start_date: str = "2026-03-01",
        **kw: Any,
    ) -> dict[str, Any]:
        payer: dict[str, Any] = {"payer_id": "BCBS-ND", "plan": "PPO", "member_ref": f"m-{patient}"}
        if basis is not None:
            payer["counting_basis"] = basis
        data = {
            "patient_ref": patient,
            "payer": payer,
            "prescriber": {"npi": "1234567893", "name": "Dr. Rivera"},
            "diagnosis_codes": ["G35"],
            "order": {
                "drug": "baclofen",
                "drug_code": drug_code,
                "route": "intrathecal",
                "dose": "400 mcg/day",
                "dosing_interval_hours": interval,
                "start_date": start_date,
            },
        }
        return self.add("ReferralReceived", data, **kw)

    def accepted(self, on: str, **kw: Any) -> dict[str, Any]:
        return self.add("ReferralAccepted", {"accepted_on": on}, **kw)

    def declined(self, reason: str = "out of area", **kw: Any) -> dict[str, Any]:
        return self.add("ReferralDeclined", {"reason": reason}, **kw)

    def auth(
        self, number: str, start: str, end: str, units: int, code: str = "S9363", **kw: Any
    ) -> dict[str, Any]:
        data = {"auth_number": number, "code": code, "start_date": start, "end_date": end, "units": units}
        return self.add("AuthorizationRecorded", data, **kw)

    def order_changed(
        self, effective_on: str, interval: int | None = None, dose: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"effective_on": effective_on}
        if interval is not None:
            data["dosing_interval_hours"] = interval
        if dose is not None:
            data["dose"] = dose
        return self.add("OrderChanged", data, **kw)

    def discontinued(self, on: str, reason: str = "completed", **kw: Any) -> dict[str, Any]:
        return self.add("TherapyDiscontinued", {"discontinued_on": on, "reason": reason}, **kw)

    # --- assessments -------------------------------------------------------------------------
    def assessed(
        self,
        on: str,
        eligible: bool = True,
        kind: str = "initial",
        assessment_id: str | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        data = {
            "assessment_id": assessment_id or f"as-{self.count + 1}",
            "kind": kind,
            "assessed_on": on,
            "eligible": eligible,
            "clinician": "RN Okafor",
            "findings": {"home_safe": eligible},
        }
        return self.add("AssessmentCompleted", data, **kw)

    # --- deliveries --------------------------------------------------------------------------
    def delivered(
        self,
        delivery_id: str,
        on: str,
        days: int,
        items: list[tuple[str, int]] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        if items is None:
            items = [("J0475", 4), ("A4221", days)]
        data = {
            "delivery_id": delivery_id,
            "delivered_on": on,
            "days_supply": days,
            "items": [{"code": code, "description": code.lower(), "units": units} for code, units in items],
        }
        return self.add("DeliveryCompleted", data, **kw)

    def delivery_failed(self, delivery_id: str, **kw: Any) -> dict[str, Any]:
        return self.add("DeliveryFailed", {"delivery_id": delivery_id, "reason": "nobody home"}, **kw)

    def delivery_voided(self, delivery_id: str, **kw: Any) -> dict[str, Any]:
        return self.add("DeliveryVoided", {"delivery_id": delivery_id, "reason": "entered in error"}, **kw)

    def delivery_scheduled(self, delivery_id: str, on: str, **kw: Any) -> dict[str, Any]:
        return self.add("DeliveryScheduled", {"delivery_id": delivery_id, "scheduled_for": on}, **kw)

    # --- visits ------------------------------------------------------------------------------
    def visited(
        self,
        visit_id: str,
        on: str,
        kind: str = "follow_up",
        minutes: int = 60,
        administered: bool = True,
        started_at: str | None = None,
        ended_at: str | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        start = started_at or f"{on}T10:00:00-05:00"
        end = ended_at or (instant(start) + timedelta(minutes=minutes)).isoformat()
        data = {
            "visit_id": visit_id,
            "kind": kind,
            "visit_date": on,
            "started_at": start,
            "ended_at": end,
            "administered": administered,
            "nurse": "RN Okafor",
        }
        return self.add("VisitCompleted", data, **kw)

    def soc(self, on: str, visit_id: str | None = None, **kw: Any) -> dict[str, Any]:
        return self.visited(visit_id or f"v-soc-{on}", on, kind="start_of_care", **kw)

    def visit_missed(self, visit_id: str, **kw: Any) -> dict[str, Any]:
        return self.add("VisitMissed", {"visit_id": visit_id, "reason": "patient out"}, **kw)

    def visit_voided(self, visit_id: str, **kw: Any) -> dict[str, Any]:
        return self.add("VisitVoided", {"visit_id": visit_id, "reason": "entered in error"}, **kw)

    def visit_scheduled(self, visit_id: str, on: str, kind: str = "follow_up", **kw: Any) -> dict[str, Any]:
        return self.add("VisitScheduled", {"visit_id": visit_id, "scheduled_for": on, "kind": kind}, **kw)

    def dose(self, on: str, by: str = "patient", **kw: Any) -> dict[str, Any]:
        return self.add("DoseAdministered", {"administered_on": on, "by": by}, **kw)

    # --- complications -----------------------------------------------------------------------
    def complication(self, complication_id: str, on: str, **kw: Any) -> dict[str, Any]:
        data = {
            "complication_id": complication_id,
            "kind": "line_infection",
            "severity": "mild",
            "onset_on": on,
        }
        return self.add("ComplicationReported", data, **kw)

    def complication_resolved(self, complication_id: str, on: str, **kw: Any) -> dict[str, Any]:
        return self.add("ComplicationResolved", {"complication_id": complication_id, "resolved_on": on}, **kw)

    def held(self, on: str, **kw: Any) -> dict[str, Any]:
        return self.add("TherapyHeld", {"held_from": on, "reason": "site irritation"}, **kw)

    def resumed(self, on: str, **kw: Any) -> dict[str, Any]:
        return self.add("TherapyResumed", {"resumed_on": on}, **kw)

    def admitted(self, on: str, facility: str = "hospital", **kw: Any) -> dict[str, Any]:
        return self.add("HospitalAdmitted", {"admitted_on": on, "facility_kind": facility}, **kw)

    def discharged(self, on: str, **kw: Any) -> dict[str, Any]:
        return self.add("HospitalDischarged", {"discharged_on": on}, **kw)


def standard(
    h: History | None = None,
    *,
    patient: str = "pt-1",
    accepted: str = "2026-03-01",
    soc: str | None = "2026-03-02",
    supply_days: int = 60,
    auth_units: int = 200,
    basis: str | None = None,
    interval: int = 24,
    assessed: str | None = "2026-03-01",
) -> History:
    """An episode where every day from the start of care on is billable unless a test adds a twist:
    accepted Mar 1, assessed eligible Mar 1, start of care Mar 2 (60 min, drug given), a 60-day
    delivery on Mar 2 (J0475 x4 + supplies), and authorization A-1 from Jan 1 through Dec 31.
    """
    h = h or History()
    h.referral(patient, basis=basis, interval=interval)
    h.accepted(accepted)
    h.auth("A-1", "2026-01-01", "2026-12-31", auth_units)
    if assessed is not None:
        h.assessed(assessed, True)
    if soc is not None:
        h.soc(soc)
        h.delivered("d-1", soc, supply_days)
    return h


def replay(lines: Iterable[str], through: str, as_of: str | None = None) -> dict[str, Any]:
    """The replay document; on the way, the ledger by runs is checked against the day-by-day one."""
    lines = list(lines)
    at = instant(as_of) if as_of else None
    check_history(lines, [date.fromisoformat(through)], at)
    return replay_document(lines, date.fromisoformat(through), at, as_of)


def episode(document: dict[str, Any], episode_id: str = "ep-1") -> dict[str, Any]:
    matches = [e for e in document["episodes"] if e["episode_id"] == episode_id]
    assert len(matches) == 1, (
        f"{episode_id} listed {len(matches)} times: {[e['episode_id'] for e in document['episodes']]}"
    )
    return matches[0]


def reasons(document: dict[str, Any], episode_id: str = "ep-1") -> dict[str, str]:
    """Date (YYYY-MM-DD) to reason code of every listed day."""
    days = episode(document, episode_id)["days"]
    for day in days:
        assert day["billable"] == (day["reason"] == "BILLABLE"), day
    return {day["date"]: day["reason"] for day in days}


def claim_lines(
    document: dict[str, Any], episode_id: str = "ep-1", code: str | None = None
) -> list[tuple[str, str, str, int, str | None]]:
    """(code, from, to, units, authorization) of the episode's claim lines, in document order."""
    return [
        (line["code"], line["from"], line["to"], line["units"], line["authorization"])
        for line in episode(document, episode_id)["claim_lines"]
        if code is None or line["code"] == code
    ]


def dates(first: str, last: str) -> list[str]:
    """Every date from `first` through `last`, as YYYY-MM-DD."""
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    out = []
    while day <= end:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def check(document: dict[str, Any], expected: dict[str, str], episode_id: str = "ep-1") -> None:
    """Each key, a date or a range `first..last`, has the given reason code on every date in it."""
    got = reasons(document, episode_id)
    for key, reason in expected.items():
        first, _, last = key.partition("..")
        for day in dates(first, last or first):
            assert got.get(day) == reason, f"{episode_id} {day}: got {got.get(day)}, expected {reason}"


def _occurred(data: dict[str, Any]) -> str:
    """Business time: 09:00 New York time on the event's own date, else a fixed day."""
    for value in data.values():
        if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
            return f"{value}T09:00:00-05:00"
    return "2026-02-27T09:00:00-05:00"
