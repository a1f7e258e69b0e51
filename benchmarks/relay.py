"""Relay benchmark: events stored by the deliveries service on real PostgreSQL, relayed to the real broker.

The store is filled through the service's own aggregates (`EpisodeDeliveries.schedule` and
`complete`, the rules the commands apply) and saved by the application, many aggregates per
transaction: real stored events, only written faster than one command at a time would. Then
`carecoord relay deliveries --once` runs in a child process, as in production, and drains them all
to a fresh topic; the figure is stored events published (and acknowledged, and recorded) per second
of that child's wall time, start-up included (about 0.8 s: imports, the lock, the topic, the reader
process), over 300,000 events, as a relay catching up after an outage would meet them. Beside it,
the rate at which one process only reads and converts the events (`contract_events` + `to_json`):
what the relay could do without Kafka, were reading and publishing not in separate processes.

Needs CARECOORD_TEST_POSTGRES_URL and CARECOORD_KAFKA_BOOTSTRAP (`make bench` sets both). The schema
and topics are made for the run and dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from benchmarks.postgres import scratch_schema
from benchmarks.results import record

GOAL = 20_000  # events/s
RELAY = [sys.executable, "-m", "carecoord.cli", "relay", "deliveries", "--once", "--quiet"]
# (client, figure): the relay publishes with kafka-python's producer only.
PRODUCERS = [("kafka-python", "relay.events_per_second")]


def fill_deliveries(app: object, episodes: int, deliveries_per_episode: int, chunk: int = 50) -> int:
    """Store 2 contract events (scheduled, completed) per delivery; returns how many were stored."""
    from services.common.episodes import EpisodeStatus
    from services.deliveries.application import DeliveriesApplication
    from services.deliveries.domainmodel import EpisodeDeliveries, Item

    assert isinstance(app, DeliveriesApplication)
    start = date(2026, 3, 2)
    stored = 0
    pending: list[EpisodeDeliveries] = []
    for number in range(episodes):
        episode_id = f"ep-{number:06d}"
        status = EpisodeStatus(episode_id, f"pt-{number:06d}", accepted_on=start)
        aggregate = EpisodeDeliveries(episode_id)
        for k in range(deliveries_per_episode):
            day = start + timedelta(days=k % 200)
            occurred_at = f"{day.isoformat()}T10:00:00-05:00"
            aggregate.schedule(status, occurred_at, f"d-{k}", day)
            aggregate.complete(status, occurred_at, f"d-{k}", day, 7, [Item("J0475", 4, "baclofen 10 mg")])
            stored += 2
        pending.append(aggregate)
        if len(pending) >= chunk:
            app.save(*pending)
            pending.clear()
    if pending:
        app.save(*pending)
    return stored


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        doomed = [t for t in topics if t in existing]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


def read_rate(app: object, limit: int = 5000) -> float:
    """Contract events read and turned into records per second, without Kafka (the ceiling)."""
    from carecoord.relay import outbox_record
    from services.common.application import ServiceApplication

    assert isinstance(app, ServiceApplication)
    started = time.perf_counter()
    count, position = 0, 0
    while batch := app.contract_events(position + 1, limit):
        for notification_id, event in batch:
            outbox_record(notification_id, event)
        count += len(batch)
        position = batch[-1][0]
    return count / (time.perf_counter() - started)


def run(workdir: Path, episodes: int = 6_000, deliveries_per_episode: int = 25) -> None:
    from carecoord.config import PostgresSettings, Settings, application_env
    from carecoord.relay import read_position
    from carecoord.topics import topic_for
    from services.deliveries.application import DeliveriesApplication

    url = os.environ.get("CARECOORD_TEST_POSTGRES_URL")
    bootstrap = os.environ.get("CARECOORD_KAFKA_BOOTSTRAP")
    if not url or not bootstrap:
        raise SystemExit("relay benchmark: needs CARECOORD_TEST_POSTGRES_URL and CARECOORD_KAFKA_BOOTSTRAP")
    with scratch_schema(url) as schema:
        pg = PostgresSettings.from_url(url, schema=schema)
        settings = Settings(data_dir=workdir, postgres=pg, kafka_bootstrap=bootstrap)
        app = DeliveriesApplication(env=application_env("deliveries", settings), episode_source=lambda s: ())
        try:
            started = time.perf_counter()
            events = fill_deliveries(app, episodes, deliveries_per_episode)
            print(
                f"relay: stored {events:,} events in {time.perf_counter() - started:.1f}s (schema {schema})"
            )
            ceiling = read_rate(app)
            last = app.max_position()
        finally:
            app.close()
        env = {
            **os.environ,
            "CARECOORD_POSTGRES_URL": url,
            "CARECOORD_POSTGRES_SCHEMA": schema,
            "CARECOORD_KAFKA_BOOTSTRAP": bootstrap,
        }
        for producer, name in PRODUCERS:
            prefix = f"bench-{uuid.uuid4().hex[:8]}."
            topic = topic_for("deliveries", prefix)
            try:
                started = time.perf_counter()
                subprocess.run(
                    RELAY,
                    env={**env, "CARECOORD_TOPIC_PREFIX": prefix},
                    check=True,
                )
                seconds = time.perf_counter() - started
                position = read_position(pg, "deliveries", topic)
                if position != last:
                    raise SystemExit(
                        f"relay benchmark: relay stopped at {position}, the store ends at {last}"
                    )
                print(f"relay ({producer}): {events:,} events published in {seconds:.1f}s (goal {GOAL:,}/s)")
                record(
                    name,
                    events / seconds,
                    "events/s",
                    baseline_value=ceiling,
                    baseline="contract_events + envelope encoding only, no Kafka",
                    producer=producer,
                    events=events,
                    seconds=round(seconds, 2),
                    goal=GOAL,
                )
            finally:
                delete_topics(bootstrap, [topic])
