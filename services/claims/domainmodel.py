"""Claims: the claims sent to a payer for one episode, each for one calendar month.

`EpisodeClaims` holds every claim of one episode, so that the rules about a claim's identity (a
claim_id is sent once; a replacement or void names a claim of the same episode) are checked in one
place. It records what was sent, never judges it: whether the lines are right for the period is
what the projections compute (projections/core/claim_actions.py), from the whole history.
Its first event, `Opened`, is bookkeeping and not part of the contract; `ClaimSubmitted` is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from events.models import ClaimFrequency
from services.common.domain import ServiceAggregate
from services.common.episodes import EpisodeStatus
from services.common.errors import AlreadyRecorded, InvalidCommand, RuleViolated
from services.common.values import calendar_date, contract_data, one_of, text

FREQUENCIES = ("original", "replacement", "void")


def wire_line(line: Mapping[str, Any]) -> dict[str, Any]:
    """A claim line under its contract names, dates as text: what the stored event holds."""
    known = ("code", "from", "to", "units", "authorization")
    unknown = sorted(set(line) - set(known))
    if unknown:
        raise InvalidCommand(f"a claim line has unknown fields: {', '.join(unknown)}")
    missing = [name for name in known if name not in line]
    if missing:
        raise InvalidCommand(f"a claim line needs {', '.join(missing)}")
    return {
        name: line[name].isoformat() if isinstance(line[name], date) else line[name] for name in known
    }


class EpisodeClaims(ServiceAggregate):
    """The claims sent for one episode."""

    @staticmethod
    def create_id(episode_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"carecoord:claims/episode/{episode_id}")

    @event("Opened")
    def __init__(self, episode_id: str) -> None:
        self.episode_id = episode_id
        self.claims: dict[str, tuple[str, str]] = {}  # claim_id -> (period, frequency)

    def submit(
        self,
        episode: EpisodeStatus,
        occurred_at: str,
        claim_id: str,
        period: str,
        frequency: ClaimFrequency,
        submitted_on: date,
        lines: Sequence[Mapping[str, Any]],
        replaces: str | None = None,
    ) -> None:
        text("claim_id", claim_id)
        one_of("frequency", frequency, FREQUENCIES)
        calendar_date("submitted_on", submitted_on)
        written = [wire_line(line) for line in lines]
        # The contract's own rules (a real month, lines fit the frequency, replaces when needed).
        contract_data(
            "ClaimSubmitted",
            claim_id=claim_id,
            period=period,
            frequency=frequency,
            replaces=replaces,
            submitted_on=submitted_on,
            lines=written,
        )
        if claim_id in self.claims:
            sent_period, sent_frequency = self.claims[claim_id]
            raise AlreadyRecorded(
                f"claim {claim_id} of episode {self.episode_id} was already sent "
                f"({sent_frequency}, {sent_period}): a new claim needs a new claim_id"
            )
        if replaces is not None and replaces not in self.claims:
            raise RuleViolated(
                f"claim {claim_id} {'voids' if frequency == 'void' else 'replaces'} {replaces}, "
                f"which is not a claim sent for episode {self.episode_id}"
            )
        # Declined or discontinued episodes still get claims: a standing claim of a declined
        # episode must be voided, and a month is billed after therapy ends.
        self._submitted(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            claim_id=claim_id,
            period=period,
            frequency=frequency,
            replaces=replaces,
            submitted_on=submitted_on,
            lines=written,
        )

    @event("ClaimSubmitted")
    def _submitted(
        self,
        episode_id: str,
        occurred_at: str,
        claim_id: str,
        period: str,
        frequency: str,
        replaces: str | None,
        submitted_on: date,
        lines: list[dict[str, Any]],
    ) -> None:
        self.claims[claim_id] = (period, frequency)
