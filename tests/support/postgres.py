"""The real PostgreSQL the tests run against: its URL, and a private schema per test.

Tests that need it fail, never skip, when `CARECOORD_TEST_POSTGRES_URL` is missing (`make test`
sets it after starting the server). This is the one place that reads it; fixtures in
tests/conftest.py hand it on.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from eventsourcing.cipher import AESCipher
from psycopg import sql

from carecoord.config import PostgresSettings, Settings

TEST_URL_ENV = "CARECOORD_TEST_POSTGRES_URL"
# One key for every test's encrypted referrals store (a key per schema would change nothing).
TEST_CIPHER_KEY = AESCipher.create_key(32)


def postgres_url() -> str:
    url = os.environ.get(TEST_URL_ENV)
    if not url:
        pytest.fail(
            f"{TEST_URL_ENV} is not set: these tests need a running PostgreSQL "
            "(`make test` starts one; or deselect them with -m 'not postgres and not kafka')",
            pytrace=False,
        )
    return url


@contextmanager
def private_schema(url: str | None = None, tag: str = "test") -> Iterator[str]:
    """A fresh schema of its own, dropped with everything in it afterwards."""
    url = url or postgres_url()
    schema = f"{tag}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def settings_for(
    url: str, schema: str, data_dir: Path, bootstrap: str | None = None, pool_size: int = 2
) -> Settings:
    """Settings for every store in `schema` of the test server."""
    return Settings(
        data_dir=data_dir,
        postgres=PostgresSettings.from_url(url, schema=schema, pool_size=pool_size),
        cipher_key=TEST_CIPHER_KEY,
        kafka_bootstrap=bootstrap,
    )


@contextmanager
def postgres_settings(tmp_path: Path, tag: str = "test", pool_size: int = 2) -> Iterator[Settings]:
    """Settings on a private schema of the test server, dropped afterwards."""
    url = postgres_url()
    with private_schema(url, tag) as schema:
        yield settings_for(url, schema, tmp_path / "var", pool_size=pool_size)
