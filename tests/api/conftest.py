"""The HTTP API under test: the app on the embedded default in a temporary folder (or PostgreSQL).

The repository root goes first on sys.path (as in the other test folders, which have no
`__init__.py`), so that `carecoord`, `services` and `projections` are always the real packages.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from api_support import Api, postgres_settings  # noqa: E402

from carecoord.config import Settings  # noqa: E402


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
