"""The one write path of the read models: a batch of events in, read models and positions out.

Every writer uses it: the embedded projector and the API's inline projection (following the
services' notification logs), the Kafka consumers, and rebuild/verify. A batch is: store the new
events by event_id (a repeat changes nothing), store the dead letters, recompute the episodes the
events touched together with the other episodes of the same patients (or, catching up, mark them
pending), and save the new positions, all in one transaction. A crash before the commit loses the
whole batch, which is read again; a crash after it loses nothing. No event counts twice, none is lost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from events import Event, parse_event
from projections.core.episode import EpisodeView, project_patient
from projections.readmodels.store import (
    EPISODE_LOCK,
    PATIENT_LOCK,
    Cursor,
    DeadLetter,
    ReadModelStore,
    WrittenViews,
)


@dataclass(slots=True)
class Batch:
    """What one consumer read: events, letters that did not fit, and where each stream got to."""

    events: list[Event] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)  # per stream, the position after the batch
    starts: dict[str, int] = field(default_factory=dict)  # per stream, the batch's first position
    # episode_id -> the shard (Kafka partition number) its events came from: pending episodes are
    # recomputed by whoever holds that shard (see ReadModelStore.defer).
    shard_of: dict[str, int] = field(default_factory=dict)

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


class EventCache:
    """Parsed events by event_id, so a recomputed episode's stored events are not parsed again.

    Only what this process stored itself or read back from the table goes in, keyed by event_id
    (an id's stored body never changes), bounded to the most recently used `capacity` events.
    """

    def __init__(self, capacity: int = 300_000) -> None:
        self.capacity = capacity
        self._events: OrderedDict[str, Event] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            self._events[event.event_id] = event
        self._trim()

    def parse(self, event_id: str, body: str) -> Event:
        event = self._events.get(event_id)
        if event is None:
            self.misses += 1
            event = parse_event(body)
            self._events[event_id] = event
            self._trim()
        else:
            self.hits += 1
            self._events.move_to_end(event_id)
        return event

    def get(self, event_id: str) -> Event | None:
        event = self._events.get(event_id)
        if event is not None:
            self.hits += 1
            self._events.move_to_end(event_id)
        return event

    def clear(self) -> None:
        self._events.clear()

    def _trim(self) -> None:
        while len(self._events) > self.capacity:
            self._events.popitem(last=False)


class PositionGap(Exception):
    """A batch begins after the stored position of its partition: the records between are unread."""

    def __init__(self, stored: Mapping[str, int], starts: Mapping[str, int]) -> None:
        self.stored = dict(stored)
        self.starts = dict(starts)
        super().__init__(
            "; ".join(
                f"{s}: stored position {self.stored[s]}, batch starts at {self.starts[s]}" for s in stored
            )
        )


@dataclass(slots=True)
class BatchResult:
    events: int
    inserted: int
    dead_letters: int
    recomputed: int
    positions: dict[str, int]  # the stored positions of the batch's streams after the commit
    deferred: int = 0  # episodes left pending (catching up)


def apply_records(
    store: ReadModelStore,
    batch: Batch,
    through: date,
    cache: EventCache | None = None,
    consumer: str = "kafka",
    allow_gaps: Iterable[str] = (),
    before_commit: Callable[[], None] | None = None,
    written: WrittenViews | None = None,
    *,
    defer: bool = False,
) -> BatchResult:
    """One batch in one transaction: events, dead letters, recomputed episodes and positions.

    The same rows as `projections.readmodels.projector.apply_batch` (same tables, same recomputation), with
    bulk statements, advisory locks for concurrent consumers, and the position check.
    Raises PositionGap (nothing written) when a stream's batch starts after its stored position,
    unless the stream is in `allow_gaps` (the offsets between were found not to exist).
    With `defer` (catching up) the touched episodes are marked pending instead of recomputed
    (see `apply_in_transaction` and `drain_pending`).
    """
    cache = cache if cache is not None else EventCache(0)
    with _forgetting_on_rollback(cache, written), store.transaction() as cursor:
        result = apply_in_transaction(
            store,
            cursor,
            batch,
            through,
            cache,
            consumer,
            allow_gaps,
            written,
            defer=defer,
        )
        if before_commit is not None:
            before_commit()
    return result


def drain_pending(
    store: ReadModelStore,
    through: date,
    cache: EventCache | None = None,
    written: WrittenViews | None = None,
    limit: int = 500,
    partitions: Iterable[int] | None = None,
) -> int:
    """Recompute up to `limit` pending episodes (of the partition numbers given, or any) and their
    patients' other episodes in one transaction; the number claimed (0: none left unclaimed)."""
    cache = cache if cache is not None else EventCache(0)
    with _forgetting_on_rollback(cache, written), store.transaction() as cursor:
        claimed = store.claim_pending(cursor, limit, partitions)
        if claimed:
            recompute(store, cursor, claimed, through, cache.parse, cache.get, written)
    return len(claimed)


@contextmanager
def _forgetting_on_rollback(cache: EventCache, written: WrittenViews | None) -> Iterator[None]:
    try:
        yield
    except BaseException:
        cache.clear()  # it may hold events of the rolled-back transaction
        if written is not None:
            written.clear()  # not needed (stored digests are checked), but it frees them
        raise


def apply_in_transaction(
    store: ReadModelStore,
    cursor: Cursor,
    batch: Batch,
    through: date,
    cache: EventCache,
    consumer: str = "kafka",
    allow_gaps: Iterable[str] = (),
    written: WrittenViews | None = None,
    *,
    defer: bool = False,
) -> BatchResult:
    """`apply_records` inside a transaction the caller owns (and commits, or rolls back).

    Catching up, an episode's events arrive over several batches, and recomputing it after each
    is most of the work: with `defer` its new events are stored and it is marked pending, to be
    recomputed once by `drain_pending`, from all its events.
    """
    allowed = set(allow_gaps)
    stored = store.positions_for_update(cursor, consumer, batch.positions)
    gaps = {
        s: stored.get(s, 0)
        for s, start in batch.starts.items()
        if start > stored.get(s, 0) and s not in allowed
    }
    if gaps:
        raise PositionGap(gaps, {s: batch.starts[s] for s in gaps})
    store.lock(cursor, EPISODE_LOCK, (e.episode_id for e in batch.events))
    inserted = store.insert_new_events(cursor, batch.events)
    cache.add(inserted)
    store.store_dead_letters(cursor, batch.dead_letters)
    touched = {e.episode_id for e in inserted}
    if defer:
        store.defer(cursor, {e: batch.shard_of.get(e, 0) for e in touched})
        recomputed: set[str] = set()
    else:
        recomputed = recompute(store, cursor, touched, through, cache.parse, cache.get, written)
    for s, position in batch.positions.items():
        if position > stored.get(s, -1):
            store.save_position(cursor, consumer, s, position)
            stored[s] = position
    return BatchResult(
        len(batch.events),
        len(inserted),
        len(batch.dead_letters),
        len(recomputed),
        stored,
        deferred=len(touched) if defer else 0,
    )
