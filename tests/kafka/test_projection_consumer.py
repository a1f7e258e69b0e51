"""`carecoord project` against the real broker and PostgreSQL: duplicates, poison, crash, audit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from datetime import date

import pytest

from carecoord.topics import deadletter_topic, service_topics
from projections.kafka.batch import CONSUMER
from projections.kafka.offset_zero import rebuild_from_offset_zero
from projections.readmodels.tables import TABLES
from tests.support.examples import example_events
from tests.support.kafka import (
    ROOT,
    generated_events,
    project_command,
    publish,
    reference,
    run_project,
    wait_for,
)

pytestmark = pytest.mark.kafka

THROUGH = date(2026, 4, 30)


def group() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def read_models(dump: dict) -> dict:  # type: ignore[type-arg]
    return {table: rows for table, rows in dump.items() if table != "dead_letters"}


def test_the_same_events_published_twice_count_once(bootstrap, pg_url, topic_prefix, make_store) -> None:  # type: ignore[no-untyped-def]
    events = example_events()
    publish(bootstrap, topic_prefix, events)
    publish(bootstrap, topic_prefix, events)  # every event a second time, at later offsets
    live = make_store("live")
    run_project(pg_url, bootstrap, live.prefix, topic_prefix, group(), THROUGH)
    expected = reference(make_store("ref"), events, THROUGH)
    assert live.dump() == expected.dump()
    with live.transaction() as cursor:
        cursor.execute("SELECT count(*) FROM {p}events")
        assert cursor.fetchall()[0][0] == len({e.event_id for e in events})


POISON = [
    ("deliveries", b"ep-basic", b"{not json"),
    ("visits", b"ep-basic", b'{"event_type": "VisitTeleported", "event_id": "poison-2"}'),
    (
        "deliveries",
        b"ep-basic",
        json.dumps(
            {
                "event_id": "poison-3",
                "event_type": "DeliveryCompleted",
                "schema_version": 1,
                "source": "deliveries",
                "episode_id": "ep-basic",
                "occurred_at": "2026-03-02T14:05:00-05:00",
                "recorded_at": "2026-03-02T19:07:12+00:00",
                "data": {
                    "delivery_id": "d-x",
                    "delivered_on": "2026-03-02",
                    "days_supply": "seven",
                    "items": [],
                },
            }
        ).encode(),
    ),
]


def test_a_poison_message_goes_to_the_dead_letters_and_the_events_after_it_are_processed(  # type: ignore[no-untyped-def]
    bootstrap, pg_url, topic_prefix, make_store
) -> None:
    from kafka import KafkaConsumer

    events = example_events()
    half = len(events) // 2
    publish(bootstrap, topic_prefix, events[:half])
    publish(bootstrap, topic_prefix, POISON)
    publish(bootstrap, topic_prefix, events[half:])  # after the poison, in the same partitions
    live = make_store("live")
    run_project(pg_url, bootstrap, live.prefix, topic_prefix, group(), THROUGH)

    dump = live.dump()
    assert read_models(dump) == read_models(reference(make_store("ref"), events, THROUGH).dump())
    letters = {(row[3] and row[2]) or row[4]: row for row in dump["dead_letters"]}
    assert len(dump["dead_letters"]) == 3, dump["dead_letters"]
    by_payload = {row[4]: row for row in dump["dead_letters"]}
    assert by_payload["{not json"][3].startswith("bad json")
    assert by_payload["{not json"][0].startswith(f"{topic_prefix}carecoord.deliveries.v1:")
    bad_type = by_payload[POISON[1][2].decode()]
    assert bad_type[2] == "poison-2"
    assert "VisitTeleported" in bad_type[3]
    mistyped = by_payload[POISON[2][2].decode()]
    assert mistyped[2] == "poison-3" and "days_supply" in mistyped[3]
    assert letters

    consumer = KafkaConsumer(
        deadletter_topic(topic_prefix),
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    try:
        records = []
        for record in consumer:
            records.append(record)
            if len(records) == 3:
                break
    finally:
        consumer.close()
    published = {r.value: dict((k, v.decode()) for k, v in r.headers) for r in records}
    assert set(published) == {value for _, _, value in POISON}
    assert published[POISON[2][2]]["carecoord-event-id"] == "poison-3"
    assert "days_supply" in published[POISON[2][2]]["carecoord-error"]
    assert all(h["carecoord-source-topic"] in service_topics(topic_prefix) for h in published.values())


def test_a_consumer_killed_mid_stream_and_restarted_equals_a_clean_rebuild(  # type: ignore[no-untyped-def]
    bootstrap, pg_url, topic_prefix, make_store
) -> None:
    import asyncio

    events = generated_events(30_000, 600)
    total = publish(bootstrap, topic_prefix, events)
    live = make_store("live")
    live.create_tables()
    gid = group()
    through = date(2026, 12, 31)
    # Every batch deferred (its episodes pending) until nothing waits: killed, the pending episodes
    # must survive, and the restarted consumer must recompute them.
    command = project_command(
        pg_url,
        bootstrap,
        live.prefix,
        topic_prefix,
        gid,
        through,
        "--max-records",
        "500",
        "--defer-above",
        "0",
    )
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ
    )
    try:
        # Kill it once some batches are in, well before the end: mid-stream, likely mid-batch.
        wait_for(lambda: sum(live.positions(CONSUMER).values()) > total // 10, 120, "first batches")
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    done = sum(live.positions(CONSUMER).values())
    assert 0 < done < total, f"killed at {done} of {total}: not mid-stream"
    assert live.pending(), "killed with no episode pending: the restart has nothing to recover"

    run_project(pg_url, bootstrap, live.prefix, topic_prefix, gid, through)
    assert sum(live.positions(CONSUMER).values()) == total
    assert not live.pending()

    rebuilt = make_store("rebuilt")
    asyncio.run(rebuild_from_offset_zero(rebuilt, bootstrap, service_topics(topic_prefix), through))
    assert live.dump() == rebuilt.dump()
    assert live.positions(CONSUMER) == rebuilt.positions(CONSUMER)
    assert live.dump() == reference(make_store("ref"), events, through).dump()


def carecoord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.sys.executable, "-m", "carecoord.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_verify_finds_a_tampered_episode_and_rebuild_repairs_it(
    bootstrap, pg_url, topic_prefix, make_store
) -> None:  # type: ignore[no-untyped-def]
    events = example_events()
    publish(bootstrap, topic_prefix, events)
    publish(bootstrap, topic_prefix, POISON[:1])
    live = make_store("live")
    run_project(pg_url, bootstrap, live.prefix, topic_prefix, group(), THROUGH)
    common = [
        "--postgres-url",
        pg_url,
        "--bootstrap",
        bootstrap,
        "--prefix",
        live.prefix,
        "--topic-prefix",
        topic_prefix,
    ]
    common += ["--through", THROUGH.isoformat()]
    before = live.dump()

    result = carecoord("verify", *common)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every episode equals its rebuild" in result.stdout

    with live.transaction() as cursor:
        cursor.execute(
            "UPDATE {p}episodes SET digest = 'tampered', billable_days = 999 WHERE episode_id = 'ep-basic'"
        )
    result = carecoord("verify", *common)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISMATCH ep-basic  live tampered  rebuilt " in result.stdout
    assert result.stdout.count("MISMATCH") == 1

    result = carecoord("rebuild", *common)
    assert result.returncode == 0, result.stdout + result.stderr
    assert live.dump() == before
    assert carecoord("verify", *common).returncode == 0
    with live.transaction() as cursor:  # no scratch or old tables left behind
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE ?",
            (f"{live.prefix.rstrip('_')}\\_%",),
        )
        assert cursor.fetchall()[0][0] == len(TABLES)
