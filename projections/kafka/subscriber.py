"""One member of `carecoord project`: the FastStream application of app.py, run.

`ProjectionConsumer` runs `ProjectionApp` (app.py) with a PostgreSQL store and an event cache. Each
batch FastStream polls (`max_records`, `batch_timeout_ms`) is handled in this order:

1. decoded against the contract (batch.py); a record that does not fit is published, with its
   original key and value and the error in headers, to the dead-letter topic. That publication
   comes before the database commit, so a crash can repeat it but never lose it;
2. written in ONE PostgreSQL transaction (batch.py, the read models' write path): events, dead
   letters, recomputed (or, catching up, pending) episodes, and the position of every partition;
3. only then the offsets are committed to Kafka (`AckPolicy.MANUAL` and `message.ack()`;
   FastStream's default policy commits before the handler has run).

Catching up (more than `defer_above` records still waiting in the member's partitions), step 2
marks the touched episodes pending instead of recomputing them: an episode's events then come over
several batches, and recomputing it after each was most of the work. Once caught up, the member
recomputes the pending episodes of its partitions, each once, `drain_limit` per transaction, in
slices of DRAIN_SLICE_SECONDS between which batches go on; the pending rows are written with the
events, so a crash loses none.

The positions in PostgreSQL are the truth: when partitions are assigned, the rebalance listener
seeks each to its stored position (to the beginning when none is stored), so a crash after the
commit and before the Kafka acknowledgement does not even re-read the batch. A batch that does not
start where the stored position says (a rebalance race, read models rebuilt and swapped in under a
running consumer) is rolled back and the partition is sought back to the stored position.
Reprocessing is harmless anyway: events are stored idempotently by `event_id`, and the read models
are a function of the set of stored events.

FastStream hands its aiokafka consumer out publicly (`subscriber.consumer`); the handler and the
listener use that consumer's public calls for what FastStream does not wrap: seeking (to stored
positions, after a gap), the backlog (`highwater` minus `position` of the assignment) and, while
the group's members join, the partition count (`_settling`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError
from faststream.kafka.annotations import KafkaMessage

from projections.kafka.app import ConsumerSettings, ProjectionApp
from projections.kafka.batch import (
    caught_up,
    deadletter_headers,
    decode_records,
    split_stream,
    stream_of,
    write_batch,
)
from projections.readmodels.caches import EventCache, WrittenViews
from projections.readmodels.postgres import PostgresReadModelStore
from projections.readmodels.writer import BatchResult, PositionGap, drain_pending

SETTLE_SECONDS = 3.0  # see ProjectionConsumer._settling
DRAIN_SLICE_SECONDS = 5.0  # see ProjectionConsumer._drain_all
IDLE_CHECK_SECONDS = 1.0  # how often an idle member looks for pending episodes to drain

log = logging.getLogger("carecoord.project")


class ProjectionConsumer:
    """`carecoord project`, one member of the group: the ProjectionApp, its PostgreSQL store and cache."""

    def __init__(self, settings: ConsumerSettings) -> None:
        self.settings = settings
        self.store = PostgresReadModelStore(settings.postgres_url, settings.prefix)
        self.store.create_tables()
        # Rebalance callbacks run beside the batch handler: they get their own connection.
        self._positions_store = PostgresReadModelStore(settings.postgres_url, settings.prefix)
        self._positions_lock = threading.Lock()
        self.cache = EventCache()
        self.written = WrittenViews()
        self.project = ProjectionApp(settings, self.handle, _SeekToStoredPositions(self))
        self.app, self.broker = self.project.app, self.project.broker
        self.subscriber = self.project.subscriber
        self._gaps: dict[str, tuple[int, int]] = {}
        self.batches = 0
        self.events = 0
        self.recomputed = 0  # episodes recomputed, batch after batch
        self.deferred = 0  # episodes marked pending, batch after batch (one episode may count often)
        self.drained = 0  # pending episodes claimed and recomputed (with their patients' others)
        # Records still to read in the assigned partitions after the last poll (catching up: many).
        self.behind = 0
        # The last batch was as big as a batch may be and left records waiting: more of the
        # catch-up is already on its way (see _keep_draining).
        self._full_batch = False
        # Pending episodes may be waiting (left by this or an earlier process): drained when idle.
        self._drain_wanted = True
        self.partition_numbers: list[int] = []  # of the assigned partitions
        self.positions: dict[str, int] = {}
        self.on_batch: Callable[[BatchResult], None] | None = None
        # Called (in a thread) just before the consumer joins its group: `run_group` has its
        # processes join together, so that the first does not take every partition meanwhile.
        self.before_start: Callable[[], None] | None = None
        # Started with others (`run_group`): how many, and until when a member that finds itself
        # holding more than its share waits for the others' joins before reading (`_settling`).
        self.members = 1
        self._settle_until: float | None = None
        # The store's connection serves one transaction at a time: a batch's or a drain's.
        self._store_turn = asyncio.Lock()
        self._wake_drainer = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self._stopping = False

    async def handle(self, records: Sequence[ConsumerRecord[bytes, bytes]], message: KafkaMessage) -> None:
        if not records:
            return
        if self._settle_until is not None and self._settling():
            with contextlib.suppress(IllegalStateError):  # the rebalance took some partitions
                await message.nack()  # seek back: whoever holds these partitions next reads them
            await asyncio.sleep(0.05)
            return
        self.behind, _ = await self._backlog()
        self._full_batch = len(records) >= self.settings.max_records and self.behind > 0
        decoded = decode_records(records)
        for letter, record in decoded.letters:
            await self.project.deadletters.publish(
                record.value or b"", key=record.key, headers=deadletter_headers(letter, record)
            )
            log.warning("dead letter %s@%s: %s", letter.stream, letter.position, letter.error)
        allow = [s for s, (stored, start) in self._gaps.items() if decoded.batch.starts.get(s) == start]
        catching_up = self.behind > self.settings.defer_above
        # While episodes are pending, this batch's wait with them: all are recomputed together,
        # once, each patient by one process (a batch's own would be recomputed at once and again
        # as a pending one's sibling).
        defer = catching_up or self._drain_wanted
        async with self._store_turn:
            try:
                result = await asyncio.to_thread(
                    write_batch,
                    self.store,
                    decoded,
                    self.settings.through(),
                    self.cache,
                    self.settings.consumer,
                    allow,
                    self.written,
                    defer=defer,
                )
            except PositionGap as gap:
                # Read again from the stored positions; if the same gap shows up again, the offsets
                # in between do not exist (e.g. transaction markers) and it is accepted.
                log.warning("position gap, seeking back: %s", gap)
                for s, stored in gap.stored.items():
                    self._gaps[s] = (stored, gap.starts[s])
                self._seek({s: gap.stored.get(s, start) for s, start in decoded.batch.starts.items()})
                return
            except Exception:
                log.exception("batch failed; reading it again")
                await message.nack()  # seek back to the batch's first offsets, commit nothing
                await asyncio.sleep(1)
                return
        self._gaps = {s: g for s, g in self._gaps.items() if s not in decoded.batch.starts}
        await message.ack()  # the Kafka commit, after the database commit
        self.batches += 1
        self.events += len(records)
        self.recomputed += result.recomputed
        self.deferred += result.deferred
        self._drain_wanted = self._drain_wanted or result.deferred > 0
        self.positions.update(result.positions)
        if self.on_batch is not None:
            self.on_batch(result)
        if not catching_up and self._drain_wanted:
            self._wake_drainer.set()

    def _seek(self, positions: Mapping[str, int]) -> None:
        consumer = self.subscriber.consumer
        if consumer is None:
            return
        for s, position in positions.items():
            consumer.seek(TopicPartition(*split_stream(s)), position)

    async def _backlog(self, unwritten: bool = False) -> tuple[int, bool]:
        """Records between the position and the end (highwater) of the assigned partitions, and
        whether every end is known (it is once a fetch has answered for the partition). With
        `unwritten`, from the positions written to PostgreSQL instead: a batch polled and not
        yet written counts too."""
        consumer = self.subscriber.consumer
        if consumer is None:
            return 0, False
        left, known = 0, True
        try:
            for tp in consumer.assignment():
                end = consumer.highwater(tp)
                written = self.positions.get(stream_of(tp.topic, tp.partition)) if unwritten else None
                if end is None:
                    known = False
                else:
                    left += max(0, end - (written if written is not None else await consumer.position(tp)))
        except IllegalStateError:  # a rebalance took a partition meanwhile
            return left, False
        return left, known

    def assigned(self, numbers: list[int], positions: Mapping[str, int]) -> None:
        """The listener's news: the partition numbers now held and the stored positions of the
        partitions just assigned. Pending episodes of newly assigned partitions may be waiting."""
        self.positions.update(positions)
        if numbers != self.partition_numbers:
            self.partition_numbers = numbers
            self._drain_wanted = True
            self._wake_drainer.set()

    # --- draining the pending episodes, once caught up ------------------------------------------

    async def _keep_draining(self) -> None:
        """Beside FastStream's batch loop, for as long as the consumer runs: once no more than
        `defer_above` records wait in the assigned partitions, recompute the pending episodes, a
        slice at a time (the store taking turns with the batches). Woken by a batch that leaves
        episodes pending, by an assignment, and every IDLE_CHECK_SECONDS."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_CHECK_SECONDS):
                    await self._wake_drainer.wait()
            self._wake_drainer.clear()
            while self._drain_wanted and self.partition_numbers and not self._stopping:
                left, known = await self._backlog(unwritten=True)
                if not known or left > self.settings.defer_above or (self._full_batch and left > 0):
                    # Catching up, or the ends are not known yet: the batches go first. So too
                    # after a full batch, until what it left is written: FastStream's batches take
                    # the fetched partitions topic by topic, so the last full batch of a catch-up
                    # leaves a tail of the last topics that touches most episodes, and draining
                    # before it recomputed them twice (200,000 events, 2 processes: 4,100 to 6,900
                    # pending episodes drained instead of 2,700, measured; with this wait 2,750).
                    break
                async with self._store_turn:
                    await self._drain_all()

    async def _drain_all(self) -> None:
        """Recompute the pending episodes of the assigned partitions, a transaction per
        `drain_limit` of them, until none is left (or one fails: later again).

        For DRAIN_SLICE_SECONDS at most, then the store is the batches' turn: a member whose
        handler does not return for max.poll.interval.ms (5 min) is put out of its group, and
        hundreds of thousands of pending episodes take longer."""
        loop = asyncio.get_running_loop()
        until = loop.time() + DRAIN_SLICE_SECONDS
        while self._drain_wanted and not self._stopping and loop.time() < until and await self._drain():
            pass

    async def _drain(self) -> bool:
        started = asyncio.get_running_loop().time()
        try:
            claimed = await asyncio.to_thread(
                drain_pending,
                self.store,
                self.settings.through(),
                self.cache,
                self.written,
                self.settings.drain_limit,
                self.partition_numbers,
            )
        except Exception:
            log.exception("recomputing pending episodes failed; trying again")
            await asyncio.sleep(1)
            return False
        self.drained += claimed
        self._drain_wanted = claimed > 0
        if claimed:
            seconds = asyncio.get_running_loop().time() - started
            log.info("recomputed %d pending episodes (and their patients' others) in %.2fs", claimed, seconds)
        return True

    async def _start_draining(self) -> None:
        self._stopping = False
        self._drainer = asyncio.create_task(self._keep_draining(), name="carecoord-drain-pending")

    async def _stop_draining(self) -> None:
        """Once the transaction under way (a batch's or a drain's) has ended: the store is closed
        next, and must not be under a thread's feet."""
        drainer, self._drainer = self._drainer, None
        if drainer is None:
            return
        self._stopping = True
        self._wake_drainer.set()
        async with self._store_turn:
            drainer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drainer

    # --- positions, and the two ways to run -------------------------------------------------------

    def stored_positions(self) -> dict[str, int]:
        with self._positions_lock:
            return self._positions_store.positions(self.settings.consumer)

    def done(self, targets: Mapping[str, int]) -> bool:
        """Every target position stored and no episode pending."""
        with self._positions_lock:
            store = self._positions_store
            return caught_up(store.positions(self.settings.consumer), targets) and not store.has_pending()

    async def run(self) -> None:
        """Until SIGINT/SIGTERM (FastStream's app handles both)."""
        self.app.on_startup(self._before_start)
        self.app.after_startup(self._start_draining)
        self.app.on_shutdown(self._stop_draining)
        try:
            await self.app.run()
        finally:
            self.close()

    async def run_until(self, targets: Mapping[str, int], timeout: float | None = None) -> None:
        """Until every stream's stored position reaches its target (catch-up benchmarks, tests)."""
        try:
            async with self.broker:
                await self._before_start()
                await self.broker.start()
                await self._start_draining()
                try:
                    deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
                    while not await asyncio.to_thread(self.done, targets):
                        if deadline is not None and asyncio.get_running_loop().time() > deadline:
                            raise TimeoutError(f"not caught up with {dict(targets)} within {timeout}s")
                        await asyncio.sleep(0.05)
                finally:
                    await self._stop_draining()
        finally:
            self.close()

    async def _before_start(self) -> None:
        if self.before_start is not None:
            await asyncio.to_thread(self.before_start)
        if self.members > 1:
            self._settle_until = asyncio.get_running_loop().time() + SETTLE_SECONDS

    def _settling(self) -> bool:
        """Members started together join one by one, and the first holds every partition until
        the next joins: reading meanwhile, it takes batches that the others read again (with 1 MB
        partition fetches, 50,000 of 207,000 records read twice in 2 runs of 3, measured). The
        broker's group.initial.rebalance.delay.ms (3 s by default) holds the first assignment back
        for that; where it is 0 (test brokers), a member holding more than its share of the
        partition numbers puts its batch back and waits for a rebalance, SETTLE_SECONDS at most."""
        consumer = self.subscriber.consumer
        settle_until = self._settle_until
        if consumer is None or settle_until is None:
            return False
        assignment = consumer.assignment()
        known = max((len(consumer.partitions_for_topic(tp.topic) or ()) for tp in assignment), default=0)
        share = -(-known // self.members)
        numbers = len({tp.partition for tp in assignment})
        if numbers > share and asyncio.get_running_loop().time() < settle_until:
            return True
        self._settle_until = None  # from here on, read whatever is assigned
        return False

    def close(self) -> None:
        self.store.close()
        self._positions_store.close()
        # The consumer sits in reference cycles (its broker's handler refers back to it), so only
        # the cycle collector would free it, walking every cached event: 0.9 s after a catch-up
        # of 200,000 events (measured). Emptied here, they go at once.
        self.cache.clear()
        self.written.clear()


class _SeekToStoredPositions(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, each partition is sought to its position stored in PostgreSQL."""

    def __init__(self, owner: ProjectionConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        consumer = self.owner.subscriber.consumer
        if consumer is None:
            return
        stored = await asyncio.to_thread(self.owner.stored_positions) if assigned else {}
        positions = {
            stream_of(tp.topic, tp.partition): stored.get(stream_of(tp.topic, tp.partition), 0)
            for tp in assigned
        }
        for tp in assigned:
            consumer.seek(tp, positions[stream_of(tp.topic, tp.partition)])
        self.owner.assigned(sorted({tp.partition for tp in consumer.assignment()}), positions)
        if not assigned:
            return
        log.info("assigned %s", ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(assigned)))
