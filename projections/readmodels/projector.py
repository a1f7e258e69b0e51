"""Keeping the read models current from the services' event streams.

A batch is: read the new events of each stream after its recorded position, store them by
event_id (a repeat changes nothing), recompute the episodes they touched together with the other
episodes of the same patients, and write the read models and the new positions in one
transaction. A crash before the commit loses the whole batch, which is read again on restart;
a crash after it loses nothing. Either way no event counts twice and none is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from events import Event
from projections.core.episode import EpisodeView, project_patient
from projections.readmodels.store import PATIENT_LOCK, Cursor, DeadLetter, ReadModelStore, WrittenViews


class EventStream(Protocol):
    """A service's stored events in the contract: its notification log on the embedded default."""

    @property
    def name(self) -> str: ...

    def contract_events(self, start: int = 1, limit: int | None = None) -> list[tuple[int, Event]]: ...


@dataclass(slots=True)
class Batch:
    """What one consumer read: events, letters that did not fit, and where each stream got to."""

    events: list[Event] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events) + len(self.dead_letters)


def apply_batch(
    store: ReadModelStore,
    consumer: str,
    batch: Batch,
    through: date,
    before_commit: Callable[[], None] | None = None,
    written: WrittenViews | None = None,
) -> set[str]:
    """Store a batch and its positions, and recompute what it touched, in one transaction.

    Returns the episodes recomputed. `before_commit` lets tests crash between write and commit.
    """
    with store.transaction() as cursor:
        touched = store.store_events(cursor, batch.events)
        store.store_dead_letters(cursor, batch.dead_letters)
        recomputed = recompute(store, cursor, touched, through, written=written)
        for stream, position in batch.positions.items():
            store.save_position(cursor, consumer, stream, position)
        if before_commit is not None:
            before_commit()
    return recomputed


def recompute(
    store: ReadModelStore,
    cursor: Cursor,
    episode_ids: Iterable[str],
    through: date,
    parse: Callable[[str, str], Event] | None = None,
    cached: Callable[[str], Event | None] | None = None,
    written: WrittenViews | None = None,
) -> set[str]:
    """Recompute the given episodes and every other episode of their patients; return them all.

    The one path for the embedded projector, the Kafka consumers and the API's daily refresh.
    `parse` and `cached` let a consumer reuse events it has already parsed; `written` lets it
    leave the rows of episodes that come out as it last wrote them.
    """
    patients = store.patients_of(cursor, episode_ids)
    # Every episode of these patients is recomputed here: none need stay pending (catching up, a
    # patient's episodes of other partitions or later chunks would be recomputed once more).
    store.release_pending(cursor, patients)
    if store.dialect == "postgres" and cached is not None:
        views_of = _settle_then_lock(store, cursor, patients, through, parse, cached)
    else:
        store.lock(cursor, PATIENT_LOCK, patients)
        views_of = {
            patient: project_patient(episodes, through)
            for patient, episodes in store.groups_of(cursor, patients, parse, cached).items()
        }
    views = [view for patient in sorted(views_of) for view in views_of[patient]]
    store.replace_episodes(cursor, views, through, written)
    return {view.episode_id for view in views}


def _settle_then_lock(
    store: ReadModelStore,
    cursor: Cursor,
    patients: set[str],
    through: date,
    parse: Callable[[str, str], Event] | None,
    cached: Callable[[str], Event | None],
) -> dict[str, list[EpisodeView]]:
    """The patients' views, computed before their locks are taken and checked once they are held.

    Two consumers that share a patient take turns on its lock until commit; computing first makes
    that turn short (writes and commit, not the recomputation). Once the locks are held, every
    event committed by others for these patients' episodes is visible: a patient whose group now
    holds more events than it was read from is read and settled again.
    """
    read_from: dict[str, int] = {}
    views_of = {
        patient: project_patient(episodes, through)
        for patient, episodes in store.groups_of(cursor, patients, parse, cached, read_from).items()
    }
    if not patients:
        return views_of
    store.lock(cursor, PATIENT_LOCK, patients)
    now = store.group_fingerprints(cursor, patients)
    stale = sorted(p for p in patients if now.get(p, 0) != read_from.get(p, 0))
    if stale:
        for patient, episodes in store.groups_of(cursor, stale, parse, cached).items():
            views_of[patient] = project_patient(episodes, through)
    return views_of


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
            apply_batch(self.store, self.consumer, batch, self.through(), before_commit, self.written)
        return len(batch)

    def catch_up(self) -> int:
        total = 0
        while processed := self.run_once():
            total += processed
        return total
