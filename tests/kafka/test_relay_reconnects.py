"""The relay's PostgreSQL session (the one holding its advisory lock) lost under load: the relay
connects again, takes the lock again and goes on from the recorded position, by itself. Before, it
stopped with status 1 at the first position it could not record (a PostgreSQL restart stopped
every relay: tests/cluster/test_postgres_restart.py found it)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from carecoord.bootstrap import Services
from carecoord.relay import read_position
from carecoord.topics import topic_for
from services.deliveries.domainmodel import Item
from tests.support.postgres import private_schema, settings_for
from tests.support.relay import dedupe, read_topic, relay_env, start_relay
from tests.support.services import open_episode

pytestmark = pytest.mark.kafka


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with private_schema(pg_url) as name:
        yield name


def lock_holder(pg_url: str, lock_name: str) -> int | None:
    """The backend holding the relay's advisory lock (pg_try_advisory_lock(hashtext(name)))."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND ((classid::bigint << 32) | objid::bigint) = hashtext(%s)::bigint",
            (lock_name,),
        ).fetchone()
    return int(row[0]) if row else None


def test_relay_whose_session_is_terminated_takes_the_lock_again_and_loses_nothing(
    pg_url: str, schema: str, bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(pg_url, schema, tmp_path / "var")
    assert settings.postgres is not None
    topic = topic_for("deliveries", topic_prefix)
    lock_name = f"carecoord-relay:{settings.postgres.dbname}:{schema}:deliveries:{topic}"
    log = tmp_path / "relay.log"
    stop_load = threading.Event()
    sent = 0

    with Services.from_config(settings) as services:
        open_episode(services, "ep-1")

        def load() -> None:
            nonlocal sent
            while not stop_load.is_set():
                services.deliveries.complete_delivery(
                    "ep-1", delivery_id=f"d-{sent}", delivered_on=date(2026, 3, 2), days_supply=7,
                    items=[Item("J0475", 4)],
                )  # fmt: skip
                sent += 1
                time.sleep(0.02)

        relay = start_relay(relay_env(pg_url, schema, bootstrap, topic_prefix), "deliveries", log=log)
        loader = threading.Thread(target=load, name="load")
        loader.start()
        try:
            deadline = time.monotonic() + 60
            while (holder := lock_holder(pg_url, lock_name)) is None or read_position(
                settings.postgres, "deliveries", topic
            ) == 0:
                assert relay.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (holder,))
            time.sleep(2)
            stop_load.set()
            loader.join(30)
            last = services.deliveries.max_position()
            deadline = time.monotonic() + 60
            while read_position(settings.postgres, "deliveries", topic) < last:
                assert relay.poll() is None, f"the relay stopped:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            new_holder = lock_holder(pg_url, lock_name)
            assert new_holder is not None and new_holder != holder
            relay.send_signal(signal.SIGTERM)
            assert relay.wait(30) == 0, log.read_text()[-3000:]
        finally:
            stop_load.set()
            loader.join(30)
            if relay.poll() is None:
                relay.kill()
        expected = {e.event_id: e for _, e in services.deliveries.contract_events()}
    assert "lock held again" in log.read_text()
    assert sent > 0 and dedupe(read_topic(bootstrap, topic)) == expected
