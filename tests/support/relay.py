"""Helpers for the outbox relay tests: a private PostgreSQL schema, the relay as a child process,
reading a whole topic back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from events import Event, parse_event
from tests.support.postgres import TEST_CIPHER_KEY


def fill_deliveries(app: object, episodes: int, deliveries_per_episode: int) -> int:
    from benchmarks.relay import fill_deliveries as fill

    return fill(app, episodes, deliveries_per_episode)


ROOT = Path(__file__).resolve().parents[2]


def relay_env(url: str, schema: str, bootstrap: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "CARECOORD_POSTGRES_URL": url,
        "CARECOORD_POSTGRES_SCHEMA": schema,
        "CARECOORD_CIPHER_KEY": TEST_CIPHER_KEY,
        "CARECOORD_KAFKA_BOOTSTRAP": bootstrap,
        "CARECOORD_TOPIC_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
    }


def relay_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "carecoord.cli", "relay", *args]


def run_relay(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        relay_command(*args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def start_relay(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(relay_command(*args), env=env, cwd=ROOT, stdout=out, stderr=out)


def read_topic(bootstrap: str, topic: str, timeout: float = 60) -> list[Any]:
    """Every record of the topic, all partitions from offset zero, up to the end offsets of now."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"reading {topic} took more than {timeout}s"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def topic_size(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values()) if partitions else 0
    finally:
        consumer.close()


def dedupe(records: list[Any]) -> dict[str, Event]:
    """What a consumer keeps: the first copy of each event_id (they are identical anyway)."""
    kept: dict[str, Event] = {}
    for record in records:
        event = parse_event(record.value)
        assert record.key == event.episode_id.encode()
        assert dict(record.headers)["event_id"] == event.event_id.encode()
        kept.setdefault(event.event_id, event)
    return kept
