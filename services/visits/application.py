"""The visits service: schedule, complete, miss and void nursing visits; log doses."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from events.models import DoseGivenBy, Source, VisitKind
from services.common.application import EpisodeFollowingApplication, command
from services.common.values import occurred
from services.visits.domainmodel import EpisodeVisits


class VisitsApplication(EpisodeFollowingApplication):
    name: ClassVar[Source] = "visits"  # type: ignore[misc]

    @command
    def schedule_visit(
        self,
        episode_id: str,
        *,
        visit_id: str,
        scheduled_for: date,
        kind: VisitKind,
        occurred_at: datetime | None = None,
    ) -> None:
        episode = self.episode(episode_id)
        visits = self._visits(episode_id)
        visits.schedule(episode, occurred(occurred_at), visit_id, scheduled_for, kind)
        self.save(visits)

    @command
    def complete_visit(
        self,
        episode_id: str,
        *,
        visit_id: str,
        started_at: datetime,
        ended_at: datetime,
        administered: bool,
        nurse: str,
        kind: VisitKind | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Record a visit as done. `kind` defaults to the scheduled kind; `occurred_at` to the visit's end."""
        episode = self.episode(episode_id)
        visits = self._visits(episode_id)
        when = occurred(occurred_at if occurred_at is not None else _aware_or_none(ended_at))
        visits.complete(episode, when, visit_id, started_at, ended_at, administered, nurse, kind)
        self.save(visits)

    @command
    def correct_visit(
        self,
        episode_id: str,
        *,
        visit_id: str,
        started_at: datetime,
        ended_at: datetime,
        administered: bool,
        nurse: str,
        correction: str,
        kind: VisitKind | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Correct a completed visit: a new completion of the same visit_id, with the reason in
        `correction`. The one recorded last is the one the ledger and the claims take."""
        episode = self.episode(episode_id)
        visits = self._visits(episode_id)
        when = occurred(occurred_at if occurred_at is not None else _aware_or_none(ended_at))
        visits.complete(episode, when, visit_id, started_at, ended_at, administered, nurse, kind, correction)
        self.save(visits)

    @command
    def miss_visit(
        self, episode_id: str, *, visit_id: str, reason: str, occurred_at: datetime | None = None
    ) -> None:
        self.episode(episode_id)
        visits = self._visits(episode_id)
        visits.miss(occurred(occurred_at), visit_id, reason)
        self.save(visits)

    @command
    def void_visit(
        self, episode_id: str, *, visit_id: str, reason: str, occurred_at: datetime | None = None
    ) -> None:
        self.episode(episode_id)
        visits = self._visits(episode_id)
        visits.void(occurred(occurred_at), visit_id, reason)
        self.save(visits)

    @command
    def log_dose(
        self, episode_id: str, *, administered_on: date, by: DoseGivenBy, occurred_at: datetime | None = None
    ) -> None:
        episode = self.episode(episode_id)
        visits = self._visits(episode_id)
        visits.log_dose(episode, occurred(occurred_at), administered_on, by)
        self.save(visits)

    def get_visits(self, episode_id: str) -> EpisodeVisits:
        return self._visits(episode_id)

    def _visits(self, episode_id: str) -> EpisodeVisits:
        visits: EpisodeVisits | None = self._get_or_none(EpisodeVisits.create_id(episode_id))
        return visits if visits is not None else EpisodeVisits(episode_id)


def _aware_or_none(value: object) -> datetime | None:
    """`ended_at` as the default `occurred_at` when it is usable; the aggregate words the error otherwise."""
    if isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None:
        return value
    return None
