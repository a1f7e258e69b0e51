"""A projection member frozen in the middle of a batch (SIGSTOP, a paused VM) holds its partitions'
position rows locked in PostgreSQL. The group gives the partitions to another member after
session.timeout.ms, but that member would wait on those rows for as long as the frozen one stays
frozen (tests/cluster/test_frozen_consumer.py found it). A member's session now ends after
`idle_in_transaction_timeout_ms` idle inside a transaction: the other member goes on, and the
frozen one's transaction fails (nothing half-written) when it wakes up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from projections.kafka.app import ConsumerSettings
from projections.kafka.subscriber import member_store
from projections.readmodels.postgres import PostgresReadModelStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(pg_url: str) -> Iterator[ConsumerSettings]:
    found = ConsumerSettings(
        bootstrap="127.0.0.1:1",
        postgres_url=pg_url,
        topics=[],
        deadletter_topic="unused",
        prefix=f"idle{uuid.uuid4().hex[:8]}_",
        idle_in_transaction_timeout_ms=500,
    )
    yield found
    cleanup = PostgresReadModelStore(pg_url, found.prefix)
    cleanup.drop_tables()
    cleanup.close()


def test_a_member_idle_inside_its_transaction_lets_go_of_its_positions(settings: ConsumerSettings) -> None:
    frozen, other = member_store(settings), member_store(settings)
    try:
        frozen.create_tables()
        with frozen.transaction() as cursor:
            frozen.save_position(cursor, "kafka", "t:0", 5)
        with pytest.raises(psycopg.Error, match="idle-in-transaction"), frozen.transaction() as cursor:
            assert frozen.positions_for_update(cursor, "kafka", ["t:0"]) == {"t:0": 5}
            # Frozen here. The member the partition went to waits for the row, until PostgreSQL
            # ends the frozen one's idle session.
            started = time.monotonic()
            with other.transaction() as theirs:
                assert other.positions_for_update(theirs, "kafka", ["t:0"]) == {"t:0": 5}
                other.save_position(theirs, "kafka", "t:0", 9)
            waited = time.monotonic() - started
            cursor.execute("SELECT 1")  # the frozen one wakes up: its session is gone
        assert 0.3 < waited < 10, waited
        assert frozen.positions("kafka") == {"t:0": 9}  # a new session, and the other's write stands
    finally:
        frozen.close()
        other.close()
