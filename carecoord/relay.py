"""The outbox relay: each service's stored events, published to its Kafka topic, at least once.

A service's event table is its outbox (design.md): the application's notification log gives every
stored event a position that only grows, and the PostgreSQL recorder commits positions in order (it
locks the table for each insert), so "everything after position P" never skips an event that commits
later. Per service, the relay:

1. holds a PostgreSQL advisory lock on a dedicated connection for its whole life, so a second relay
   of the same service (same store, same topic) cannot publish at the same time;
2. reads the contract events after the last recorded position (a batch at a time);
3. publishes each as the contract's envelope (JSON, key = episode_id, headers event_type and
   event_id) with kafka-python's idempotent producer (`acks=all`) and waits for every
   acknowledgement;
4. only then records the batch's last position in `relay_positions`, on the lock's connection (so a
   relay that lost its lock cannot record anything). A relay whose session was lost (PostgreSQL
   restarted) connects again, takes the lock again (standing by while another relay holds it) and
   goes on from the position recorded then.

A crash between 3 and 4 re-sends that batch after a restart: at least once, never lost. Consumers
drop what they have seen by `event_id`. A failed publish (broker away past the producer's delivery
timeout) closes the producer and starts over from the recorded position with a new one.

The pure part (`outbox_record`) turns a contract event into the bytes that go on the wire; the rest
is the I/O around it. Kafka mode needs PostgreSQL: the embedded default (SQLite) has no relay, its
projections follow the stores directly.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from prometheus_client import Counter, Gauge, Histogram

from carecoord.bootstrap import outbox_application
from carecoord.config import PostgresSettings, Settings, min_insync_replicas, replication_factor
from carecoord.topics import DEFAULT_PARTITIONS, TOPIC_ALREADY_EXISTS, topic_spec
from events import Event, to_json
from runtime.processes import die_with_parent

log = logging.getLogger("carecoord.relay")

DEFAULT_BATCH_SIZE = 5000
POSITIONS_TABLE = "relay_positions"

# --- metrics (README.md, "Metrics"; served by `carecoord relay --metrics-port`) --------------------

PUBLISHED = Counter(
    "carecoord_relay_events_published", "Events published to Kafka and acknowledged, per service", ["service"]
)
OUTBOX_LAG = Gauge(
    "carecoord_relay_outbox_lag",
    "The service's last stored notification id minus the last published one (0: nothing waits)",
    ["service"],
)
STORED_POSITION = Gauge(
    "carecoord_relay_stored_position",
    "The last notification id in the service's store, as last read",
    ["service"],
)
PUBLISHED_POSITION = Gauge(
    "carecoord_relay_published_position",
    "The position recorded after the last acknowledged batch",
    ["service"],
)
PUBLISH_SECONDS = Histogram(
    "carecoord_relay_publish_seconds",
    "Time to publish one batch: from the first send to the last broker acknowledgement",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
)
LOCK_HELD = Gauge(
    "carecoord_relay_lock_held",
    "1 while this relay holds the service's advisory lock (it is the one publishing), else 0",
    ["service"],
)
FAILURES = Counter(
    "carecoord_relay_failures",
    "Failed batches and reconnection attempts (Kafka or PostgreSQL away), per service",
    ["service"],
)


# --- the pure part -------------------------------------------------------------------------------


class OutboxRecord(NamedTuple):
    """One Kafka record of the outbox: the event's notification position and its wire form.

    A named tuple: batches of them come back from the reader process (see OutboxReader), and tuples
    pickle several times faster than dataclass instances.
    """

    position: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def outbox_record(position: int, event: Event) -> OutboxRecord:
    """The contract envelope as Kafka carries it: JSON value, key = episode_id, type and id in headers."""
    return OutboxRecord(
        position=position,
        key=event.episode_id.encode(),
        value=to_json(event).encode(),
        headers=[("event_type", event.event_type.encode()), ("event_id", event.event_id.encode())],
    )


# --- errors --------------------------------------------------------------------------------------


class RelayError(RuntimeError):
    """The relay cannot run; the message says why (shown as is by `carecoord relay`)."""


class RelayAlreadyRunning(RelayError):
    pass


class LockLost(RelayError):
    pass


# --- PostgreSQL: the advisory lock and the recorded position --------------------------------------


def connect(pg: PostgresSettings, **kwargs: Any) -> Any:
    import psycopg

    return psycopg.connect(
        host=pg.host,
        port=pg.port,
        dbname=pg.dbname,
        user=pg.user,
        password=pg.password,
        connect_timeout=10,
        # The lock lives as long as this session: notice a dead peer in seconds, not hours.
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
        application_name="carecoord-relay",
        **kwargs,
    )


class PositionStore:
    """The relay's recorded position for one (service, topic), and the lock that makes it the only one.

    Everything runs on one autocommit connection: the session-level advisory lock is held by it, and
    the position is written through it, so a relay whose session (and lock) was lost fails to record.
    """

    def __init__(self, pg: PostgresSettings, service: str, topic: str) -> None:
        from psycopg import sql

        self.service = service
        self.topic = topic
        self.schema = pg.schema or "public"
        self.lock_name = f"carecoord-relay:{pg.dbname}:{self.schema}:{service}:{topic}"
        self._table = sql.Identifier(self.schema, POSITIONS_TABLE)
        self._sql = sql
        self._pg = pg
        self._conn = connect(pg, autocommit=True)
        self.locked = False

    def reconnect(self) -> bool:
        """A new session in place of a lost one, and the lock tried on it (True: held again)."""
        self.locked = False
        try:
            self._conn.close()
        except Exception as error:  # the old session is gone anyway
            log.debug("relay for %s: closing the lost session: %s", self.service, error)
        self._conn = connect(self._pg, autocommit=True)
        return self.try_lock()

    def try_lock(self) -> bool:
        row = self._conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self.lock_name,)).fetchone()
        self.locked = bool(row and row[0])
        return self.locked

    def ensure_table(self) -> None:
        sql = self._sql
        with self._conn.transaction():
            # Relays of different services start together: serialize the CREATE (IF NOT EXISTS races).
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('carecoord-relay-ddl'))")
            self._conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " service TEXT NOT NULL, topic TEXT NOT NULL, position BIGINT NOT NULL,"
                    " updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (service, topic))"
                ).format(self._table)
            )

    def load(self) -> int:
        row = self._conn.execute(
            self._sql.SQL("SELECT position FROM {} WHERE service = %s AND topic = %s").format(self._table),
            (self.service, self.topic),
        ).fetchone()
        return int(row[0]) if row else 0

    def save(self, position: int) -> None:
        if not self.locked:
            raise LockLost(f"relay for {self.service}: not holding the lock, refusing to record")
        try:
            self._conn.execute(
                self._sql.SQL(
                    "INSERT INTO {} AS p (service, topic, position) VALUES (%s, %s, %s)"
                    " ON CONFLICT (service, topic) DO UPDATE"
                    " SET position = GREATEST(p.position, EXCLUDED.position), updated_at = now()"
                ).format(self._table),
                (self.service, self.topic, position),
            )
        except Exception as error:
            self.locked = False
            raise LockLost(
                f"lost the PostgreSQL session holding the lock, position {position} not recorded "
                f"({type(error).__name__}: {error})"
            ) from error

    def close(self) -> None:
        self._conn.close()  # ends the session, which releases the advisory lock


def read_position(pg: PostgresSettings, service: str, topic: str) -> int:
    """The recorded position (0 when none), for tools and tests; takes no lock."""
    from psycopg import errors, sql

    with connect(pg, autocommit=True) as conn:
        try:
            row = conn.execute(
                sql.SQL("SELECT position FROM {} WHERE service = %s AND topic = %s").format(
                    sql.Identifier(pg.schema or "public", POSITIONS_TABLE)
                ),
                (service, topic),
            ).fetchone()
        except errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


# --- Kafka ---------------------------------------------------------------------------------------


def ensure_topic(bootstrap: str, topic: str, partitions: int = DEFAULT_PARTITIONS) -> bool:
    """Create the topic (kept forever) unless it exists; True when it was created now.

    With the settings deploy/topics.py gives every topic (carecoord/topics.py): in production that
    job has created them already; a relay started alone still creates its topic right."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="carecoord-relay-admin")
    try:
        spec = {topic: topic_spec(replication_factor(), partitions, min_insync_replicas())}
        response = admin.create_topics(spec, raise_errors=False)
        created = False
        for result in response["topics"]:
            if result["error_code"] == 0:
                created = True
            elif result["error_code"] != TOPIC_ALREADY_EXISTS:
                raise RelayError(f"creating topic {topic} failed: {result['error_message']}")
        admin.wait_for_topics([topic], timeout_ms=30_000)
        return created
    finally:
        admin.close()


