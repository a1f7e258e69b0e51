"""Catching up, consumers store events and mark their episodes pending; drained, the read models are
exactly what recomputing after every batch gives.

`apply_batch(..., defer=True)` stores a batch's events and marks its episodes pending (with their
Kafka partition number) instead of recomputing them; `drain_pending` claims pending episodes and
recomputes them with their patients' other episodes. These tests compare every row with a store fed
the same batches without deferring, and check the claims that let consumers drain side by side.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import date

import pytest

from benchmarks.generate import history
from projections.kafka.batch import DecodedBatch, decode_records
from projections.readmodels.postgres import PostgresReadModelStore
from projections.readmodels.store import ReadModelStore
from projections.readmodels.writer import apply_batch, drain_pending
from tests.support.postgres import postgres_url

pytestmark = pytest.mark.postgres

THROUGH = date(2026, 12, 31)
PARTITIONS = 3
LINES = list(history(1_500, 40))  # several patients with more than one episode


@dataclass
class Record:
    """What the consumer reads of an aiokafka ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes


def partition_of(episode_id: str) -> int:
    return zlib.crc32(episode_id.encode()) % PARTITIONS


def records(lines: list[str]) -> list[Record]:
    offsets = [0] * PARTITIONS
    result = []
    for line in lines:
        episode_id = json.loads(line)["episode_id"]
        n = partition_of(episode_id)
        result.append(Record("t", n, offsets[n], line.encode(), episode_id.encode()))
        offsets[n] += 1
    return result


def batches(size: int = 300) -> list[DecodedBatch]:
    all_records = records(LINES)
    return [decode_records(all_records[i : i + size]) for i in range(0, len(all_records), size)]


def apply_all(store: ReadModelStore, *, defer: bool) -> None:
    for decoded in batches():
        apply_batch(store, decoded.batch, THROUGH, consumer="kafka", defer=defer)


def drain(store: ReadModelStore, partitions: list[int] | None = None, limit: int = 7) -> int:
    total = 0
    while claimed := drain_pending(store, THROUGH, limit=limit, partitions=partitions):
        total += claimed
    return total


@pytest.fixture
def stores(pg_store) -> tuple[ReadModelStore, ReadModelStore]:  # type: ignore[no-untyped-def]
    """A store fed with deferral and one fed without, on separate tables."""
    return pg_store("deferred"), pg_store("direct")


def another_connection(store: ReadModelStore) -> ReadModelStore:
    return PostgresReadModelStore(postgres_url(), store.prefix)


def episode_rows(store: ReadModelStore) -> int:
    with store.transaction() as cursor:
        cursor.execute("SELECT count(*) FROM {p}episodes")
        return int(cursor.fetchall()[0][0])


def test_deferred_batches_drained_equal_recomputing_after_every_batch(stores) -> None:  # type: ignore[no-untyped-def]
    deferred, direct = stores
    apply_all(deferred, defer=True)
    apply_all(direct, defer=False)

    episodes = {json.loads(line)["episode_id"] for line in LINES}
    assert deferred.pending() == episodes
    assert episode_rows(deferred) == 0  # nothing recomputed yet
    assert deferred.dump()["events"] == direct.dump()["events"]

    claimed = drain(deferred)

    assert deferred.pending() == set()
    assert deferred.dump() == direct.dump()
    # A patient's other episodes are recomputed with a claimed one and taken off the list with it.
    assert claimed < len(episodes)


def test_a_drain_of_some_partitions_recomputes_those_and_their_patients_other_episodes(stores) -> None:  # type: ignore[no-untyped-def]
    deferred, direct = stores
    apply_all(deferred, defer=True)
    apply_all(direct, defer=False)
    pending = deferred.pending()

    drain(deferred, partitions=[0])

    left = deferred.pending()
    assert left and left < pending
    assert all(partition_of(e) != 0 for e in left)
    assert not [e for e in pending if partition_of(e) == 0 and e in left]
    recomputed = set(deferred.digests())
    assert recomputed == pending - left
    live, full = deferred.digests(), direct.digests()
    assert {e: live[e] for e in recomputed} == {e: full[e] for e in recomputed}
    drain(deferred)
    assert deferred.dump() == direct.dump()


