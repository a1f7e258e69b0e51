"""The one write path of the read models: a batch of events in, read models and positions out.

Every writer uses it: the embedded projector and the API's inline projection (following the
services' notification logs, and the API's daily refresh), the Kafka consumers, and rebuild/verify.
A batch is, in one transaction: check that it starts where the stored positions say, store the new
events by event_id (a repeat changes nothing), store the dead letters, recompute the episodes the
events touched together with the other episodes of the same patients (or, catching up, mark them
pending), and save the new positions. A crash before the commit loses the whole batch, which is
read again; a crash after it loses nothing. No event counts twice, none is lost.

What differs between writers is only what they pass: a consumer name, an EventCache and a
WrittenViews (which save work, never change a row), the streams whose gaps are known to be empty,
and `defer` while catching up. On PostgreSQL several writers run at once and take turns by episode
and by patient (see `recompute`); on SQLite one transaction writes at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from events import Event
from projections.core.records import EpisodeRecord, record_patient
from projections.readmodels import tables
from projections.readmodels.caches import EventCache, WrittenViews
from projections.readmodels.datastore import Cursor
from projections.readmodels.store import EPISODE_LOCK, PATIENT_LOCK, ReadModelStore
from projections.readmodels.tables import DeadLetter


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


@dataclass(slots=True)
class BatchResult:
    events: int
    inserted: int
    dead_letters: int
    recomputed: int
    positions: dict[str, int]  # the stored positions of the batch's streams after the commit
    deferred: int = 0  # episodes left pending (catching up)


class PositionGap(Exception):
    """A batch begins after the stored position of its stream: the records between are unread."""

    def __init__(self, stored: Mapping[str, int], starts: Mapping[str, int]) -> None:
        self.stored = dict(stored)
        self.starts = dict(starts)
        super().__init__(
            "; ".join(
                f"{s}: stored position {self.stored[s]}, batch starts at {self.starts[s]}" for s in stored
            )
        )


def apply_batch(
    store: ReadModelStore,
    batch: Batch,
    through: date,
    *,
    consumer: str,
    cache: EventCache | None = None,
    written: WrittenViews | None = None,
    allow_gaps: Iterable[str] = (),
    defer: bool = False,
    before_commit: Callable[[], None] | None = None,
) -> BatchResult:
    """One batch in one transaction: events, dead letters, recomputed episodes and positions.

    Raises PositionGap (nothing written) when a stream's batch starts after its stored position,
    unless the stream is in `allow_gaps` (the offsets between were found not to exist).
    With `defer` (catching up) the touched episodes are marked pending instead of recomputed
    (see `drain_pending`). `before_commit` lets tests crash between write and commit.
    """
    with _forgetting_on_rollback(cache, written), store.transaction() as cursor:
        result = apply_in_transaction(
            store,
            cursor,
            batch,
            through,
            consumer=consumer,
            cache=cache,
            written=written,
            allow_gaps=allow_gaps,
            defer=defer,
        )
        if before_commit is not None:
            before_commit()
    return result


def apply_in_transaction(
    store: ReadModelStore,
    cursor: Cursor,
    batch: Batch,
    through: date,
    *,
    consumer: str,
    cache: EventCache | None = None,
    written: WrittenViews | None = None,
    allow_gaps: Iterable[str] = (),
    defer: bool = False,
) -> BatchResult:
    """`apply_batch` inside a transaction the caller owns (and commits, or rolls back).

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
    inserted = store.insert_events(cursor, batch.events)
    if cache is not None:
        cache.add(inserted)
    store.store_dead_letters(cursor, batch.dead_letters)
    touched = {e.episode_id for e in inserted}
    if defer:
        store.defer(cursor, {e: batch.shard_of.get(e, 0) for e in touched})
        recomputed: set[str] = set()
    else:
        recomputed = recompute(store, cursor, touched, through, cache, written)
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
    with _forgetting_on_rollback(cache, written), store.transaction() as cursor:
        claimed = store.claim_pending(cursor, limit, partitions)
        if claimed:
            recompute(store, cursor, claimed, through, cache, written)
    return len(claimed)


def refresh_stale(store: ReadModelStore, today: date) -> set[str]:
    """The daily refresh: recompute the episodes last computed through an earlier day (with their
    patients' others); return those recomputed."""
    with store.transaction() as cursor:
        stale = tables.episodes_computed_before(cursor, today)
        return recompute(store, cursor, stale, today) if stale else set()


def recompute(
    store: ReadModelStore,
    cursor: Cursor,
    episode_ids: Iterable[str],
    through: date,
    cache: EventCache | None = None,
    written: WrittenViews | None = None,
) -> set[str]:
    """Recompute the given episodes and every other episode of their patients; return them all.

    The patients' views are computed before their locks are taken and checked once they are held:
    two consumers that share a patient take turns on its lock until commit, and computing first
    makes that turn short (writes and commit, not the recomputation). A patient whose group has
    changed meanwhile (another consumer committed an event of it) is read and settled again.
    `cache` lets a consumer reuse events it has already parsed; `written` lets it leave the rows
    of episodes that come out as it last wrote them.
    """
    patients = store.patients_of(cursor, episode_ids)
    # Every episode of these patients is recomputed here: none need stay pending (catching up, a
    # patient's episodes of other partitions or later chunks would be recomputed once more).
    store.release_pending(cursor, patients)
    read_from: dict[str, int] = {}
    records_of = _settle(store.patient_groups(cursor, patients, cache, read_from), through)
    if patients:
        store.lock(cursor, PATIENT_LOCK, patients)
        changed = store.changed_groups(cursor, patients, read_from)
        if changed:
            records_of.update(_settle(store.patient_groups(cursor, changed, cache), through))
    records = [record for patient in sorted(records_of) for record in records_of[patient]]
    store.replace_episodes(cursor, records, through, written)
    return {record.episode_id for record in records}


def _settle(
    groups: Mapping[str, Mapping[str, list[Event]]], through: date
) -> dict[str, list[EpisodeRecord]]:
    """Each patient's episodes settled once: their views, worklist spans and period claims."""
    return {patient: record_patient(episodes, through) for patient, episodes in groups.items()}


@contextmanager
def _forgetting_on_rollback(cache: EventCache | None, written: WrittenViews | None) -> Iterator[None]:
    try:
        yield
    except BaseException:
        if cache is not None:
            cache.clear()  # it may hold events of the rolled-back transaction
        if written is not None:
            written.clear()  # not needed (stored digests are checked), but it frees them
        raise