# kafka-python's sender thread competes with the relay's own work for the GIL: with a long linger
# and large batches it stays idle while a batch is being built and ships it whole at flush().
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 500,
    "batch_size": 512 * 1024,
    "max_request_size": 1024 * 1024,
    "delivery_timeout_ms": 120_000,
    "request_timeout_ms": 30_000,
    "max_block_ms": 60_000,
}


class KafkaPublisher:
    """Publishes outbox records to one topic and returns only once the broker acknowledged all of them."""

    def __init__(self, bootstrap: str, topic: str, client_id: str, **overrides: Any) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap, client_id=client_id, **{**PRODUCER_DEFAULTS, **overrides}
        )

    def publish(self, records: Sequence[OutboxRecord]) -> None:
        send = self._producer.send
        topic = self.topic
        futures = [send(topic, key=r.key, value=r.value, headers=r.headers) for r in records]
        self._producer.flush()
        for future in futures:
            future.get(timeout=0)  # raises the delivery error, if any

    def close(self, timeout: float = 5.0) -> None:
        self._producer.close(timeout=timeout)


# --- reading the outbox, in a process of its own ---------------------------------------------------

_outbox: Any = None  # in the reader process: the service application whose notification log is read


def _open_outbox(service: str, settings: Settings, parent_pid: int) -> None:
    global _outbox
    die_with_parent(parent_pid)  # a relay killed outright cannot shut its pool down
    _outbox = outbox_application(service, settings)


