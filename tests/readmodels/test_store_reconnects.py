"""A read-model store whose PostgreSQL session was lost (the server restarted, the session was
terminated) opens a new one for its next transaction: the one in flight fails, the next works.
Before, the store kept its closed connection, and a projection consumer failed every batch for ever
after a PostgreSQL restart (tests/cluster/test_postgres_restart.py found it)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from projections.readmodels.store import ReadModelStore

pytestmark = pytest.mark.postgres


def backend_pid(store: ReadModelStore) -> int:
    with store.transaction() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchall()[0][0])


def test_a_lost_session_is_replaced_at_the_next_transaction(
    pg_url: str, pg_store: Callable[..., ReadModelStore]
) -> None:
    store = pg_store("reconnect")
    first = backend_pid(store)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    with pytest.raises(psycopg.OperationalError):
        backend_pid(store)  # the transaction in flight when the session went
    second = backend_pid(store)
    assert second != first
    with store.transaction() as cursor:
        cursor.execute("SELECT count(*) FROM {p}events")
        assert cursor.fetchall()[0][0] == 0
