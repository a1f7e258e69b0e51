"""The HTTP API under test: the app on the embedded default in a temporary folder (or PostgreSQL)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from carecoord.config import Settings
from tests.support.api import Api
from tests.support.postgres import postgres_settings


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The API on the embedded default (SQLite) in tmp_path, its lifespan running."""
    with Api.start(Settings.embedded(tmp_path / "var")) as running:
        yield running


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The API on SQLite, then on a real PostgreSQL (a schema of its own, dropped afterwards)."""
    if request.param == "sqlite":
        with Api.start(Settings.embedded(tmp_path / "var")) as running:
            yield running
        return
    with postgres_settings(tmp_path) as settings, Api.start(settings) as running:
        yield running
