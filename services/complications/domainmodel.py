"""Complications, therapy holds and hospital stays of one episode.

`EpisodeComplications` keeps what the rules need: which complications are open, whether therapy is
on hold and since when, whether the patient is in hospital and since when. A complication is
resolved only while open; therapy is resumed only while held, held only while not held; a discharge
needs an admission. Its first event, `Opened`, is bookkeeping and not part of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from events.models import ComplicationKind, FacilityKind, Severity
from services.common.domain import ServiceAggregate
from services.common.episodes import EpisodeStatus
from services.common.errors import AlreadyRecorded, InvalidCommand, NotFound, RuleViolated
from services.common.values import calendar_date, one_of, text

COMPLICATION_KINDS = (
    "line_infection",
    "site_irritation",
    "bleeding",
    "bruising",
    "allergic_reaction",
    "medication_side_effect",
    "catheter_complication",
)
SEVERITIES = ("mild", "moderate", "severe")
FACILITY_KINDS = ("hospital", "critical_access_hospital", "skilled_nursing_facility")


@dataclass
class Complication:
    complication_id: str
    kind: str
    severity: str
    onset_on: date
    resolved_on: date | None = None


class EpisodeComplications(ServiceAggregate):
    """The complications, holds and hospital stays of one episode."""

    @staticmethod
    def create_id(episode_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"carecoord:complications/episode/{episode_id}")

    @event("Opened")
    def __init__(self, episode_id: str) -> None:
        self.episode_id = episode_id
        self.complications: dict[str, Complication] = {}
        self.held_from: date | None = None
        self.admitted_on: date | None = None

    # --- complications -------------------------------------------------------------------------

    def report(
        self,
        episode: EpisodeStatus,
        occurred_at: str,
        complication_id: str,
        kind: ComplicationKind,
        severity: Severity,
        onset_on: date,
    ) -> None:
        text("complication_id", complication_id)
        one_of("kind", kind, COMPLICATION_KINDS)
        one_of("severity", severity, SEVERITIES)
        calendar_date("onset_on", onset_on)
        if complication_id in self.complications:
            raise AlreadyRecorded(
                f"complication {complication_id} of episode {self.episode_id} was already reported"
            )
        episode.require_open(onset_on, f"a complication ({complication_id})")
        self._reported(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            complication_id=complication_id,
            kind=kind,
            severity=severity,
            onset_on=onset_on,
        )

    @event("ComplicationReported")
    def _reported(
        self,
        episode_id: str,
        occurred_at: str,
        complication_id: str,
        kind: str,
        severity: str,
        onset_on: date,
    ) -> None:
        self.complications[complication_id] = Complication(complication_id, kind, severity, onset_on)

    def resolve(
        self, episode: EpisodeStatus, occurred_at: str, complication_id: str, resolved_on: date
    ) -> None:
        calendar_date("resolved_on", resolved_on)
        try:
            complication = self.complications[complication_id]
        except KeyError:
            raise NotFound(
                f"complication {complication_id} of episode {self.episode_id} is unknown"
            ) from None
        if complication.resolved_on is not None:
            raise RuleViolated(
                f"complication {complication_id} of episode {self.episode_id} is not open: it "
                f"was resolved on {complication.resolved_on}"
            )
        if resolved_on < complication.onset_on:
            raise InvalidCommand(
                f"complication {complication_id}: resolved_on {resolved_on} is before its "
                f"onset on {complication.onset_on}"
            )
        episode.require_not_declined(f"a resolution ({complication_id})")
        self._resolved(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            complication_id=complication_id,
            resolved_on=resolved_on,
        )

    @event("ComplicationResolved")
    def _resolved(self, episode_id: str, occurred_at: str, complication_id: str, resolved_on: date) -> None:
        self.complications[complication_id].resolved_on = resolved_on

    # --- holds ---------------------------------------------------------------------------------

    def hold(self, episode: EpisodeStatus, occurred_at: str, held_from: date, reason: str) -> None:
        calendar_date("held_from", held_from)
        text("reason", reason)
        if self.held_from is not None:
            raise RuleViolated(
                f"therapy for episode {self.episode_id} is already on hold since "
                f"{self.held_from}: resume it before holding it again"
            )
        episode.require_open(held_from, "a therapy hold")
        self._held(episode_id=self.episode_id, occurred_at=occurred_at, held_from=held_from, reason=reason)

    @event("TherapyHeld")
    def _held(self, episode_id: str, occurred_at: str, held_from: date, reason: str) -> None:
        self.held_from = held_from

    def resume(self, episode: EpisodeStatus, occurred_at: str, resumed_on: date) -> None:
        calendar_date("resumed_on", resumed_on)
        if self.held_from is None:
            raise RuleViolated(
                f"therapy for episode {self.episode_id} is not on hold: there is nothing to resume"
            )
        if resumed_on < self.held_from:
            raise InvalidCommand(f"resumed_on {resumed_on} is before the hold began on {self.held_from}")
        episode.require_open(resumed_on, "a therapy resumption")
        self._resumed(episode_id=self.episode_id, occurred_at=occurred_at, resumed_on=resumed_on)

    @event("TherapyResumed")
    def _resumed(self, episode_id: str, occurred_at: str, resumed_on: date) -> None:
        self.held_from = None

    # --- hospital stays ------------------------------------------------------------------------

    def admit(
        self, episode: EpisodeStatus, occurred_at: str, admitted_on: date, facility_kind: FacilityKind
    ) -> None:
        calendar_date("admitted_on", admitted_on)
        one_of("facility_kind", facility_kind, FACILITY_KINDS)
        if self.admitted_on is not None:
            raise RuleViolated(
                f"the patient of episode {self.episode_id} is already admitted since "
                f"{self.admitted_on}: discharge first"
            )
        episode.require_open(admitted_on, "a hospital admission")
        self._admitted(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            admitted_on=admitted_on,
            facility_kind=facility_kind,
        )

    @event("HospitalAdmitted")
    def _admitted(self, episode_id: str, occurred_at: str, admitted_on: date, facility_kind: str) -> None:
        self.admitted_on = admitted_on

    def discharge(self, episode: EpisodeStatus, occurred_at: str, discharged_on: date) -> None:
        calendar_date("discharged_on", discharged_on)
        if self.admitted_on is None:
            raise RuleViolated(
                f"the patient of episode {self.episode_id} is not admitted: there is nothing to "
                "discharge from"
            )
        if discharged_on < self.admitted_on:
            raise InvalidCommand(
                f"discharged_on {discharged_on} is before the admission on {self.admitted_on}"
            )
        # A discharge may come after therapy was discontinued: the stay still has to end.
        episode.require_not_declined("a hospital discharge")
        self._discharged(episode_id=self.episode_id, occurred_at=occurred_at, discharged_on=discharged_on)

    @event("HospitalDischarged")
    def _discharged(self, episode_id: str, occurred_at: str, discharged_on: date) -> None:
        self.admitted_on = None
