"""Projection catch-up from Kafka into PostgreSQL, side by side with its baselines, in one run.

1. A generated history (benchmarks.generate) is published to fresh topics (6 partitions each) with
   kafka-python, key = episode_id. Not timed.
2. Baseline: the raw consume rate of the same topics with aiokafka (assign, from offset zero to the
   end offsets, records counted and dropped).
3. `carecoord project --processes N --until-caught-up` (N = CARECOORD_BENCH_PROCESSES, default the
   number of CPUs: N FastStream batch subscribers in one consumer group, as in production) catching
   up from offset zero into fresh PostgreSQL tables; timed from the command's start (imports, group
   join and rebalances included) to its exit once every end offset is stored.
4. The eventsourcing library's own ProjectionRunner doing the same work per event (store the event,
   recompute its patient's episodes, write the read models and the tracking record in one
   transaction of a PostgresTrackingRecorder) from a PostgreSQL event store filled with the same
   contract events (a benchmark application holding them as domain events). It handles one event
   per transaction, so it is measured on the first `runner_events` events only.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.generate import history
from benchmarks.processes import run_sampled
from benchmarks.results import record

THROUGH = date(2026, 12, 31)
ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def publish_history(bootstrap: str, prefix: str, lines: list[str]) -> None:
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    from carecoord.topics import deadletter_topic, service_topics, topic_for

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="carecoord-bench")
    names = [*service_topics(prefix), deadletter_topic(prefix)]
    admin.create_topics([NewTopic(name, 6, 1) for name in names])
    admin.wait_for_topics(names, timeout_ms=30_000)
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=50, batch_size=512 * 1024, compression_type=None
    )
    for line in lines:
        head = json.loads(line)
        producer.send(topic_for(head["source"], prefix), key=head["episode_id"].encode(), value=line.encode())
    producer.flush(timeout=300)
    producer.close()


def delete_topics(bootstrap: str, prefix: str) -> None:
    from kafka.admin import KafkaAdminClient

    from carecoord.topics import deadletter_topic, service_topics

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="carecoord-bench")
    try:
        admin.delete_topics([*service_topics(prefix), deadletter_topic(prefix)])
    except Exception as error:  # clean-up only
        print(f"  (could not delete the benchmark topics: {error})")
    finally:
        admin.close()


async def raw_consume(bootstrap: str, topics: list[str], targets: dict[str, int]) -> tuple[int, float]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(s.rpartition(":")[0], int(s.rpartition(":")[2])) for s in targets]
        consumer.assign(partitions)
        started = time.perf_counter()
        for tp in partitions:
            consumer.seek(tp, 0)
        remaining = {s for s, end in targets.items() if end > 0}
        count = 0
        while remaining:
            polled = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for tp, records in polled.items():
                count += len(records)
                if records[-1].offset + 1 >= targets[f"{tp.topic}:{tp.partition}"]:
                    remaining.discard(f"{tp.topic}:{tp.partition}")
        return count, time.perf_counter() - started
    finally:
        await consumer.stop()


def catch_up(
    bootstrap: str, url: str, prefix: str, topic_prefix: str, targets: dict[str, int], processes: int
) -> tuple[float, float, float]:
    """`carecoord project --processes N --until-caught-up` as run in production, on fresh tables:
    the wall time from its start (imports, group join and rebalances included) to the moment its
    processes have stored every end offset and exited, the peak memory of all its processes, and
    their CPU time (PostgreSQL's not in it)."""
    from carecoord.commands.project import command_line
    from projections.kafka.batch import CONSUMER, caught_up
    from projections.readmodels.postgres import PostgresReadModelStore

    store = PostgresReadModelStore(url, prefix)
    store.create_tables()  # empty: the command finds no positions and starts from offset zero
    command = command_line(
        url,
        bootstrap,
        prefix,
        topic_prefix,
        f"bench-{uuid.uuid4().hex[:8]}",
        THROUGH,
        "--processes",
        str(processes),
        "--until-caught-up",
        "--timeout",
        "3600",
    )
    if os.environ.get("CARECOORD_BENCH_MAX_RECORDS"):  # otherwise the command's default
        command += ["--max-records", os.environ["CARECOORD_BENCH_MAX_RECORDS"]]
    try:
        result = run_sampled(command, cwd=ROOT)
        if result.returncode != 0:
            raise RuntimeError(f"carecoord project failed: {result.stdout}{result.stderr[-3000:]}")
        stored = store.positions(CONSUMER)
        if not caught_up(stored, targets):
            raise RuntimeError(f"carecoord project exited before the end offsets: {stored} < {targets}")
        for line in result.stdout.splitlines():
            print(f"  {line}")
        return result.seconds, result.peak_pss_mb, result.cpu_seconds
    finally:
        store.drop_tables()
        store.close()


def eventsourcing_runner(url: str, lines: list[str]) -> tuple[int, float]:
    """The library's ProjectionRunner doing the same work, one event per transaction."""
    from uuid import NAMESPACE_URL, uuid5

    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event
    from eventsourcing.persistence import Tracking
    from eventsourcing.postgres import PostgresTrackingRecorder
    from eventsourcing.projection import Projection, ProjectionRunner
    from psycopg import sql
    from psycopg.rows import tuple_row

    from carecoord.config import PostgresSettings
    from projections.kafka.batch import decode_records
    from projections.readmodels.caches import EventCache
    from projections.readmodels.postgres import PostgresReadModelStore
    from projections.readmodels.store import ReadModelStore
    from projections.readmodels.writer import apply_in_transaction

    pg = PostgresSettings.from_url(url)
    schema = f"bench_es_{uuid.uuid4().hex[:8]}"
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": pg.host,
        "POSTGRES_PORT": str(pg.port),
        "POSTGRES_DBNAME": pg.dbname,
        "POSTGRES_USER": pg.user,
        "POSTGRES_PASSWORD": pg.password,
        "POSTGRES_SCHEMA": schema,
        "CREATE_TABLE": "y",
    }
    prefix = f"bench_es_{uuid.uuid4().hex[:6]}_"

    class EpisodeLog(Aggregate):
        """One episode's contract events, as a service store would hold them."""

        def __init__(self, episode_id: str) -> None:
            self.episode_id = episode_id

        @staticmethod
        def create_id(episode_id: str) -> Any:
            return uuid5(NAMESPACE_URL, episode_id)

        @event("Recorded")
        def record(self, envelope: str) -> None:
            pass

    class ContractLog(Application[Any]):
        name = "contractlog"

    class ReadModelView(PostgresTrackingRecorder):
        def apply(self, envelope: str, tracking: Tracking) -> None:
            store = ReadModelView.store
            record = _Record(tracking.notification_id, envelope)
            decoded = decode_records([record])
            with self.datastore.transaction(commit=True) as curs:
                cursor = store.prefixed(curs.connection.cursor(row_factory=tuple_row))
                apply_in_transaction(
                    store,
                    cursor,
                    decoded.batch,
                    THROUGH,
                    consumer="eventsourcing",
                    cache=ReadModelView.cache,
                    allow_gaps=["log:0"],
                )
                self._insert_tracking(curs, tracking)

        store: ReadModelStore
        cache = EventCache()

    class ReadModelProjection(Projection[ReadModelView]):
        name = "readmodels"

        def process_event(self, domain_event: Any, tracking: Tracking) -> None:
            if hasattr(domain_event, "envelope"):
                self.view.apply(domain_event.envelope, tracking)
            else:
                self.view.insert_tracking(tracking)

    store = PostgresReadModelStore(url, prefix)
    store.create_tables()
    ReadModelView.store = store
    app = ContractLog(env=env)
    # Fill the store (not timed): aggregates per episode, saved in chunks.
    logs: dict[str, EpisodeLog] = {}
    pending: dict[str, EpisodeLog] = {}
    for line in lines:
        episode_id = json.loads(line)["episode_id"]
        log = logs.get(episode_id)
        if log is None:
            log = logs[episode_id] = EpisodeLog(episode_id)
        log.record(line)
        pending[episode_id] = log
        if len(pending) >= 500:
            app.save(*pending.values())
            pending.clear()
    if pending:
        app.save(*pending.values())
    last = app.recorder.max_notification_id() or 0
    app.close()
    try:
        started = time.perf_counter()
        with ProjectionRunner(
            application_class=ContractLog,
            projection_class=ReadModelProjection,
            view_class=ReadModelView,
            env=env,
        ) as runner:
            runner.wait(last, timeout=3600)
            elapsed = time.perf_counter() - started
        return len(lines), elapsed
    finally:
        store.drop_tables()
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