def _read_outbox(start: int, limit: int) -> tuple[list[OutboxRecord], int]:
    """The batch from `start`, and the last stored notification id, read after it (the outbox lag)."""
    records = [outbox_record(position, event) for position, event in _outbox.contract_events(start, limit)]
    return records, _outbox.max_position()


class OutboxReader:
    """Reads a service's stored events after a position and encodes them, in a child process.

    Reading and encoding (the event store's decoding, the contract check, the JSON) cost about as
    much CPU as kafka-python's `send()`; in one process both would share one interpreter lock, so the
    relay would use one core. In a process of their own they run beside the publishing, and
    `submit` returns at once, so the next batch is read while the broker acknowledges this one.
    A reader process that dies is replaced on the next `submit`.
    """

    def __init__(self, service: str, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, start: int, limit: int) -> Future[tuple[list[OutboxRecord], int]]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a process with threads
                initializer=_open_outbox,
                initargs=(self.service, self.settings, os.getpid()),
            )
        try:
            return self._pool.submit(_read_outbox, start, limit)
        except BrokenProcessPool:
            self.close()
            return self.submit(start, limit)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --- one service's relay -------------------------------------------------------------------------


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    failures: int = 0
    position: int = 0
    stored: int = 0  # the last stored notification id, as last read
    # The last read found contract events after the position: while it did not, whatever is stored
    # beyond the position is outside the contract (an aggregate's `Opened`, `PatientRegistered`),
    # never published, and nothing waits.
    waiting: bool = False

    @property
    def lag(self) -> int:
        return max(0, self.stored - self.position) if self.waiting else 0


