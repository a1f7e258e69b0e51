"""Assessments: a nurse's initial assessment or reassessment of a patient, eligible or not.

One `Assessment` aggregate per assessment; its only event, `AssessmentCompleted`, is the contract's.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from events.models import AssessmentKind
from services.common.domain import ServiceAggregate
from services.common.episodes import EpisodeStatus
from services.common.errors import InvalidCommand
from services.common.values import calendar_date, contract_data, one_of, plain_json, text

ASSESSMENT_KINDS = ("initial", "reassessment")


class Assessment(ServiceAggregate):
    @staticmethod
    def create_id(episode_id: str, assessment_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"carecoord:assessments/{episode_id}/{assessment_id}")

    @event("AssessmentCompleted")
    def __init__(
        self,
        episode_id: str,
        occurred_at: str,
        assessment_id: str,
        kind: str,
        assessed_on: date,
        eligible: bool,
        clinician: str,
        findings: dict[str, Any] | None,
    ) -> None:
        self.episode_id = episode_id
        self.assessment_id = assessment_id
        self.kind = kind
        self.assessed_on = assessed_on
        self.eligible = eligible
        self.clinician = clinician
        self.findings = findings

    @classmethod
    def complete(
        cls,
        episode: EpisodeStatus,
        occurred_at: str,
        assessment_id: str,
        kind: AssessmentKind,
        assessed_on: date,
        eligible: bool,
        clinician: str,
        findings: dict[str, Any] | None = None,
    ) -> Assessment:
        text("assessment_id", assessment_id)
        one_of("kind", kind, ASSESSMENT_KINDS)
        calendar_date("assessed_on", assessed_on)
        if not isinstance(eligible, bool):
            raise InvalidCommand(f"eligible must be true or false, got {eligible!r}")
        text("clinician", clinician)
        plain_json("findings", findings)
        episode.require_open(assessed_on, f"an assessment ({assessment_id})")
        contract_data(
            "AssessmentCompleted",
            assessment_id=assessment_id,
            kind=kind,
            assessed_on=assessed_on,
            eligible=eligible,
            clinician=clinician,
            findings=findings,
        )
        return cls(
            episode_id=episode.episode_id,
            occurred_at=occurred_at,
            assessment_id=assessment_id,
            kind=kind,
            assessed_on=assessed_on,
            eligible=eligible,
            clinician=clinician,
            findings=findings,
        )