class _Record:
    """A stand-in for a Kafka record, so the runner uses the consumer's very batch function."""

    topic = "log"
    partition = 0

    def __init__(self, offset: int, envelope: str) -> None:
        self.offset = offset - 1
        self.value = envelope.encode()
        self.key = None


def run(
    workdir: Path, events: int | None = None, episodes: int | None = None, runner_events: int | None = None
) -> None:
    from projections.kafka.offset_zero import end_offsets

    events = events or int(_env("CARECOORD_BENCH_PROJECTION_EVENTS", "200000"))
    episodes = episodes or max(1, events // 50)
    runner_events = runner_events or int(_env("CARECOORD_BENCH_RUNNER_EVENTS", "5000"))
    bootstrap = _env("CARECOORD_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    url = os.environ.get("CARECOORD_TEST_POSTGRES_URL") or os.environ.get("CARECOORD_POSTGRES_URL")
    if not url:
        raise SystemExit("projection benchmark: set CARECOORD_TEST_POSTGRES_URL (make bench does)")
    from carecoord.topics import service_topics

    print(f"projection: generating {events:,} events over {episodes:,} episodes ...")
    lines = list(history(events, episodes))
    topic_prefix = f"bench{uuid.uuid4().hex[:8]}."
    print(f"projection: publishing {len(lines):,} events to {topic_prefix}carecoord.*.v1 (not timed) ...")
    publish_history(bootstrap, topic_prefix, lines)
    try:
        topics = service_topics(topic_prefix)
        targets = asyncio.run(end_offsets(bootstrap, topics))
        total = sum(targets.values())
        cpu = time.process_time()
        count, seconds = asyncio.run(raw_consume(bootstrap, topics, targets))
        raw_cpu = time.process_time() - cpu
        raw_rate = count / seconds
        print(f"  raw aiokafka consume: {count:,} records in {seconds:.2f}s")
        processes = int(_env("CARECOORD_BENCH_PROCESSES", str(os.cpu_count() or 1)))
        seconds, peak_mb, cpu_seconds = catch_up(
            bootstrap, url, f"bench_{uuid.uuid4().hex[:6]}_", topic_prefix, targets, processes
        )
        rate = total / seconds
        print(
            f"  catch-up ({processes} processes): {total:,} events in {seconds:.2f}s "
            f"({rate / raw_rate:.1%} of the raw consume rate)"
        )
        record(
            "projection.catchup_events_per_second",
            rate,
            "events/s",
            baseline_value=raw_rate,
            baseline="raw aiokafka consume of the same topics",
            events=total,
            episodes=episodes,
            partitions=len(targets),
            processes=processes,
            how="carecoord project --processes N --until-caught-up, wall time from its start to its exit",
            cpus=os.cpu_count(),
            ratio=round(rate / raw_rate, 4),
            goal="at least 12% of the raw consume rate, peak memory of all processes under 1 GB",
        )
        record(
            "projection.catchup_peak_memory_all_processes",
            peak_mb,
            "MB",
            measured="peak summed proportional set size (PSS) of carecoord project and its processes, "
            "every 250 ms",
            events=total,
            processes=processes,
        )
        record(
            "projection.catchup_cpu_us_per_event",
            cpu_seconds / total * 1e6,
            "us",
            baseline_value=raw_cpu / count * 1e6,
            baseline="raw aiokafka consume of the same topics, CPU of this process per record",
            measured="user + system CPU of carecoord project and its processes per event "
            "(PostgreSQL's and Kafka's not in it), start to exit",
            events=total,
            processes=processes,
        )
        record(
            "projection.raw_aiokafka_consume_events_per_second",
            raw_rate,
            "events/s",
            events=count,
        )
    finally:
        delete_topics(bootstrap, topic_prefix)
    n, seconds = eventsourcing_runner(url, lines[:runner_events])
    print(f"  eventsourcing ProjectionRunner: {n:,} events in {seconds:.2f}s (one event per transaction)")
    record(
        "projection.eventsourcing_runner_events_per_second",
        n / seconds,
        "events/s",
        events=n,
        note="eventsourcing 9.5 ProjectionRunner + PostgresTrackingRecorder view, same batch function, "
        "one event per transaction; measured on the first events of the same history",
    )
