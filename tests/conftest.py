"""Fixtures shared by every test folder. Servers are real (`make test` starts them); a test that
needs one and does not find it fails, never skips."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from carecoord.bootstrap import Services
from carecoord.config import Settings
from projections.readmodels.postgres import PostgresReadModelStore
from projections.readmodels.store import ReadModelStore
from tests.support.postgres import postgres_settings
from tests.support.postgres import postgres_url as _postgres_url


@pytest.fixture
def pg_url() -> str:
    """The URL of the test PostgreSQL server."""
    return _postgres_url()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Callable[..., ReadModelStore]]:
    """Makes PostgreSQL read-model stores under one fresh table prefix per test (`create=False`:
    leave creating the tables to the code under test); drops their tables afterwards."""
    tag = uuid.uuid4().hex[:8]
    created: list[ReadModelStore] = []

    def make(name: str, create: bool = True) -> ReadModelStore:
        store = PostgresReadModelStore(pg_url, f"p{tag}_{name}_")
        if create:
            store.create_tables()
        created.append(store)
        return store

    yield make
    for store in created:
        store.drop_tables()
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The embedded default (SQLite) in tmp_path, then a private schema of the test PostgreSQL."""
    if request.param == "sqlite":
        yield Settings.embedded(tmp_path / "var")
        return
    with postgres_settings(tmp_path, pool_size=1) as settings:
        yield settings


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    with Services.from_config(settings) as built:
        yield built
