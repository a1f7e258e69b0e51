"""The claims service: record a claim sent to the payer for a known episode (shared/claims.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from events.models import ClaimFrequency, Source
from services.claims.domainmodel import EpisodeClaims
from services.common.application import EpisodeFollowingApplication, command
from services.common.values import occurred


class ClaimsApplication(EpisodeFollowingApplication):
    name: ClassVar[Source] = "claims"  # type: ignore[misc]

    @command
    def submit_claim(
        self,
        episode_id: str,
        *,
        claim_id: str,
        period: str,
        frequency: ClaimFrequency,
        submitted_on: date,
        lines: Sequence[Mapping[str, Any]],
        replaces: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Record a claim as sent: an original, a replacement (frequency code 7) or a void (8)."""
        episode = self.episode(episode_id)
        claims = self._claims(episode_id)
        claims.submit(
            episode, occurred(occurred_at), claim_id, period, frequency, submitted_on, lines, replaces
        )
        self.save(claims)

    def get_claims(self, episode_id: str) -> EpisodeClaims:
        return self._claims(episode_id)

    def _claims(self, episode_id: str) -> EpisodeClaims:
        claims: EpisodeClaims | None = self._get_or_none(EpisodeClaims.create_id(episode_id))
        return claims if claims is not None else EpisodeClaims(episode_id)
