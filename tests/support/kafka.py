"""Helpers for the tests against the real Kafka broker and PostgreSQL (marked `kafka`).

They fail, never skip, when CARECOORD_KAFKA_BOOTSTRAP or CARECOORD_TEST_POSTGRES_URL is missing
(`make test` sets both after `make up`). Every test gets its own topics (a unique topic prefix),
its own table prefixes and its own consumer group, so tests never see each other's records.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from carecoord.topics import topic_for
from events import SERVICE_NAMES, Event, parse_event, to_json
from projections.readmodels.projector import Projector
from projections.readmodels.store import ReadModelStore

ROOT = Path(__file__).resolve().parents[2]


def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("CARECOORD_KAFKA_BOOTSTRAP")
    if not bootstrap:
        pytest.fail(
            "CARECOORD_KAFKA_BOOTSTRAP is not set: start Kafka with `make up` (tests use `make test`)"
        )
    return bootstrap




def generated_events(events: int, episodes: int, seed: int = 11) -> list[Event]:
    from benchmarks.generate import history

    return [parse_event(line) for line in history(events, episodes, seed=seed)]


def publish(bootstrap: str, prefix: str, items: Iterable[Event | tuple[str, bytes, bytes]]) -> int:
    """Events to their service's topic (key = episode_id); or raw (service, key, value) records."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024)
    count = 0
    try:
        for item in items:
            if isinstance(item, Event):
                producer.send(
                    topic_for(item.source, prefix), key=item.episode_id.encode(), value=to_json(item).encode()
                )
            else:
                service, key, value = item
                producer.send(topic_for(service, prefix), key=key, value=value)
            count += 1
        producer.flush(timeout=60)
    finally:
        producer.close()
    return count


class ListStream:
    def __init__(self, name: str, events: list[Event]) -> None:
        self.name = name
        self.events = events

    def contract_events(self, start: int = 1, limit: int | None = None) -> list[tuple[int, Event]]:
        end = len(self.events) if limit is None else start - 1 + limit
        return [(n, self.events[n - 1]) for n in range(start, min(end, len(self.events)) + 1)]


def reference(store: ReadModelStore, events: list[Event], through: date) -> ReadModelStore:
    """The read models by the embedded projector (projections.readmodels.projector), the reference."""
    by_source: dict[str, list[Event]] = {name: [] for name in SERVICE_NAMES}
    for event in events:
        by_source[event.source].append(event)
    streams = [ListStream(name, items) for name, items in by_source.items()]
    Projector(store, streams, lambda: through, batch_size=100_000).catch_up()
    return store


def project_command(
    pg_url: str, bootstrap: str, prefix: str, topic_prefix: str, group: str, through: date, *extra: str
) -> list[str]:
    from carecoord.commands.project import command_line

    return command_line(pg_url, bootstrap, prefix, topic_prefix, group, through, *extra)


def run_project(*args: Any, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    command = project_command(*args, "--until-caught-up", "--timeout", str(timeout))
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 60, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def without_positions(dump: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dump))