def test_a_failed_drain_leaves_its_episodes_pending(stores, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    deferred, direct = stores
    apply_all(deferred, defer=True)
    apply_all(direct, defer=False)
    pending = deferred.pending()

    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the database went away mid-write")

    with monkeypatch.context() as patch:
        patch.setattr(deferred, "replace_episodes", fail)
        with pytest.raises(RuntimeError):
            drain_pending(deferred, THROUGH, limit=10)

    assert deferred.pending() == pending
    assert episode_rows(deferred) == 0
    drain(deferred)
    assert deferred.dump() == direct.dump()


def test_consumers_draining_together_skip_each_others_claims(stores) -> None:  # type: ignore[no-untyped-def]
    deferred, _ = stores
    apply_all(deferred, defer=True)
    pending = deferred.pending()
    other = another_connection(deferred)
    try:
        with other.transaction() as theirs:
            held = set(other.claim_pending(theirs, 5))
            with deferred.transaction() as mine:
                mine.execute("SET LOCAL lock_timeout = '2s'")  # waiting for their rows would fail
                everyone = deferred.claim_pending(mine, len(pending))
                patients = {json.loads(line).get("patient_ref") for line in LINES} - {None}
                deferred.release_pending(mine, patients)
                mine.execute("SELECT episode_id FROM {p}pending")
                still_listed = {row[0] for row in mine.fetchall()}
        assert len(held) == 5
        assert set(everyone) == pending - held
        assert still_listed == held  # their claims, not yet committed, neither waited for nor taken
    finally:
        other.close()


def test_an_event_stored_during_a_drain_leaves_its_episode_pending(stores, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Another consumer stores (deferring) an event of an episode being drained, after the drain
    claimed it and before it read its events: the drain's view lacks the event, so the episode
    must stay pending, and the next drain brings the event into the read model."""
    deferred, direct = stores
    every_record = records(LINES)
    late = every_record[-1]
    episode_id = late.key.decode()
    for i in range(0, len(every_record) - 1, 300):
        apply_batch(
            deferred,
            decode_records(every_record[i : min(i + 300, len(every_record) - 1)]).batch,
            THROUGH,
            consumer="kafka",
            defer=True,
        )
    apply_all(direct, defer=False)

    other = another_connection(deferred)
    theirs: list[threading.Thread] = []
    read_groups = deferred.patient_groups

    errors: list[BaseException] = []

    def store_the_late_event() -> None:
        try:
            apply_batch(
                other,
                decode_records([late]).batch,
                THROUGH,
                consumer="other",
                allow_gaps=[f"t:{late.partition}"],
                defer=True,
            )
        except BaseException as error:
            errors.append(error)

    def another_consumer_stores_the_late_event(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not theirs:
            thread = threading.Thread(target=store_the_late_event)
            theirs.append(thread)
            thread.start()
            time.sleep(0.5)  # let it get as far as it can before this drain reads
        return read_groups(*args, **kwargs)

    monkeypatch.setattr(deferred, "patient_groups", another_consumer_stores_the_late_event)
    try:
        drain_pending(deferred, THROUGH, limit=10_000)
        theirs[0].join(10)
        assert not theirs[0].is_alive() and not errors
    finally:
        other.close()
    monkeypatch.undo()

    assert deferred.pending() == {episode_id}
    drain(deferred)
    assert deferred.dump() == direct.dump()


def test_a_long_drain_yields_to_polling(pg_store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Draining goes in slices: a member that stops polling for max.poll.interval.ms leaves its
    group, and a drain of a long outage's episodes can take longer than that."""
    import asyncio

    from projections.kafka import subscriber as kafka_subscriber
    from projections.kafka.app import ConsumerSettings
    from projections.kafka.subscriber import ProjectionConsumer

    store = pg_store("slices")
    consumer = ProjectionConsumer(
        ConsumerSettings(
            bootstrap="127.0.0.1:1",  # never started: no broker needed
            postgres_url=postgres_url(),
            topics=["t"],
            deadletter_topic="t.dead",
            prefix=store.prefix,
        )
    )
    drains = 0

    async def one_transaction_of_many() -> bool:
        nonlocal drains
        drains += 1
        await asyncio.sleep(0.01)
        return True  # claimed some; more are left (_drain_wanted stays True)

    monkeypatch.setattr(kafka_subscriber, "DRAIN_SLICE_SECONDS", 0.1)
    monkeypatch.setattr(consumer, "_drain", one_transaction_of_many)
    try:
        asyncio.run(asyncio.wait_for(consumer._drain_all(), timeout=5))
    finally:
        consumer.close()
    assert 1 < drains < 50
    assert consumer._drain_wanted  # the rest is left for after the next poll


def test_draining_waits_for_what_is_polled_and_for_the_tail_of_a_full_batch(pg_store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The drainer recomputes pending episodes once no more than defer_above records are left
    unwritten, but not while a full batch's tail is still to come (it would touch most episodes,
    recomputed twice), nor while the ends of the partitions are unknown."""
    import asyncio

    from projections.kafka import subscriber as kafka_subscriber
    from projections.kafka.app import ConsumerSettings
    from projections.kafka.subscriber import ProjectionConsumer

    store = pg_store("drainer")
    consumer = ProjectionConsumer(
        ConsumerSettings(
            bootstrap="127.0.0.1:1",  # never started: no broker needed
            postgres_url=postgres_url(),
            topics=["t"],
            deadletter_topic="t.dead",
            prefix=store.prefix,
            defer_above=1_000,
        )
    )
    backlog = (0, True)
    slices = 0

    async def unwritten(unwritten: bool = False) -> tuple[int, bool]:
        assert unwritten  # records polled but not yet written count
        return backlog

    async def one_slice() -> None:
        nonlocal slices
        slices += 1
        consumer._drain_wanted = False

    async def drains_when(left: int, known: bool, full_batch: bool) -> bool:
        nonlocal backlog, slices
        backlog, slices = (left, known), 0
        consumer._drain_wanted, consumer._full_batch = True, full_batch
        task = asyncio.create_task(consumer._keep_draining())
        consumer._wake_drainer.set()
        await asyncio.sleep(0.05)
        task.cancel()
        return slices > 0

    async def cases() -> list[bool]:
        consumer.partition_numbers = [0]
        return [
            await drains_when(0, True, False),  # caught up
            await drains_when(800, True, False),  # a few records left: caught up all the same
            await drains_when(5_000, True, False),  # catching up
            await drains_when(800, True, True),  # a full batch's tail is still to be written
            await drains_when(0, True, True),  # ... and now it is
            await drains_when(0, False, False),  # the partitions' ends are not known yet
        ]

    monkeypatch.setattr(kafka_subscriber, "IDLE_CHECK_SECONDS", 0.01)
    monkeypatch.setattr(consumer, "_backlog", unwritten)
    monkeypatch.setattr(consumer, "_drain_all", one_slice)
    try:
        assert asyncio.run(cases()) == [True, True, False, False, True, False]
    finally:
        consumer.close()


def test_the_event_cache_stays_within_its_capacity_whichever_way_events_come_in() -> None:
    """Draining parses the stored events it does not hold: those count against the bound too."""
    from events import parse_event, to_json
    from projections.readmodels.caches import EventCache

    events = [parse_event(line) for line in LINES[:5]]
    cache = EventCache(capacity=2)
    cache.add(events[:3])
    assert len(cache._events) == 2
    for event in events[2:]:
        cache.parse(event.event_id, to_json(event))
    assert len(cache._events) == 2
    assert cache.get(events[-1].event_id) == events[-1]  # the most recently used stay
    assert cache.get(events[0].event_id) is None
