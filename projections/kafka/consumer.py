"""The projection consumers: Kafka in, read models in PostgreSQL out (`carecoord project`).

A FastStream application with one batch subscriber on the five service topics, in one consumer
group (`carecoord-projections`); `carecoord project --processes N` runs N of them (`run_group`),
and more commands on more machines join the same group, up to the partitions per topic. Every
topic is keyed by episode with as many partitions, so partitions are assigned in ranges per topic
(a member holds the same partition numbers of every topic: the same episodes) and each poll takes
the records of one partition number of all topics (an episode's events meet in one batch).
Each batch, in this order:

1. every record is parsed against the contract; one that does not fit becomes a dead letter
   (stream `topic:partition`, position = its offset, with the error) and is published, with its
   original payload and the error in headers, to the dead-letter topic. That publication comes
   before the database commit, so a crash can repeat it but never lose it;
2. in ONE PostgreSQL transaction: the new events are stored by `event_id` (a copy already stored
   changes nothing), the dead letters are stored, the touched episodes are recomputed with the pure
   core together with the other episodes of their patients, and the position of every partition in
   the batch (the next offset to read) is saved;
3. only then the offsets are committed to Kafka (manual acknowledgement; FastStream's default
   policy would commit before the handler has run).

Catching up (more than `defer_above` records still waiting in the member's partitions), step 2
stores the events and marks their episodes pending instead of recomputing them: an episode's events
then come over several batches, and recomputing it after each was most of the work. Once caught up,
the member recomputes the pending episodes of its partitions, each once, `drain_limit` per
transaction (`drain_pending`); the pending rows are written with the events, so a crash loses none.

The positions in PostgreSQL are the truth: when partitions are assigned, each is sought to its
stored position (to the beginning when none is stored), so a crash after the commit and before the
Kafka acknowledgement does not even re-read the batch. A batch that does not start where the stored
position says (a rebalance race, read models rebuilt and swapped in under a running consumer) is
rolled back and the partition is sought back to the stored position. Reprocessing is harmless
anyway: events are stored idempotently by `event_id`, and the read models are a function of the set
of stored events.

`rebuild_from_offset_zero` reads the same topics from offset zero with a fresh consumer (no group,
manual assignment, up to the end offsets captured at its start) through the same batch function;
`carecoord rebuild` and `carecoord verify` use it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from faststream.kafka.annotations import KafkaMessage

from events import ContractError, parse_event
from projections.readmodels.store import DeadLetter, ReadModelStore, WrittenViews
from projections.readmodels.writer import (
    Batch,
    BatchResult,
    EventCache,
    PositionGap,
    apply_records,
    drain_pending,
)
from runtime.clock import today_utc
from runtime.processes import die_with_parent, exit_now

GROUP_ID = "carecoord-projections"
CONSUMER = "kafka"  # the consumer name of the positions table rows ("topic:partition" streams)
SETTLE_SECONDS = 3.0  # see ProjectionConsumer._settling
DRAIN_SLICE_SECONDS = 5.0  # see ProjectionConsumer._drain_all

log = logging.getLogger("carecoord.project")


def tune_garbage_collector() -> None:
    """For a consumer process: collect less often.

    A consumer keeps tens of thousands of parsed events in its cache, and with the default
    thresholds the collector walks them again and again: a quarter of catch-up time, measured.
    Batches make no reference cycles worth chasing sooner.
    """
    gc.set_threshold(100_000, 50, 100)


def bootstrap_servers(bootstrap: str) -> list[str]:
    """`host:port,host:port` (as CARECOORD_KAFKA_BOOTSTRAP gives it) as the list aiokafka needs:
    aiokafka takes a string as one address, where kafka-python splits it at the commas."""
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def stream_of(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


@dataclass(slots=True)
class DecodedBatch:
    """Records of one poll: the events, the letters that did not fit, and where each partition got to."""

    batch: Batch
    letters: list[tuple[DeadLetter, Any]] = field(default_factory=list)  # with the original record


def decode_records(records: Iterable[Any]) -> DecodedBatch:
    """aiokafka ConsumerRecords (topic, partition, offset, value) to a Batch and its dead letters."""
    decoded = DecodedBatch(Batch())
    batch = decoded.batch
    for record in records:
        stream = stream_of(record.topic, record.partition)
        value: bytes = record.value or b""
        try:
            event = parse_event(value)
            batch.events.append(event)
            batch.shard_of[event.episode_id] = record.partition
        except ContractError as error:
            letter = DeadLetter(
                stream=stream,
                position=str(record.offset),
                event_id=error.event_id,
                error=error.message,
                payload=value.decode("utf-8", errors="replace"),
            )
            batch.dead_letters.append(letter)
            decoded.letters.append((letter, record))
        if stream not in batch.starts or record.offset < batch.starts[stream]:
            batch.starts[stream] = record.offset
        batch.positions[stream] = max(batch.positions.get(stream, 0), record.offset + 1)
    return decoded


def deadletter_headers(letter: DeadLetter, record: Any) -> dict[str, str]:
    headers = {
        "carecoord-error": letter.error,
        "carecoord-source-topic": record.topic,
        "carecoord-source-partition": str(record.partition),
        "carecoord-source-offset": str(record.offset),
    }
    if letter.event_id:
        headers["carecoord-event-id"] = letter.event_id
    return headers


def member_store(settings: ConsumerSettings) -> ReadModelStore:
    """A member's read-model store, whose PostgreSQL session ends when it sits in a transaction
    without a word for `idle_in_transaction_timeout_ms`.

    A batch's transaction locks the position rows of its partitions. A member frozen in the middle
    of one (SIGSTOP, a paused VM, a debugger) loses its partitions to the others after
    session.timeout.ms, but its session would keep those rows locked for as long as it stays frozen,
    and the member now holding the partitions would wait on them (found by
    tests/cluster/test_frozen_consumer.py). Ended, the session lets go; the frozen member's batch then
    fails when it wakes and is read again from the stored positions (a reconnect: see
    `ReadModelStore.connection`)."""
    import psycopg

    url, timeout = settings.postgres_url, str(settings.idle_in_transaction_timeout_ms)

    def connect() -> Any:
        connection = psycopg.connect(url, autocommit=True)
        connection.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, false)", (timeout,))
        return connection

    return ReadModelStore(connect, "postgres", settings.prefix)


# --- the FastStream application ----------------------------------------------------------------


@dataclass
class ConsumerSettings:
    bootstrap: str
    postgres_url: str
    topics: Sequence[str]
    deadletter_topic: str
    prefix: str = "rm_"
    group_id: str = GROUP_ID
    consumer: str = CONSUMER
    through: Callable[[], date] = today_utc
    max_records: int = 50_000  # catching up, bigger batches recompute each episode fewer times
    # Catching up: while more than this many records wait in the member's partitions after a
    # batch, its episodes are marked pending rather than recomputed (each is recomputed once, at
    # the end, instead of after every batch that brings some of its events).
    defer_above: int = 10_000
    # Pending episodes recomputed per transaction: short transactions, because two consumers whose
    # chunks share a patient take turns on its lock (500 measured faster than 2,000 and 5,000).
    drain_limit: int = 500
    batch_timeout_ms: int = 100
    client_id: str = "carecoord-projections"
    # How long the group waits for a member before giving its partitions to the others: between
    # two polls (max.poll.interval.ms, Kafka's default 5 min) and between two heartbeats
    # (session.timeout.ms, aiokafka's default 10 s; the broker's group.min.session.timeout.ms is
    # 6 s). Tests that freeze a member lower them (`carecoord project --max-poll-interval-ms`).
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 10_000
    # PostgreSQL ends a member's session that sits this long in a transaction without a word (see
    # `member_store`); longer than any pause between two statements of a batch or a drain.
    idle_in_transaction_timeout_ms: int = 60_000


class ProjectionConsumer:
    """`carecoord project`: the FastStream app, its broker and its one batch subscriber."""

    def __init__(self, settings: ConsumerSettings) -> None:
        from faststream import FastStream
        from faststream.kafka import KafkaBroker
        from faststream.middlewares import AckPolicy

        self.settings = settings
        self.store = member_store(settings)
        self.store.create_tables()
        # Rebalance callbacks run beside the batch handler: they get their own connection.
        self._positions_store = member_store(settings)
        self._positions_lock = threading.Lock()
        self.cache = EventCache()
        self.written = WrittenViews()
        self.broker = KafkaBroker(
            bootstrap_servers(settings.bootstrap),
            client_id=settings.client_id,
            allow_auto_create_topics=False,
            logger=log,
        )
        self.app = FastStream(self.broker, logger=log)
        self.subscriber = self.broker.subscriber(
            *settings.topics,
            batch=True,
            group_id=settings.group_id,
            max_records=settings.max_records,
            batch_timeout_ms=settings.batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,  # never the default: it commits before the handler runs
            listener=_SeekToStoredPositions(self),
            decoder=_raw_records,
            # Catching up, whole stretches of a partition arrive at once, so that the partitions
            # of one number are buffered together for `_poll` (4 MB: one recompute more per
            # episode, measured). The broker caps a response (fetch.max.bytes, 55 MB by default).
            max_partition_fetch_bytes=16 * 1024 * 1024,
            # A member learns of a rebalance at its next heartbeat: at the default 3 s, members
            # started together joined 3 s apart, the first reading everything meanwhile; at 500 ms
            # a start took 0.55 s or 1.05 s to the first batch, at 100 ms 0.55-0.66 s (measured).
            # Ten small requests a second per member, for a group of at most a partition count.
            heartbeat_interval_ms=100,
            max_poll_interval_ms=settings.max_poll_interval_ms,
            session_timeout_ms=settings.session_timeout_ms,
            fetch_max_bytes=64 * 1024 * 1024,
            # Every topic is keyed by episode with as many partitions: partition n of each topic
            # holds the same episodes. Ranges per topic give one process the same partition numbers
            # of every topic, so an episode's events meet in one process (often in one batch)
            # instead of being recomputed by several processes in turn.
            # Range only: offering round robin too (for members of an older release) made aiokafka
            # members rejoin in turn without end (measured). Replace a group's members together.
            partition_assignment_strategy=(RangePartitionAssignor,),
        )
        self._gaps: dict[str, tuple[int, int]] = {}
        self.batches = 0
        self.events = 0
        self.recomputed = 0  # episodes recomputed, batch after batch
        self.deferred = 0  # episodes marked pending, batch after batch (one episode may count often)
        self.drained = 0  # pending episodes claimed and recomputed (with their patients' others)
        # Records still to read in the assigned partitions after the last poll (catching up: many).
        self.behind = 0
        # Pending episodes may be waiting (left by this or an earlier process): drained when idle.
        self._drain_wanted = True
        self.partition_numbers: list[int] = []  # of the assigned partitions, at the last poll
        self.positions: dict[str, int] = {}
        self.on_batch: Callable[[BatchResult], None] | None = None
        # Called (in a thread) just before the consumer joins its group: `run_group` has its
        # processes join together, so that the first does not take every partition meanwhile.
        self.before_start: Callable[[], None] | None = None

        async def handle(records: Any, message: KafkaMessage) -> None:
            await self.handle(tuple(records), message)

        self.subscriber(handle)
        # FastStream's batch poll, with records of one partition number taken together (below).
        self._next_number = 0
        # Started with others (`run_group`): how many, and until when a member that finds itself
        # holding more than its share waits for the others' joins before reading (see `_poll`).
        self.members = 1
        self._settle_until: float | None = None
        self.subscriber.get_msg = self._poll  # type: ignore[method-assign]

    async def _poll(self, consumer: Any) -> tuple[Any, ...]:
        """One batch: when records wait, those of one partition number of every topic, in turn.

        Every topic is keyed by episode with as many partitions, so partition n of each topic holds
        the same episodes: taken together, an episode's events from the five services meet in one
        batch and it is recomputed once, where a poll of whatever is buffered (FastStream's
        `getmany`) brings one topic's partitions, then another's, and recomputes it once per topic
        (catching up: three times as many recomputed episodes, measured). Nothing waiting: wait up
        to `batch_timeout_ms` for records of any partition.
        """
        settings = self.settings
        assigned = consumer.assignment()
        numbers = sorted({tp.partition for tp in assigned})
        if numbers != self.partition_numbers:
            self.partition_numbers = numbers
            self._drain_wanted = True  # pending episodes of newly assigned partitions, maybe
        if self._settle_until is not None and await self._settling(consumer, len(numbers)):
            return ()
        for i in range(len(numbers)):
            number = numbers[(self._next_number + i) % len(numbers)]
            group = [tp for tp in assigned if tp.partition == number]
            polled = await self._slices(consumer, group) or await consumer.getmany(
                *group, timeout_ms=0, max_records=settings.max_records
            )
            if polled:
                self._next_number = (self._next_number + i + 1) % len(numbers)
                self.behind = await _records_left(consumer, assigned)
                return tuple(chain.from_iterable(polled.values()))
        # getmany returns as soon as records arrive: no sleep after an empty wait (FastStream's
        # would hold back a record arriving just after it by up to batch_timeout_ms more).
        polled = await consumer.getmany(
            timeout_ms=settings.batch_timeout_ms, max_records=settings.max_records
        )
        if polled:
            self.behind = await _records_left(consumer, assigned)
        elif self._drain_wanted:
            await self._drain_all()
        return tuple(chain.from_iterable(polled.values()))

    async def _drain_all(self) -> None:
        """Catching up has ended: recompute the pending episodes of the assigned partitions, a
        transaction per `drain_limit` of them, until none is left (or one fails: later again).

        For DRAIN_SLICE_SECONDS at most, then back to polling, where the next batch or the next
        empty poll goes on with it: a member that does not poll for max.poll.interval.ms (5 min)
        is put out of its group, and hundreds of thousands of pending episodes take longer."""
        loop = asyncio.get_running_loop()
        until = loop.time() + DRAIN_SLICE_SECONDS
        while self._drain_wanted and loop.time() < until and await self._drain():
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

    async def _slices(self, consumer: Any, group: list[Any]) -> dict[Any, list[Any]]:
        """Catching up (more to read in the group than a batch holds): from each partition of the
        group a share of the batch in proportion to what it has left to read. Its partitions
        cover the same episodes over the same time, so equal fractions of each are about the same
        stretch of time, and an episode's events from the five services meet in one batch rather
        than the first topic's records filling the batch. Nothing when not catching up."""
        left = await _left_to_read(consumer, group)
        total = sum(left.values())
        if total <= self.settings.max_records:
            return {}
        share = self.settings.max_records / total
        polled: dict[Any, list[Any]] = {}
        for tp, n in left.items():
            if (quota := int(n * share)) > 0:
                polled.update(await consumer.getmany(tp, timeout_ms=0, max_records=quota))
        return polled

    async def handle(self, records: tuple[Any, ...], message: Any) -> None:
        if not records:
            return
        decoded = decode_records(records)
        for letter, record in decoded.letters:
            await self.broker.publish(
                record.value or b"",
                topic=self.settings.deadletter_topic,
                key=record.key,
                headers=deadletter_headers(letter, record),
            )
            log.warning("dead letter %s@%s: %s", letter.stream, letter.position, letter.error)
        allow = [s for s, (stored, start) in self._gaps.items() if decoded.batch.starts.get(s) == start]
        catching_up = self.behind > self.settings.defer_above
        # While episodes are pending, this batch's wait with them: all are recomputed together,
        # once, each patient by one process (a batch's own would be recomputed at once and again
        # as a pending one's sibling).
        defer = catching_up or self._drain_wanted
        try:
            result = await asyncio.to_thread(
                apply_records,
                self.store,
                decoded.batch,
                self.settings.through(),
                self.cache,
                self.settings.consumer,
                allow,
                None,
                self.written,
                defer=defer,
            )
        except PositionGap as gap:
            # Read again from the stored positions; if the same gap shows up again, the offsets in
            # between do not exist (e.g. transaction markers) and it is accepted.
            log.warning("position gap, seeking back: %s", gap)
            consumer = self.subscriber.consumer
            for s, stored in gap.stored.items():
                self._gaps[s] = (stored, gap.starts[s])
            for s in decoded.batch.starts:
                topic, _, partition = s.rpartition(":")
                position = gap.stored.get(s, decoded.batch.starts[s])
                if consumer is not None:
                    consumer.seek(TopicPartition(topic, int(partition)), position)
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
            await self._drain_all()

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
        if self.before_start is not None:
            self.app.on_startup(self._before_start)
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
                deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
                while not await asyncio.to_thread(self.done, targets):
                    if deadline is not None and asyncio.get_running_loop().time() > deadline:
                        raise TimeoutError(f"not caught up with {dict(targets)} within {timeout}s")
                    await asyncio.sleep(0.05)
        finally:
            self.close()

    async def _before_start(self) -> None:
        if self.before_start is not None:
            await asyncio.to_thread(self.before_start)
        if self.members > 1:
            self._settle_until = asyncio.get_running_loop().time() + SETTLE_SECONDS

    async def _settling(self, consumer: Any, numbers: int) -> bool:
        """Members started together join one by one, and the first holds every partition until
        the next joins: reading meanwhile, it would take batches the others then read again.
        The broker's group.initial.rebalance.delay.ms (3 s by default) holds the first
        assignment back for that; where it is 0 (test brokers), a member holding more than its
        share of the partition numbers waits for a rebalance, SETTLE_SECONDS at most."""
        settle_until = self._settle_until
        if settle_until is None:
            return False
        topics = {tp.topic for tp in consumer.assignment()}
        known = max((len(consumer.partitions_for_topic(t) or ()) for t in topics), default=0)
        share = -(-known // self.members)
        if numbers > share and asyncio.get_running_loop().time() < settle_until:
            await asyncio.sleep(0.05)
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


@dataclass(frozen=True, slots=True)
class Through:
    """The read models' end date: a fixed one, or today (UTC) at each batch. Picklable, so it
    crosses to the consumer processes `run_group` starts."""

    fixed: date | None = None

    def __call__(self) -> date:
        return self.fixed if self.fixed is not None else today_utc()


def default_processes() -> int:
    return max(1, os.cpu_count() or 1)


def run_group(
    settings: ConsumerSettings,
    processes: int = 1,
    targets: Mapping[str, int] | None = None,
    timeout: float | None = None,
) -> int:
    """`carecoord project`: this process and `processes - 1` others, consumers in one group.

    Each is a whole ProjectionConsumer (its own Kafka consumer, PostgreSQL connection and cache);
    Kafka shares the partitions among them, the advisory locks and the per-stream position locks
    keep two that touch one episode or patient from interleaving. With `targets`, every process
    runs until all of them are stored (by whichever process) and exits; otherwise until
    SIGINT/SIGTERM, which this process passes on to the others. The others die with this one
    (even on SIGKILL). Returns 0 when every process ended well.
    """
    import multiprocessing

    # Forked, the others start at once with everything imported (spawned, each imported for a
    # second or more while the first waited at the barrier); only while this process has no
    # other thread, since a fork copies no thread but every lock one might hold.
    forkable = sys.platform.startswith("linux") and threading.active_count() == 1
    context: Any = multiprocessing.get_context("fork" if forkable else "spawn")
    ready = context.Barrier(processes) if processes > 1 else None
    others = [
        context.Process(
            target=_consumer_process,
            args=(
                settings,
                dict(targets) if targets is not None else None,
                timeout,
                os.getpid(),
                n,
                ready,
                processes,
            ),
            name=f"carecoord-project-{n}",
            daemon=True,
        )
        for n in range(1, processes)
    ]
    for process in others:
        process.start()
    status = 0
    try:
        status = _consume(settings, targets, timeout, 0, ready, processes)
    finally:
        for process in others:
            if targets is None and process.is_alive():
                process.terminate()  # SIGTERM: FastStream stops the consumer cleanly
        for process in others:
            process.join(None if targets is not None and status == 0 else 30)
            if process.is_alive():
                process.kill()
                process.join()
            if process.exitcode != 0:
                log.error("%s ended with status %s", process.name, process.exitcode)
                status = status or 1
    # Let the barrier's semaphores go now, so exiting without teardown leaves none behind.
    others.clear()
    ready = None
    gc.collect()
    return status


def _consume(
    settings: ConsumerSettings,
    targets: Mapping[str, int] | None,
    timeout: float | None,
    n: int,
    ready: Any = None,
    members: int = 1,
) -> int:
    async def main() -> None:
        consumer = ProjectionConsumer(settings)
        consumer.members = members
        if ready is not None:
            consumer.before_start = lambda: _wait_for_the_others(ready)
        if targets is None:
            await consumer.run()
            return
        await consumer.run_until(targets, timeout)
        print(
            f"carecoord project [{n}]: caught up ({consumer.events} records in {consumer.batches} batches; "
            f"{consumer.deferred} episode deferrals, {consumer.drained} pending episodes drained, "
            f"{consumer.recomputed} episodes recomputed in batches; "
            f"{consumer.written.skipped} recomputed episodes unchanged)",
            flush=True,
        )

    try:
        asyncio.run(main())
    except TimeoutError as error:
        print(f"carecoord project [{n}]: {error}", flush=True)
        return 1
    except KeyboardInterrupt:
        pass
    except BaseException:
        if ready is not None:
            ready.abort()  # the others need not wait for this one at the barrier
        raise
    return 0


def _consumer_process(
    settings: ConsumerSettings,
    targets: Mapping[str, int] | None,
    timeout: float | None,
    parent: int,
    n: int,
    ready: Any,
    members: int,
) -> None:
    die_with_parent(parent)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_garbage_collector()
    exit_now(_consume(settings, targets, timeout, n, ready, members))


def _wait_for_the_others(ready: Any) -> None:
    """Until every process of the group is ready to join (a minute at most: then on regardless)."""
    try:
        ready.wait(60)
    except threading.BrokenBarrierError:
        log.warning("not every consumer process got ready within a minute; joining the group anyway")


async def _left_to_read(consumer: Any, partitions: Iterable[Any]) -> dict[Any, int]:
    """Per partition with a known end offset, the records between the consumer's position and it."""
    left = {}
    for tp in partitions:
        end = consumer.highwater(tp)
        if end is not None:
            left[tp] = max(0, end - await consumer.position(tp))
    return left


async def _records_left(consumer: Any, partitions: Iterable[Any]) -> int:
    return sum((await _left_to_read(consumer, partitions)).values())


def caught_up(positions: Mapping[str, int], targets: Mapping[str, int]) -> bool:
    return all(positions.get(s, 0) >= end for s, end in targets.items() if end > 0)


async def _raw_records(message: Any) -> Any:
    """The batch's ConsumerRecords as they are: parsing is the contract's job, not FastStream's."""
    return message.raw_message


class _SeekToStoredPositions(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, each partition is sought to its position stored in PostgreSQL."""

    def __init__(self, owner: ProjectionConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        consumer = self.owner.subscriber.consumer
        if consumer is None or not assigned:
            return
        positions = await asyncio.to_thread(self.owner.stored_positions)
        for tp in assigned:
            position = positions.get(stream_of(tp.topic, tp.partition), 0)
            consumer.seek(tp, position)
        log.info("assigned %s", ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(assigned)))


# --- reading from offset zero (rebuild, verify) -----------------------------------------------


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[str, int]:
    """The end offset of every partition of the topics, now ("topic:partition" -> offset)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions: list[Any] = []
        for topic in topics:
            numbers = await _partitions_for(consumer, topic)
            partitions.extend(TopicPartition(topic, n) for n in numbers)
        ends = await consumer.end_offsets(partitions)
        return {stream_of(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def _partitions_for(consumer: Any, topic: str) -> list[int]:
    for _ in range(100):
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            return sorted(numbers)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise LookupError(f"Kafka topic {topic} does not exist")


async def rebuild_from_offset_zero(
    store: ReadModelStore,
    bootstrap: str,
    topics: Sequence[str],
    through: date,
    consumer_name: str = CONSUMER,
    max_records: int = 20_000,
    targets: Mapping[str, int] | None = None,
    resume: bool = False,
) -> dict[str, int]:
    """Fold the topics from offset zero to the end offsets captured now into `store` (made fresh).

    No consumer group, manual assignment; the positions are saved under `consumer_name` as the live
    consumers save theirs, so the rebuilt tables can be swapped in and followed on from.
    With `resume`, each partition starts at the position already stored in `store` (to go on to
    later targets); otherwise at offset zero. Returns the offsets read to.
    """
    store.create_tables()
    targets = dict(targets) if targets is not None else await end_offsets(bootstrap, topics)
    partitions = [TopicPartition(*_split(s)) for s, end in targets.items() if end > 0]
    if not partitions:
        return targets
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(bootstrap),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    cache = EventCache()
    written = WrittenViews()
    try:
        stored = store.positions(consumer_name) if resume else {}
        partitions = [
            tp
            for tp in partitions
            if stored.get(stream_of(tp.topic, tp.partition), 0) < targets[stream_of(tp.topic, tp.partition)]
        ]
        if not partitions:
            return targets
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, stored.get(stream_of(tp.topic, tp.partition), 0))
        remaining = {stream_of(tp.topic, tp.partition) for tp in partitions}
        while remaining:
            polled = await consumer.getmany(timeout_ms=1000, max_records=max_records)
            records: list[Any] = []
            for tp, items in polled.items():
                end = targets[stream_of(tp.topic, tp.partition)]
                records.extend(r for r in items if r.offset < end)
            if not records:
                continue
            decoded = decode_records(records)
            # Every batch deferred: each episode is recomputed once, below, from all its events.
            await asyncio.to_thread(
                apply_records,
                store,
                decoded.batch,
                through,
                cache,
                consumer_name,
                targets.keys(),
                None,
                written,
                defer=True,
            )
            for s, position in decoded.batch.positions.items():
                if position >= targets[s]:
                    remaining.discard(s)
                    topic, partition = _split(s)
                    consumer.pause(TopicPartition(topic, partition))
    finally:
        await consumer.stop()
    while await asyncio.to_thread(drain_pending, store, through, cache, written):
        pass
    return targets


def _split(stream: str) -> tuple[str, int]:
    topic, _, partition = stream.rpartition(":")
    return topic, int(partition)
