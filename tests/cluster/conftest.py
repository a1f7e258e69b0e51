"""Fixtures of the fault tests: the local three-node cluster, and their figures in the closing summary.

They fail, never skip, without the cluster (CARECOORD_TEST_KAFKA_CLUSTER) and, for the PostgreSQL
restart, the restartable PostgreSQL (CARECOORD_TEST_FAULT_POSTGRES_*): see tests/support/cluster.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import Cluster, Figures

FIGURES: list[Figures] = []


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """The cluster, all three nodes running again (and in sync) after the test, whatever it did."""
    found = Cluster.from_env()
    try:
        yield found
    finally:
        found.start()  # idempotent: starts only the nodes a test left stopped


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    recorded = Figures(request.node.name)
    yield recorded
    if recorded.sent or recorded.stored:
        FIGURES.append(recorded)
        print(f"\nFIGURES {recorded.line()}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault tests on the three-node cluster: figures")
        for recorded in FIGURES:
            terminalreporter.write_line(recorded.line())
