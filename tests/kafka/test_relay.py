"""The outbox relay against the real broker and PostgreSQL: complete, at least once, never twice in effect.

Each test has its own PostgreSQL schema (the services' tables and relay_positions) and its own
topics (`topic_prefix`), so tests never see each other's events.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from carecoord.bootstrap import Services
from carecoord.config import Settings
from carecoord.relay import read_position
from carecoord.topics import topic_for
from events import SERVICE_NAMES, Event
from services.deliveries.domainmodel import Item
from tests.support.postgres import private_schema, settings_for
from tests.support.relay import (
    dedupe,
    fill_deliveries,
    read_topic,
    relay_env,
    run_relay,
    start_relay,
    topic_size,
)
from tests.support.services import at, open_episode

pytestmark = pytest.mark.kafka


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with private_schema(pg_url) as name:
        yield name


@pytest.fixture
def settings(pg_url: str, schema: str, tmp_path: Path) -> Settings:
    return settings_for(pg_url, schema, tmp_path / "var")


@pytest.fixture
def env(pg_url: str, schema: str, bootstrap: str, topic_prefix: str) -> dict[str, str]:
    return relay_env(pg_url, schema, bootstrap, topic_prefix)


def stored(settings: Settings, service: str) -> dict[str, Event]:
    with Services.from_config(settings) as services:
        return {e.event_id: e for _, e in services.by_name()[service].contract_events()}


def a_little_of_everything(services: Services) -> None:
    """Events in all six services, through their commands (referrals' are encrypted at rest)."""
    for n in range(1, 4):
        episode = f"ep-{n}"
        open_episode(services, episode)
        services.assessments.complete_assessment(
            episode,
            assessment_id=f"a-{n}",
            kind="initial",
            assessed_on=date(2026, 3, 2),
            eligible=True,
            clinician="RN Ada Byrne",
        )
        services.deliveries.complete_delivery(
            episode, delivery_id="d-1", delivered_on=date(2026, 3, 2), days_supply=7, items=[Item("J0475", 4)]
        )
        services.visits.complete_visit(
            episode,
            visit_id="v-1",
            kind="start_of_care",
            started_at=at("2026-03-02", 9),
            ended_at=at("2026-03-02", 11),
            administered=True,
            nurse="RN Ada Byrne",
        )
        services.complications.hold_therapy(episode, held_from=date(2026, 3, 5), reason="fever")
        line = {"code": "99601", "from": "2026-03-02", "to": "2026-03-02", "units": 1, "authorization": None}
        services.claims.submit_claim(
            episode,
            claim_id=f"CLM-2026-03-{episode}",
            period="2026-03",
            frequency="original",
            submitted_on=date(2026, 4, 1),
            lines=[line],
        )


def test_every_service_relayed_completely_key_episode_and_nothing_more_on_a_second_run(
    settings: Settings, env: dict[str, str], bootstrap: str, topic_prefix: str
) -> None:
    with Services.from_config(settings) as services:
        a_little_of_everything(services)
    result = run_relay(env, "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    sizes = {}
    for service in SERVICE_NAMES:
        records = read_topic(bootstrap, topic_for(service, topic_prefix))
        expected = stored(settings, service)
        assert expected, service
        assert dedupe(records) == expected, service
        assert len(records) == len(expected), f"{service}: a clean run publishes each event once"
        sizes[service] = len(records)
    # Drained: a second run finds nothing after the recorded positions.
    again = run_relay(env, "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert {s: topic_size(bootstrap, topic_for(s, topic_prefix)) for s in SERVICE_NAMES} == sizes


def test_relay_killed_mid_batch_and_restarted_loses_nothing_and_dedupes_to_the_stored_set(
    settings: Settings,
    env: dict[str, str],
    bootstrap: str,
    topic_prefix: str,
    pg_url: str,
    tmp_path: Path,
) -> None:
    with Services.from_config(settings) as services:
        events = fill_deliveries(services.deliveries, episodes=200, deliveries_per_episode=15)
        positions = [p for p, _ in services.deliveries.contract_events()]
    assert events == len(positions) == 6000
    topic = topic_for("deliveries", topic_prefix)
    assert settings.postgres is not None

    def published_beyond_recorded() -> bool:
        recorded = read_position(settings.postgres, "deliveries", topic)  # type: ignore[arg-type]
        covered = sum(1 for p in positions if p <= recorded)
        return recorded > 0 and topic_size(bootstrap, topic) > covered

    # Batches of 500, and a pause between the acknowledgements and recording the position: the
    # kill lands while a batch is in Kafka but not yet recorded.
    relay = start_relay(
        env, "deliveries", "--batch-size", "500", "--pause-before-record", "0.5", log=tmp_path / "relay.log"
    )
    try:
        deadline = time.monotonic() + 60
        while not published_beyond_recorded():
            assert relay.poll() is None, (tmp_path / "relay.log").read_text()
            assert time.monotonic() < deadline, "the relay never published a batch"
            time.sleep(0.02)
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=10)
    finally:
        if relay.poll() is None:
            relay.kill()
    assert relay.returncode == -signal.SIGKILL
    killed_at = read_position(settings.postgres, "deliveries", topic)
    in_kafka = topic_size(bootstrap, topic)
    assert 0 < killed_at < positions[-1]
    assert in_kafka > sum(1 for p in positions if p <= killed_at), "killed between the acks and the record"

    result = run_relay(env, "deliveries", "--once", "--batch-size", "500")
    assert result.returncode == 0, result.stdout + result.stderr
    assert read_position(settings.postgres, "deliveries", topic) == positions[-1]

    records = read_topic(bootstrap, topic)
    kept = dedupe(records)
    assert kept == stored(settings, "deliveries")  # every stored event reached Kafka, nothing else
    assert len(records) > len(kept), "the unrecorded batch was sent again: at least once"
    assert len(records) - len(kept) <= 500, "a crash re-sends at most the batch in hand"
    # Per episode (one partition each), the events keep their stored order apart from the re-sent tail.
    by_episode: dict[str, list[str]] = {}
    for record in records:
        event = kept[dict(record.headers)["event_id"].decode()]
        ids = by_episode.setdefault(event.episode_id, [])
        if event.event_id not in ids:
            ids.append(event.event_id)
    order = {e.event_id: n for n, (_, e) in enumerate(sorted(stored_pairs(settings)))}
    assert all(ids == sorted(ids, key=order.__getitem__) for ids in by_episode.values())


def stored_pairs(settings: Settings) -> list[tuple[int, Event]]:
    with Services.from_config(settings) as services:
        return services.deliveries.contract_events()


def test_the_same_events_published_twice_dedupe_to_exactly_the_stored_set(
    settings: Settings, env: dict[str, str], bootstrap: str, topic_prefix: str, pg_url: str, schema: str
) -> None:
    with Services.from_config(settings) as services:
        a_little_of_everything(services)
        fill_deliveries(services.deliveries, episodes=20, deliveries_per_episode=10)
    first = run_relay(env, "--once", "--batch-size", "100")
    assert first.returncode == 0, first.stdout + first.stderr
    # The recorded positions lost (a restored backup, an operator's mistake): everything goes again.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("UPDATE {} SET position = 0").format(sql.Identifier(schema, "relay_positions")))
    second = run_relay(env, "--once", "--batch-size", "100")
    assert second.returncode == 0, second.stdout + second.stderr
    for service in SERVICE_NAMES:
        records = read_topic(bootstrap, topic_for(service, topic_prefix))
        expected = stored(settings, service)
        assert len(records) == 2 * len(expected), service
        # A downstream reader that drops what it has seen by event_id counts each event once.
        assert dedupe(records) == expected, service


def test_a_second_relay_of_the_same_service_refuses_and_sigterm_stops_the_first_cleanly(
    settings: Settings, env: dict[str, str], bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    with Services.from_config(settings) as services:
        open_episode(services, "ep-1")
    log = tmp_path / "first.log"
    first = start_relay(env, "referrals", "deliveries", log=log)
    try:
        topic = topic_for("referrals", topic_prefix)
        deadline = time.monotonic() + 60
        while topic_size(bootstrap, topic) < 2:  # ReferralReceived, ReferralAccepted
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        second = run_relay(env, "deliveries", "--once")
        assert second.returncode == 3, second.stdout + second.stderr
        assert "relay for deliveries already running" in second.stdout
        # Other services are not blocked by it.
        third = run_relay(env, "visits", "--once")
        assert third.returncode == 0, third.stdout + third.stderr
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0, log.read_text()
    finally:
        if first.poll() is None:
            first.kill()
    # The lock went with the process: now the second one runs.
    assert run_relay(env, "deliveries", "--once").returncode == 0


def test_the_relay_refuses_without_postgresql(env: dict[str, str]) -> None:
    no_postgres = {k: v for k, v in env.items() if k != "CARECOORD_POSTGRES_URL"}
    result = run_relay(no_postgres, "--once")
    assert result.returncode == 2
    assert "CARECOORD_POSTGRES_URL" in result.stdout and "CARECOORD_KAFKA_BOOTSTRAP" in result.stdout
