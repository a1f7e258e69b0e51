"""Every service test runs twice (the `settings` fixture of tests/conftest.py): on SQLite (the
embedded default) and on a real PostgreSQL, in a schema of its own."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing

import psycopg
import pytest
from psycopg import sql

from carecoord.config import Settings
from tests.support.postgres import postgres_url


@pytest.fixture
def raw_store(settings: Settings) -> Callable[[str], bytes]:
    """service name -> the raw bytes of its stored events, read from its table without the library."""
    return lambda service: raw_stored_bytes(settings, service)


def raw_stored_bytes(settings: Settings, service: str) -> bytes:
    """Every stored event's raw row (topic and state) of one service, straight from the table."""
    if settings.postgres is None:
        with closing(sqlite3.connect(settings.data_dir / f"{service}.sqlite3")) as conn:
            rows = conn.execute("SELECT topic, state FROM stored_events").fetchall()
        return b"".join(topic.encode() + bytes(state) for topic, state in rows)
    pg = settings.postgres
    url = postgres_url()
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            sql.SQL("SELECT topic, state FROM {}.{}").format(
                sql.Identifier(pg.schema), sql.Identifier(f"{service}_events")
            )
        ).fetchall()
    return b"".join(topic.encode() + bytes(state) for topic, state in rows)
