"""Deliveries: the pharmacy dispenses drug, supplies and equipment; each delivery covers some days.

`EpisodeDeliveries` holds every delivery of one episode, so that the rules about a delivery's life
(scheduled, then completed or failed; only a completed one voided, once) are checked in one place.
Its first event, `Opened`, is bookkeeping and not part of the contract; the others are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from services.common.domain import ServiceAggregate
from services.common.episodes import EpisodeStatus
from services.common.errors import AlreadyRecorded, InvalidCommand, NotFound, RuleViolated
from services.common.values import calendar_date, contract_data, text, whole_number

DeliveryState = Literal["scheduled", "completed", "failed", "voided"]


@dataclass(frozen=True)
class Item:
    """One line of a delivery: a HCPCS code (J0475 baclofen 10 mg, A4221 supplies, E0781 pump), units."""

    code: str
    units: int
    description: str = ""

    @classmethod
    def of(cls, value: Item | Mapping[str, Any]) -> Item:
        if isinstance(value, Item):
            return value
        if isinstance(value, Mapping):
            return cls(
                code=value.get("code", ""),
                units=value.get("units", 0),
                description=value.get("description", ""),
            )
        raise InvalidCommand(f"a delivery item must be an Item or a mapping, got {type(value).__name__}")


@dataclass
class Delivery:
    delivery_id: str
    state: DeliveryState
    scheduled_for: date | None = None
    delivered_on: date | None = None


class EpisodeDeliveries(ServiceAggregate):
    """The deliveries of one episode."""

    @staticmethod
    def create_id(episode_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"carecoord:deliveries/episode/{episode_id}")

    @event("Opened")
    def __init__(self, episode_id: str) -> None:
        self.episode_id = episode_id
        self.deliveries: dict[str, Delivery] = {}

    # --- schedule ------------------------------------------------------------------------------

    def schedule(
        self, episode: EpisodeStatus, occurred_at: str, delivery_id: str, scheduled_for: date
    ) -> None:
        text("delivery_id", delivery_id)
        calendar_date("scheduled_for", scheduled_for)
        if delivery_id in self.deliveries:
            raise AlreadyRecorded(
                f"delivery {delivery_id} of episode {self.episode_id} already exists "
                f"({self.deliveries[delivery_id].state})"
            )
        episode.require_open(scheduled_for, f"a delivery ({delivery_id})")
        self._scheduled(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            delivery_id=delivery_id,
            scheduled_for=scheduled_for,
        )

    @event("DeliveryScheduled")
    def _scheduled(self, episode_id: str, occurred_at: str, delivery_id: str, scheduled_for: date) -> None:
        self.deliveries[delivery_id] = Delivery(delivery_id, "scheduled", scheduled_for=scheduled_for)

    # --- complete ------------------------------------------------------------------------------

    def complete(
        self,
        episode: EpisodeStatus,
        occurred_at: str,
        delivery_id: str,
        delivered_on: date,
        days_supply: int,
        items: Sequence[Item | Mapping[str, Any]],
    ) -> None:
        text("delivery_id", delivery_id)
        existing = self.deliveries.get(delivery_id)
        if existing is not None and existing.state != "scheduled":
            raise RuleViolated(
                f"delivery {delivery_id} of episode {self.episode_id} is {existing.state}: "
                "only a scheduled (or new) delivery can be completed (correct-delivery corrects it)"
            )
        self._record_completion(episode, occurred_at, delivery_id, delivered_on, days_supply, items, None)

    def correct(
        self,
        episode: EpisodeStatus,
        occurred_at: str,
        delivery_id: str,
        delivered_on: date,
        days_supply: int,
        items: Sequence[Item | Mapping[str, Any]],
        correction: str,
    ) -> None:
        """A new completion of a completed delivery, with the reason: the one recorded last counts."""
        text("delivery_id", delivery_id)
        if not isinstance(correction, str) or not correction.strip():
            raise InvalidCommand(f"delivery {delivery_id}: a correction needs its reason (correction)")
        delivery = self._delivery(delivery_id)
        if delivery.state != "completed":
            raise RuleViolated(
                f"delivery {delivery_id} of episode {self.episode_id} is {delivery.state}: "
                "only a completed delivery can be corrected"
            )
        self._record_completion(
            episode, occurred_at, delivery_id, delivered_on, days_supply, items, correction
        )

    def _record_completion(
        self,
        episode: EpisodeStatus,
        occurred_at: str,
        delivery_id: str,
        delivered_on: date,
        days_supply: int,
        items: Sequence[Item | Mapping[str, Any]],
        correction: str | None,
    ) -> None:
        calendar_date("delivered_on", delivered_on)
        whole_number("days_supply", days_supply)
        if days_supply <= 0:
            raise InvalidCommand(
                f"delivery {delivery_id}: days_supply must be more than 0, got {days_supply}"
            )
        checked = self._checked_items(delivery_id, items)
        episode.require_open(delivered_on, f"a delivery ({delivery_id})")
        item_dicts = [{"code": i.code, "description": i.description, "units": i.units} for i in checked]
        contract_data(
            "DeliveryCompleted",
            delivery_id=delivery_id,
            delivered_on=delivered_on,
            days_supply=days_supply,
            items=item_dicts,
            correction=correction,
        )
        self._completed(
            episode_id=self.episode_id,
            occurred_at=occurred_at,
            delivery_id=delivery_id,
            delivered_on=delivered_on,
            days_supply=days_supply,
            items=item_dicts,
            correction=correction,
        )

    @staticmethod
    def _checked_items(delivery_id: str, items: Sequence[Item | Mapping[str, Any]]) -> list[Item]:
        if isinstance(items, str | bytes) or not isinstance(items, Sequence) or not items:
            raise InvalidCommand(f"delivery {delivery_id}: a completed delivery needs at least one item")
        checked = [Item.of(item) for item in items]
        for number, item in enumerate(checked, start=1):
            if not isinstance(item.code, str) or not item.code.strip():
                raise InvalidCommand(f"delivery {delivery_id}: item {number} has no code")
            whole_number(f"delivery {delivery_id}: item {number} ({item.code}) units", item.units)
            if item.units <= 0:
                raise InvalidCommand(
                    f"delivery {delivery_id}: item {number} ({item.code}) units must be "
                    f"more than 0, got {item.units}"
                )
            if not isinstance(item.description, str):
                raise InvalidCommand(
                    f"delivery {delivery_id}: item {number} ({item.code}) description must be text"
                )
        return checked

    @event("DeliveryCompleted")
    def _completed(
        self,
        episode_id: str,
        occurred_at: str,
        delivery_id: str,
        delivered_on: date,
        days_supply: int,
        items: list[dict[str, Any]],
        correction: str | None = None,  # absent from completions stored before corrections existed
    ) -> None:
        delivery = self.deliveries.setdefault(delivery_id, Delivery(delivery_id, "completed"))
        delivery.state = "completed"
        delivery.delivered_on = delivered_on

    # --- fail, void ----------------------------------------------------------------------------

    def fail(self, occurred_at: str, delivery_id: str, reason: str) -> None:
        text("reason", reason)
        delivery = self._delivery(delivery_id)
        if delivery.state != "scheduled":
            raise RuleViolated(
                f"delivery {delivery_id} of episode {self.episode_id} is {delivery.state}: "
                "only a scheduled delivery can fail"
            )
        self._failed(
            episode_id=self.episode_id, occurred_at=occurred_at, delivery_id=delivery_id, reason=reason
        )

    @event("DeliveryFailed")
    def _failed(self, episode_id: str, occurred_at: str, delivery_id: str, reason: str) -> None:
        self.deliveries[delivery_id].state = "failed"

    def void(self, occurred_at: str, delivery_id: str, reason: str) -> None:
        text("reason", reason)
        delivery = self._delivery(delivery_id)
        if delivery.state == "voided":
            raise AlreadyRecorded(f"delivery {delivery_id} of episode {self.episode_id} was already voided")
        if delivery.state != "completed":
            raise RuleViolated(
                f"delivery {delivery_id} of episode {self.episode_id} is {delivery.state}: "
                "only a completed delivery can be voided"
            )
        self._voided(
            episode_id=self.episode_id, occurred_at=occurred_at, delivery_id=delivery_id, reason=reason
        )

    @event("DeliveryVoided")
    def _voided(self, episode_id: str, occurred_at: str, delivery_id: str, reason: str) -> None:
        self.deliveries[delivery_id].state = "voided"

    def _delivery(self, delivery_id: str) -> Delivery:
        try:
            return self.deliveries[delivery_id]
        except KeyError:
            raise NotFound(f"delivery {delivery_id} of episode {self.episode_id} is unknown") from None
