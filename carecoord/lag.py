"""How far behind a running deployment is: what `carecoord status` prints and the lag metrics show.

- Outbox lag, per service: the last notification id in the service's store minus the position its
  relay recorded after the broker acknowledged (0 when nothing publishable is stored beyond it:
  events outside the contract are never published).
- Consumer lag, per partition of the service topics: the partition's log end offset minus the
  position the projection consumers committed with the read models in PostgreSQL (the positions
  that count: the Kafka commit follows them, see projections/kafka/subscriber.py).
- The read models' dead letters (count) and every stored position (`consumer`, `stream`).

Reads only: no lock is taken, nothing is written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from carecoord.bootstrap import outbox_application
from carecoord.config import PostgresSettings, Settings
from carecoord.relay import read_position
from projections.kafka.app import bootstrap_servers
from projections.kafka.batch import CONSUMER, split_stream, stream_of
from projections.readmodels.postgres import PostgresReadModelStore

log = logging.getLogger("carecoord.lag")

KAFKA_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class OutboxLag:
    service: str
    topic: str
    stored: int  # the last notification id in the store
    published: int  # the relay's recorded position
    lag: int


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    end: int  # the log end offset
    committed: int  # the position stored with the read models
    lag: int


def outbox_lags(settings: Settings, pg: PostgresSettings, topics: Mapping[str, str]) -> list[OutboxLag]:
    """Per service (name -> topic): stored, published and the lag between them."""
    lags = []
    for service, topic in topics.items():
        app = outbox_application(service, settings)
        try:
            published = read_position(pg, service, topic)
            stored = app.max_position()
            waiting = stored > published and bool(app.contract_events(published + 1, 1))
        finally:
            app.close()
        lags.append(OutboxLag(service, topic, stored, published, stored - published if waiting else 0))
    return lags


def kafka_client(bootstrap: str) -> Any:
    """A consumer outside any group, only to ask for end offsets (kafka-python)."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        bootstrap_servers=bootstrap_servers(bootstrap),
        group_id=None,
        enable_auto_commit=False,
        client_id="carecoord-lag",
        request_timeout_ms=KAFKA_TIMEOUT_MS,
        bootstrap_timeout_ms=KAFKA_TIMEOUT_MS,
    )


def end_offsets(bootstrap: str, topics: Sequence[str], client: Any = None) -> dict[str, int]:
    """The log end offset of every partition of the topics ("topic:partition" -> offset)."""
    from kafka import TopicPartition

    consumer = client or kafka_client(bootstrap)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = consumer.end_offsets(partitions) if partitions else {}
        return {stream_of(tp.topic, tp.partition): int(n) for tp, n in ends.items()}
    finally:
        if client is None:
            consumer.close()


def stored_positions(store: PostgresReadModelStore) -> dict[tuple[str, str], int]:
    """Every position stored with the read models: (consumer, stream) -> position (none: empty)."""
    with store.transaction() as cursor:
        cursor.execute("SELECT to_regclass(?)", (f"{store.prefix}positions",))
        if cursor.fetchone()[0] is None:
            return {}
        cursor.execute("SELECT consumer, stream, position FROM {p}positions")
        return {(consumer, stream): int(position) for consumer, stream, position in cursor.fetchall()}


def dead_letter_count(store: PostgresReadModelStore) -> int:
    with store.transaction() as cursor:
        cursor.execute("SELECT to_regclass(?)", (f"{store.prefix}dead_letters",))
        if cursor.fetchone()[0] is None:
            return 0
        cursor.execute("SELECT count(*) FROM {p}dead_letters")
        return int(cursor.fetchone()[0])


def partition_lags(ends: dict[str, int], positions: dict[tuple[str, str], int]) -> list[PartitionLag]:
    """Per partition: its end, the projection consumers' stored position, and the lag."""
    lags = []
    for stream, end in sorted(ends.items(), key=lambda item: split_stream(item[0])):
        topic, partition = split_stream(stream)
        committed = positions.get((CONSUMER, stream), 0)
        lags.append(PartitionLag(topic, partition, end, committed, max(0, end - committed)))
    return lags


class ConsumerLagCollector:
    """A Prometheus collector of the consumer lag per partition, refreshed every `every` seconds in
    a thread of its own (a scrape never waits on Kafka or PostgreSQL): for `carecoord project
    --metrics-port`. While a refresh fails, the last values stay and `..._lag_refresh_errors`
    counts the failures; `..._lag_age_seconds` says how old the values are."""

    def __init__(self, bootstrap: str, topics: Iterable[str], read_model_url: str, prefix: str,
                 every: float = 1.0) -> None:  # fmt: skip
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.read_model_url = read_model_url
        self.prefix = prefix
        self.every = every
        self.lags: list[PartitionLag] = []
        self.refreshed_at: float | None = None
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="carecoord-lag", daemon=True)

    def start(self) -> ConsumerLagCollector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        import time

        client: Any = None
        store: PostgresReadModelStore | None = None
        while not self._stop.is_set():
            try:
                if client is None:
                    client = kafka_client(self.bootstrap)
                if store is None:
                    store = PostgresReadModelStore(self.read_model_url, self.prefix)
                ends = end_offsets(self.bootstrap, self.topics, client)
                self.lags = partition_lags(ends, stored_positions(store))
                self.refreshed_at = time.monotonic()
            except Exception as error:
                self.errors += 1
                log.warning("consumer lag not refreshed: %s: %s", type(error).__name__, error)
                if client is not None:
                    client.close()
                    client = None
            self._stop.wait(self.every)
        if client is not None:
            client.close()
        if store is not None:
            store.close()

    def collect(self) -> Iterable[Any]:
        import time

        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        lag = GaugeMetricFamily(
            "carecoord_consumer_lag",
            "Per partition: log end offset minus the position committed with the read models",
            labels=["topic", "partition"],
        )
        end = GaugeMetricFamily("carecoord_consumer_log_end_offset", "Per partition: log end offset",
                                labels=["topic", "partition"])  # fmt: skip
        committed = GaugeMetricFamily(
            "carecoord_consumer_committed_offset",
            "Per partition: the position stored with the read models (the next offset to read)",
            labels=["topic", "partition"],
        )
        for item in self.lags:
            labels = [item.topic, str(item.partition)]
            lag.add_metric(labels, item.lag)
            end.add_metric(labels, item.end)
            committed.add_metric(labels, item.committed)
        age = GaugeMetricFamily(
            "carecoord_consumer_lag_age_seconds", "Seconds since the lag values were last refreshed"
        )
        age.add_metric([], time.monotonic() - self.refreshed_at if self.refreshed_at is not None else -1)
        errors = CounterMetricFamily(
            "carecoord_consumer_lag_refresh_errors", "Failed refreshes of the lag (Kafka or PostgreSQL away)"
        )
        errors.add_metric([], self.errors)
        return [lag, end, committed, age, errors]
