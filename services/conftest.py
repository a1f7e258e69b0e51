"""Every service test runs twice: on SQLite (the embedded default) and on a real PostgreSQL.

PostgreSQL tests are marked `postgres`; they fail, never skip, when CARECOORD_TEST_POSTGRES_URL is
not set or the server does not answer. Each test gets its own PostgreSQL schema, dropped afterwards,
so runs never see each other's events.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.cipher import AESCipher
from psycopg import sql

from carecoord.config import PostgresSettings, Settings
from services.registry import Services

TEST_URL_ENV = "CARECOORD_TEST_POSTGRES_URL"
TEST_CIPHER_KEY = AESCipher.create_key(32)


def postgres_url() -> str:
    url = os.environ.get(TEST_URL_ENV)
    if not url:
        pytest.fail(
            f"{TEST_URL_ENV} is not set: the tests marked 'postgres' need a running PostgreSQL "
            "(start one with `deploy/postgres.sh start` and run `make test`, or deselect them with "
            "-m 'not postgres')",
            pytrace=False,
        )
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings.embedded(tmp_path / "var")
        return
    url = postgres_url()
    schema = f"test_{uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield Settings(
            data_dir=tmp_path / "var",
            postgres=PostgresSettings.from_url(url, schema=schema, pool_size=1),
            cipher_key=TEST_CIPHER_KEY,
        )
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    with Services.from_config(settings) as built:
        yield built


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
