"""The broker stopped and restarted under load: everything the services stored arrives once it is back.

Stops and starts the real broker with deploy/kafka.sh (other tests using the broker at that moment
would see it go away: run this one on its own, or accept a retry there). The broker is started
again in a `finally`, whatever happens. Takes about a minute.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from carecoord.bootstrap import Services
from carecoord.relay import read_position
from carecoord.topics import topic_for
from services.deliveries.domainmodel import Item
from tests.support.postgres import private_schema, settings_for
from tests.support.relay import (
    ROOT,
    dedupe,
    fill_deliveries,
    read_topic,
    relay_env,
    start_relay,
)
from tests.support.services import open_episode

pytestmark = pytest.mark.kafka

KAFKA_SH = ROOT / "deploy" / "kafka.sh"


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with private_schema(pg_url) as name:
        yield name


def kafka(action: str) -> None:
    # --brokers 1: the single development node, whatever CARECOORD_KAFKA_BROKERS says (not the cluster).
    result = subprocess.run(
        [str(KAFKA_SH), "--brokers", "1", action], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"deploy/kafka.sh {action}: {result.stdout}{result.stderr}"


def test_broker_stopped_and_restarted_under_load_nothing_lost(
    pg_url: str, schema: str, bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(pg_url, schema, tmp_path / "var")
    assert settings.postgres is not None
    topic = topic_for("deliveries", topic_prefix)
    log = tmp_path / "relay.log"
    stop_load = threading.Event()
    commands = 0

    with Services.from_config(settings) as services:
        fill_deliveries(services.deliveries, episodes=200, deliveries_per_episode=25)  # 10,000 waiting
        open_episode(services, "ep-load")

        def load() -> None:
            # Commands keep coming while the broker is away: the store (the outbox) takes them.
            nonlocal commands
            while not stop_load.is_set():
                services.deliveries.complete_delivery(
                    "ep-load",
                    delivery_id=f"load-{commands}",
                    delivered_on=date(2026, 3, 2),
                    days_supply=7,
                    items=[Item("J0475", 4)],
                )
                commands += 1
                time.sleep(0.01)

        relay = start_relay(
            relay_env(pg_url, schema, bootstrap, topic_prefix), "deliveries", "--batch-size", "1000", log=log
        )
        loader = threading.Thread(target=load, name="load")
        loader.start()
        try:
            deadline = time.monotonic() + 60
            while read_position(settings.postgres, "deliveries", topic) == 0:
                assert relay.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            kafka("stop")
            stopped_at = read_position(settings.postgres, "deliveries", topic)
            time.sleep(8)  # the relay keeps trying; the services keep storing
            assert relay.poll() is None, log.read_text()
            assert read_position(settings.postgres, "deliveries", topic) == stopped_at, (
                "recorded without acks"
            )
            kafka("start")
            time.sleep(3)
            stop_load.set()
            loader.join(timeout=30)
            last = services.deliveries.max_position()
            deadline = time.monotonic() + 150
            while read_position(settings.postgres, "deliveries", topic) < last:
                assert relay.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"relay did not catch up:\n{log.read_text()[-3000:]}"
                time.sleep(0.2)
            relay.send_signal(signal.SIGTERM)
            assert relay.wait(timeout=60) == 0, log.read_text()[-3000:]
        finally:
            stop_load.set()
            loader.join(timeout=30)
            if relay.poll() is None:
                relay.kill()
            kafka("start")  # idempotent: the broker is back for everyone else
        expected = {e.event_id: e for _, e in services.deliveries.contract_events()}

    assert commands > 0 and len(expected) == 10_000 + commands
    records = read_topic(bootstrap, topic, timeout=120)
    assert dedupe(records) == expected  # all of it, nothing else