@dataclass
class ServiceRelay:
    """Relays one service: `reader` reads and encodes its stored events after a position."""

    service: str
    reader: OutboxReader
    store: PositionStore
    publisher_factory: Callable[[], KafkaPublisher]
    batch_size: int = DEFAULT_BATCH_SIZE
    # Polling an idle outbox costs one indexed query; waiting longer would add to freshness (the
    # time from a command to its read model) directly.
    idle_s: float = 0.05
    retry_s: float = 1.0
    pause_before_record_s: float = 0.0  # fault-injection tests only: widens the crash window
    stats: RelayStats = field(default_factory=RelayStats)
    _publisher: KafkaPublisher | None = None
    _prefetched: tuple[int, Future[tuple[list[OutboxRecord], int]]] | None = None

    def start(self) -> None:
        self.store.ensure_table()
        self.stats.position = self.store.load()
        self._show_position()
        LOCK_HELD.labels(self.service).set(1 if self.store.locked else 0)
        log.info("relay for %s: starting after position %d", self.service, self.stats.position)

    def step(self) -> int:
        """Publish the next batch and record its position; the number of events published (0: none)."""
        records = self._read_from(self.stats.position + 1)
        if not records:
            return 0
        # The reader process reads the batch after this one while this one is published.
        self._prefetched = (
            records[-1].position + 1,
            self.reader.submit(records[-1].position + 1, self.batch_size),
        )
        if self._publisher is None:
            self._publisher = self.publisher_factory()
        started = time.perf_counter()
        self._publisher.publish(records)
        PUBLISH_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        if self.pause_before_record_s:
            time.sleep(self.pause_before_record_s)
        self.store.save(records[-1].position)
        self.stats.position = records[-1].position
        self.stats.published += len(records)
        self.stats.batches += 1
        PUBLISHED.labels(self.service).inc(len(records))
        self._show_position()
        return len(records)

    def _read_from(self, start: int) -> list[OutboxRecord]:
        """The batch from `start`: the one read ahead when it begins there and found events (an empty
        read-ahead is stale by now), else read now."""
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None:
            began, future = prefetched
            batch, stored = future.result()  # a failed read-ahead raises here, and the step starts over
            if began == start and batch:
                self._note_stored(stored, batch)
                return batch
        batch, stored = self.reader.submit(start, self.batch_size).result()
        self._note_stored(stored, batch)
        return batch

    def _note_stored(self, stored: int, batch: list[OutboxRecord]) -> None:
        self.stats.stored = max(stored, batch[-1].position) if batch else stored
        self.stats.waiting = bool(batch)
        self._show_position()

    def _show_position(self) -> None:
        STORED_POSITION.labels(self.service).set(self.stats.stored)
        PUBLISHED_POSITION.labels(self.service).set(self.stats.position)
        OUTBOX_LAG.labels(self.service).set(self.stats.lag)

    def run(self, stop: threading.Event, once: bool = False) -> None:
        """Relay until `stop` is set (finishing the batch in hand), or with `once` until drained."""
        while not stop.is_set():
            try:
                published = self.step()
            except LockLost as error:
                if not self.retake_lock(stop, error):
                    return  # stopped meanwhile
                continue
            except Exception as error:
                # Kafka away past the delivery timeout, or the store unreadable: start over from the
                # recorded position with a new producer (the unrecorded batch will be sent again).
                self.stats.failures += 1
                FAILURES.labels(self.service).inc()
                log.warning(
                    "relay for %s: batch after position %d failed (%s: %s); retrying in %.0fs",
                    self.service,
                    self.stats.position,
                    type(error).__name__,
                    error,
                    self.retry_s,
                )
                self._drop_publisher()
                self._prefetched = None  # start over from the recorded position
                stop.wait(self.retry_s)
                continue
            if published:
                log.info(
                    "relay for %s: published %d, position %d", self.service, published, self.stats.position
                )
            elif once:
                return
            else:
                stop.wait(self.idle_s)

    def retake_lock(self, stop: threading.Event, error: LockLost) -> bool:
        """The session holding the lock was lost (PostgreSQL restarted, the network failed): a new
        session, the lock taken on it, and the position recorded there loaded again, since another
        relay may have recorded further meanwhile. At worst the batch in hand is sent again.

        While PostgreSQL is away, tried again every `retry_s`; while another relay holds the lock
        (it took over), this one stands by, as `carecoord relay --wait-for-lock` does. False only
        when `stop` is set first."""
        log.warning("relay for %s: %s; reconnecting", self.service, error)
        LOCK_HELD.labels(self.service).set(0)
        self._drop_publisher()
        self._prefetched = None
        waiting_for: str | None = None
        while not stop.is_set():
            try:
                if self.store.reconnect():
                    self.stats.position = self.store.load()
                    LOCK_HELD.labels(self.service).set(1)
                    self._show_position()
                    log.warning(
                        "relay for %s: lock held again, going on after position %d",
                        self.service,
                        self.stats.position,
                    )
                    return True
                reason = "another relay holds the lock; standing by"
            except Exception as failure:  # PostgreSQL still away
                reason = f"reconnecting failed ({type(failure).__name__})"
            if reason != waiting_for:
                log.warning("relay for %s: %s; trying again every %.0fs", self.service, reason, self.retry_s)
                waiting_for = reason
            self.stats.failures += 1
            FAILURES.labels(self.service).inc()
            stop.wait(self.retry_s)
        return False

    def close(self) -> None:
        LOCK_HELD.labels(self.service).set(0)
        self._drop_publisher()
        self.reader.close()
        self.store.close()

    def _drop_publisher(self) -> None:
        if self._publisher is not None:
            try:
                self._publisher.close(timeout=5.0)
            except Exception as error:  # closing a producer whose broker is gone may fail too
                log.debug("relay for %s: closing the producer: %s", self.service, error)
            self._publisher = None


