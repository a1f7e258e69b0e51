"""The complications service: complications, therapy holds and hospital stays of a known episode."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from events.models import ComplicationKind, FacilityKind, Severity, Source
from services.common.application import EpisodeFollowingApplication, command
from services.common.values import occurred
from services.complications.domainmodel import EpisodeComplications


class ComplicationsApplication(EpisodeFollowingApplication):
    name: ClassVar[Source] = "complications"  # type: ignore[misc]

    @command
    def report_complication(
        self,
        episode_id: str,
        *,
        complication_id: str,
        kind: ComplicationKind,
        severity: Severity,
        onset_on: date,
        occurred_at: datetime | None = None,
    ) -> None:
        episode = self.episode(episode_id)
        record = self._complications(episode_id)
        record.report(episode, occurred(occurred_at), complication_id, kind, severity, onset_on)
        self.save(record)

    @command
    def resolve_complication(
        self, episode_id: str, *, complication_id: str, resolved_on: date, occurred_at: datetime | None = None
    ) -> None:
        episode = self.episode(episode_id)
        record = self._complications(episode_id)
        record.resolve(episode, occurred(occurred_at), complication_id, resolved_on)
        self.save(record)

    @command
    def hold_therapy(
        self, episode_id: str, *, held_from: date, reason: str, occurred_at: datetime | None = None
    ) -> None:
        episode = self.episode(episode_id)
        record = self._complications(episode_id)
        record.hold(episode, occurred(occurred_at), held_from, reason)
        self.save(record)

    @command
    def resume_therapy(
        self, episode_id: str, *, resumed_on: date, occurred_at: datetime | None = None
    ) -> None:
        episode = self.episode(episode_id)
        record = self._complications(episode_id)
        record.resume(episode, occurred(occurred_at), resumed_on)
        self.save(record)

    @command
    def admit_to_hospital(
        self,
        episode_id: str,
        *,
        admitted_on: date,
        facility_kind: FacilityKind = "hospital",
        occurred_at: datetime | None = None,
    ) -> None:
        episode = self.episode(episode_id)
        record = self._complications(episode_id)
        record.admit(episode, occurred(occurred_at), admitted_on, facility_kind)
        self.save(record)

    @command
    def discharge_from_hospital(
        self, episode_id: str, *, discharged_on: date, occurred_at: datetime | None = None
    ) -> None:
        episode = self.episode(episode_id)
        record = self._complications(episode_id)
        record.discharge(episode, occurred(occurred_at), discharged_on)
        self.save(record)

    def get_record(self, episode_id: str) -> EpisodeComplications:
        return self._complications(episode_id)

    def _complications(self, episode_id: str) -> EpisodeComplications:
        record: EpisodeComplications | None = self._get_or_none(EpisodeComplications.create_id(episode_id))
        return record if record is not None else EpisodeComplications(episode_id)
