"""Make the repository root importable first, so `projections` is always the real package.

These test folders have no `__init__.py` (a `tests/projections` package would shadow the real
`projections`); pytest puts `tests/` on `sys.path`, where `tests/projections` could otherwise be
taken for a namespace package of that name.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


import os  # noqa: E402  (after the sys.path fix above)
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import pytest  # noqa: E402

from projections.store import ReadModelStore  # noqa: E402


@pytest.fixture
def pg_store() -> Iterator[Callable[[str], ReadModelStore]]:
    """Makes PostgreSQL read-model stores with their tables, under one fresh tag; drops them after."""
    url = os.environ.get("CARECOORD_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("CARECOORD_TEST_POSTGRES_URL is not set: start PostgreSQL with `make up`")
    tag = uuid.uuid4().hex[:8]
    created: list[ReadModelStore] = []

    def make(name: str) -> ReadModelStore:
        store = ReadModelStore.postgres(url, f"p{tag}_{name}_")
        store.create_tables()
        created.append(store)
        return store

    yield make
    for store in created:
        store.drop_tables()
        store.close()
