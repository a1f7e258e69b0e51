"""Keeping the read models current from the services' event streams.

A batch is the new events of each stream after its recorded position, written by the one write
path (writer.apply_batch) as the Kafka consumers write theirs: events by event_id, the episodes
they touched recomputed with the other episodes of the same patients, and the new positions, in
one transaction. A crash before the commit loses the whole batch, which is read again on restart;
a crash after it loses nothing. Either way no event counts twice and none is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol

from events import Event
from projections.readmodels.caches import WrittenViews
from projections.readmodels.store import ReadModelStore
from projections.readmodels.writer import Batch, apply_batch


class EventStream(Protocol):
    """A service's stored events in the contract: its notification log on the embedded default."""

    @property
    def name(self) -> str: ...

    def contract_events(self, start: int = 1, limit: int | None = None) -> list[tuple[int, Event]]: ...


class Projector:
    """Follows the services' notification logs directly (the embedded default, no Kafka)."""

    def __init__(
        self,
        store: ReadModelStore,
        streams: Sequence[EventStream],
        through: Callable[[], date],
        consumer: str = "embedded",
        batch_size: int = 1000,
    ) -> None:
        self.store = store
        self.streams = streams
        self.through = through
        self.consumer = consumer
        self.batch_size = batch_size
        self.written = WrittenViews(capacity=5_000)  # what it last wrote: unchanged sections stay
        store.create_tables()

    def read_batch(self) -> Batch:
        positions = self.store.positions(self.consumer)
        batch = Batch()
        for stream in self.streams:
            read = stream.contract_events(start=positions.get(stream.name, 0) + 1, limit=self.batch_size)
            if read:
                batch.events.extend(event for _, event in read)
                batch.positions[stream.name] = read[-1][0]
        return batch

    def run_once(self, before_commit: Callable[[], None] | None = None) -> int:
        """Process one batch; the number of events it held (0 when caught up)."""
        batch = self.read_batch()
        if batch:
            apply_batch(
                self.store,
                batch,
                self.through(),
                consumer=self.consumer,
                written=self.written,
                before_commit=before_commit,
            )
        return len(batch)

    def catch_up(self) -> int:
        total = 0
        while processed := self.run_once():
            total += processed
        return total
