"""The deliveries service: schedule, complete, fail and void deliveries of a known episode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from events.models import Source
from services.common.application import EpisodeFollowingApplication, command
from services.common.values import occurred
from services.deliveries.domainmodel import EpisodeDeliveries, Item


class DeliveriesApplication(EpisodeFollowingApplication):
    name: ClassVar[Source] = "deliveries"  # type: ignore[misc]

    @command
    def schedule_delivery(
        self, episode_id: str, *, delivery_id: str, scheduled_for: date, occurred_at: datetime | None = None
    ) -> None:
        episode = self.episode(episode_id)
        deliveries = self._deliveries(episode_id)
        deliveries.schedule(episode, occurred(occurred_at), delivery_id, scheduled_for)
        self.save(deliveries)

    @command
    def complete_delivery(
        self,
        episode_id: str,
        *,
        delivery_id: str,
        delivered_on: date,
        days_supply: int,
        items: Sequence[Item | Mapping[str, Any]],
        occurred_at: datetime | None = None,
    ) -> None:
        episode = self.episode(episode_id)
        deliveries = self._deliveries(episode_id)
        deliveries.complete(episode, occurred(occurred_at), delivery_id, delivered_on, days_supply, items)
        self.save(deliveries)

    @command
    def correct_delivery(
        self,
        episode_id: str,
        *,
        delivery_id: str,
        delivered_on: date,
        days_supply: int,
        items: Sequence[Item | Mapping[str, Any]],
        correction: str,
        occurred_at: datetime | None = None,
    ) -> None:
        """Correct a completed delivery: a new completion of the same delivery_id, with the reason in
        `correction`. The one recorded last is the one the ledger and the claims take."""
        episode = self.episode(episode_id)
        deliveries = self._deliveries(episode_id)
        deliveries.correct(
            episode, occurred(occurred_at), delivery_id, delivered_on, days_supply, items, correction
        )
        self.save(deliveries)

    @command
    def fail_delivery(
        self, episode_id: str, *, delivery_id: str, reason: str, occurred_at: datetime | None = None
    ) -> None:
        self.episode(episode_id)
        deliveries = self._deliveries(episode_id)
        deliveries.fail(occurred(occurred_at), delivery_id, reason)
        self.save(deliveries)

    @command
    def void_delivery(
        self, episode_id: str, *, delivery_id: str, reason: str, occurred_at: datetime | None = None
    ) -> None:
        self.episode(episode_id)
        deliveries = self._deliveries(episode_id)
        deliveries.void(occurred(occurred_at), delivery_id, reason)
        self.save(deliveries)

    def get_deliveries(self, episode_id: str) -> EpisodeDeliveries:
        return self._deliveries(episode_id)

    def _deliveries(self, episode_id: str) -> EpisodeDeliveries:
        deliveries: EpisodeDeliveries | None = self._get_or_none(EpisodeDeliveries.create_id(episode_id))
        return deliveries if deliveries is not None else EpisodeDeliveries(episode_id)
