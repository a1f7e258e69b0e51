"""The assessments service: record a completed assessment for a known, not declined episode."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from eventsourcing.persistence import IntegrityError

from events.models import AssessmentKind, Source
from services.assessments.domainmodel import Assessment
from services.common.application import EpisodeFollowingApplication, command
from services.common.errors import AlreadyRecorded, NotFound
from services.common.values import occurred


class AssessmentsApplication(EpisodeFollowingApplication):
    name: ClassVar[Source] = "assessments"  # type: ignore[misc]

    @command
    def complete_assessment(
        self,
        episode_id: str,
        *,
        assessment_id: str,
        kind: AssessmentKind,
        assessed_on: date,
        eligible: bool,
        clinician: str,
        findings: dict[str, Any] | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        episode = self.episode(episode_id)
        assessment = Assessment.complete(
            episode, occurred(occurred_at), assessment_id, kind, assessed_on, eligible, clinician, findings
        )
        try:
            self.save(assessment)
        except IntegrityError:
            # The aggregate's id is made from the episode and the assessment id, so the store's own
            # uniqueness of (id, version 1) is the check: no read before the write.
            raise AlreadyRecorded(
                f"assessment {assessment_id} of episode {episode_id} was already completed"
            ) from None

    def get_assessment(self, episode_id: str, assessment_id: str) -> Assessment:
        assessment: Assessment | None = self._get_or_none(Assessment.create_id(episode_id, assessment_id))
        if assessment is None:
            raise NotFound(f"assessment {assessment_id} of episode {episode_id} is unknown")
        return assessment
