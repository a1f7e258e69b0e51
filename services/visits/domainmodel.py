"""Visits: nursing visits (start of care, follow-ups, line care, teaching, discharge) and logged doses.

`EpisodeVisits` holds every visit of one episode: a visit is scheduled, then completed or missed;
only a completed one can be voided, once. A visit's date is the local date of its start, in the
start's own UTC offset. Its first event, `Opened`, is bookkeeping and not part of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from events.models import DoseGivenBy, VisitKind
from services.common.domain import ServiceAggregate
from services.common.episodes import EpisodeStatus
from services.common.errors import AlreadyRecorded, InvalidCommand, NotFound, RuleViolated
from services.common.values import aware, calendar_date, contract_data, one_of, rfc3339, text

VISIT_KINDS = ("start_of_care", "follow_up", "line_care", "teaching", "discharge")
DOSE_GIVERS = ("nurse", "patient", "caregiver")
LONGEST_VISIT = timedelta(hours=24)

VisitState = Literal["scheduled", "completed", "missed", "voided"]


@dataclass
class Visit:
    visit_id: str
    kind: str
    state: VisitState
    scheduled_for: date | None = None
    visit_date: date | None = None


class EpisodeVisits(ServiceAggregate):
    """The nursing visits and logged doses of one episode."""

    @staticmethod
    def create_id(episode_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"carecoord:visits/episode/{episode_id}")

    @event("Opened")
    def __init__(self, episode_id: str) -> None:
        self.episode_id = episode_id
        self.visits: dict[str, Visit] = {}
        self.doses: list[tuple[date, str]] = []

    @property
    def start_of_care(self) -> date | None:
        """The date of the earliest completed, not voided start-of-care visit."""
        return self._start_of_care()

    def _start_of_care(self, excluding: str | None = None) -> date | None:
        dates = [
            v.visit_date
            for v in self.visits.values()
            if v.kind == "start_of_care"
            and v.state == "completed"
            and v.visit_date
            and v.visit_id != excluding
        ]
        return min(dates, default=None)

    # --- schedule ------------------------------------------------------------------------------

    def schedule(
        self, episode: EpisodeStatus, occurred_at: str, visit_id: str, scheduled_for: date, kind: VisitKind
    ) -> None:
        text("visit_id", visit_id)
        calendar_date("scheduled_for", scheduled_for)
        one_of("kind", kind, VISIT_KINDS)
        if visit_id in self.visits:
            raise AlreadyRecorded(
                f"visit {visit_id} of episode {self.episode_id} already exists "
                f"({self.visits[visit_id].state})"
            )
        episode.require_open(scheduled_for, f"a visit ({visit_id})")
        self._scheduled(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            visit_id=visit_id,
            scheduled_for=scheduled_for,
            kind=kind,
        )

    @event("VisitScheduled")
    def _scheduled(
        self, episode_id: str, occurred_at: str, visit_id: str, scheduled_for: date, kind: str
    ) -> None:
        self.visits[visit_id] = Visit(visit_id, kind, "scheduled", scheduled_for=scheduled_for)

    # --- complete ------------------------------------------------------------------------------

    def complete(
        self,
        episode: EpisodeStatus,
        occurred_at: str,
        visit_id: str,
        started_at: datetime,
        ended_at: datetime,
        administered: bool,
        nurse: str,
        kind: VisitKind | None = None,
        correction: str | None = None,
    ) -> None:
        """Complete a scheduled (or new) visit; with `correction` (its reason), complete a completed
        visit again: the completion recorded last counts."""
        text("visit_id", visit_id)
        if correction is not None and (not isinstance(correction, str) or not correction.strip()):
            raise InvalidCommand(f"visit {visit_id}: a correction needs its reason (correction)")
        aware("started_at", started_at)
        aware("ended_at", ended_at)
        if ended_at <= started_at:
            raise InvalidCommand(
                f"visit {visit_id}: ended_at {rfc3339(ended_at)} is not after started_at "
                f"{rfc3339(started_at)}"
            )
        if ended_at - started_at > LONGEST_VISIT:
            raise InvalidCommand(
                f"visit {visit_id}: lasts more than 24 hours ({rfc3339(started_at)} to {rfc3339(ended_at)})"
            )
        if not isinstance(administered, bool):
            raise InvalidCommand(f"administered must be true or false, got {administered!r}")
        text("nurse", nurse)
        existing = self.visits.get(visit_id)
        if correction is not None:
            if existing is None:
                raise NotFound(f"visit {visit_id} of episode {self.episode_id} is unknown")
            if existing.state != "completed":
                raise RuleViolated(
                    f"visit {visit_id} of episode {self.episode_id} is {existing.state}: "
                    "only a completed visit can be corrected"
                )
        elif existing is not None and existing.state != "scheduled":
            raise RuleViolated(
                f"visit {visit_id} of episode {self.episode_id} is {existing.state}: "
                "only a scheduled (or new) visit can be completed (correct-visit corrects it)"
            )
        if kind is None and existing is None:
            raise InvalidCommand(f"visit {visit_id} was not scheduled: its kind is required")
        scheduled_kind = existing.kind if existing is not None else None
        visit_kind: str = one_of("kind", kind if kind is not None else scheduled_kind, VISIT_KINDS)
        visit_date = started_at.date()  # the local date, in the start's own offset
        others = self._start_of_care(excluding=visit_id if correction is not None else None)
        if visit_kind == "start_of_care" and others is not None:
            raise AlreadyRecorded(
                f"episode {self.episode_id} already had its start of care on "
                f"{others} (void that visit first to correct it)"
            )
        episode.require_open(visit_date, f"a visit ({visit_id})")
        contract_data(
            "VisitCompleted",
            visit_id=visit_id,
            kind=visit_kind,
            visit_date=visit_date,
            started_at=rfc3339(started_at),
            ended_at=rfc3339(ended_at),
            administered=administered,
            nurse=nurse,
            correction=correction,
        )
        self._completed(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            visit_id=visit_id,
            kind=visit_kind,
            visit_date=visit_date,
            started_at=rfc3339(started_at),
            ended_at=rfc3339(ended_at),
            administered=administered,
            nurse=nurse,
            correction=correction,
        )

    @event("VisitCompleted")
    def _completed(
        self,
        episode_id: str,
        occurred_at: str,
        visit_id: str,
        kind: str,
        visit_date: date,
        started_at: str,
        ended_at: str,
        administered: bool,
        nurse: str,
        correction: str | None = None,  # absent from completions stored before corrections existed
    ) -> None:
        visit = self.visits.setdefault(visit_id, Visit(visit_id, kind, "completed"))
        visit.kind = kind
        visit.state = "completed"
        visit.visit_date = visit_date

    # --- miss, void ----------------------------------------------------------------------------

    def miss(self, occurred_at: str, visit_id: str, reason: str) -> None:
        text("reason", reason)
        visit = self._visit(visit_id)
        if visit.state != "scheduled":
            raise RuleViolated(
                f"visit {visit_id} of episode {self.episode_id} is {visit.state}: "
                "only a scheduled visit can be missed"
            )
        self._missed(episode_id=self.episode_id, occurred_at=occurred_at, visit_id=visit_id, reason=reason)

    @event("VisitMissed")
    def _missed(self, episode_id: str, occurred_at: str, visit_id: str, reason: str) -> None:
        self.visits[visit_id].state = "missed"

    def void(self, occurred_at: str, visit_id: str, reason: str) -> None:
        text("reason", reason)
        visit = self._visit(visit_id)
        if visit.state == "voided":
            raise AlreadyRecorded(f"visit {visit_id} of episode {self.episode_id} was already voided")
        if visit.state != "completed":
            raise RuleViolated(
                f"visit {visit_id} of episode {self.episode_id} is {visit.state}: "
                "only a completed visit can be voided"
            )
        self._voided(episode_id=self.episode_id, occurred_at=occurred_at, visit_id=visit_id, reason=reason)

    @event("VisitVoided")
    def _voided(self, episode_id: str, occurred_at: str, visit_id: str, reason: str) -> None:
        self.visits[visit_id].state = "voided"

    # --- doses ---------------------------------------------------------------------------------

    def log_dose(
        self, episode: EpisodeStatus, occurred_at: str, administered_on: date, by: DoseGivenBy
    ) -> None:
        calendar_date("administered_on", administered_on)
        one_of("by", by, DOSE_GIVERS)
        episode.require_open(administered_on, "a dose")
        self._dose_administered(
            episode_id=self.episode_id, occurred_at=occurred_at, administered_on=administered_on, by=by
        )

    @event("DoseAdministered")
    def _dose_administered(self, episode_id: str, occurred_at: str, administered_on: date, by: str) -> None:
        self.doses.append((administered_on, by))

    def _visit(self, visit_id: str) -> Visit:
        try:
            return self.visits[visit_id]
        except KeyError:
            raise NotFound(f"visit {visit_id} of episode {self.episode_id} is unknown") from None