# --- wiring --------------------------------------------------------------------------------------


def require_kafka_mode(settings: Settings, bootstrap: str | None) -> tuple[PostgresSettings, str]:
    if settings.postgres is None:
        raise RelayError(
            "the relay needs PostgreSQL: Kafka mode requires CARECOORD_POSTGRES_URL and "
            "CARECOORD_KAFKA_BOOTSTRAP (the embedded default has no relay: its projections "
            "follow the SQLite stores directly)"
        )
    bootstrap = bootstrap or settings.kafka_bootstrap
    if not bootstrap:
        raise RelayError("no Kafka broker: Kafka mode requires CARECOORD_KAFKA_BOOTSTRAP (or --bootstrap)")
    return settings.postgres, bootstrap


def build_relay(
    service: str,
    settings: Settings,
    pg: PostgresSettings,
    bootstrap: str,
    topic: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    partitions: int = DEFAULT_PARTITIONS,
    producer_overrides: dict[str, Any] | None = None,
    pause_before_record_s: float = 0.0,
) -> ServiceRelay:
    """The relay of one service, holding its lock; `RelayAlreadyRunning` when another one holds it."""
    store = PositionStore(pg, service, topic)
    if not store.try_lock():
        store.close()
        raise RelayAlreadyRunning(
            f"relay for {service} already running (it holds the lock on {topic} in schema "
            f"{store.schema}); not starting a second one"
        )
    try:
        ensure_topic(bootstrap, topic, partitions)
    except Exception:
        store.close()
        raise
    overrides = producer_overrides or {}
    return ServiceRelay(
        service=service,
        reader=OutboxReader(service, settings),
        store=store,
        publisher_factory=lambda: KafkaPublisher(
            bootstrap, topic, client_id=f"carecoord-relay-{service}", **overrides
        ),
        batch_size=batch_size,
        pause_before_record_s=pause_before_record_s,
    )
