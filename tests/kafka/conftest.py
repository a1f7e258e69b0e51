"""Fixtures for the tests against the real Kafka broker and PostgreSQL (marked `kafka`).

They fail, never skip, when CARECOORD_KAFKA_BOOTSTRAP or CARECOORD_TEST_POSTGRES_URL is missing
(`make test` sets both after `make up`). Every test gets its own topics (a unique topic prefix),
its own table prefixes and its own consumer group, so tests never see each other's records.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest

from carecoord.topics import deadletter_topic, service_topics
from projections.readmodels.store import ReadModelStore
from tests.support.kafka import kafka_bootstrap


@pytest.fixture
def bootstrap() -> str:
    return kafka_bootstrap()


@pytest.fixture
def topic_prefix(bootstrap: str) -> Iterator[str]:
    """Fresh service and dead-letter topics (6 partitions each) under a unique prefix."""
    from kafka.admin import KafkaAdminClient, NewTopic

    prefix = f"t{uuid.uuid4().hex[:10]}."
    names = [*service_topics(prefix), deadletter_topic(prefix)]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="carecoord-tests")
    try:
        admin.create_topics([NewTopic(name, 6, 1) for name in names])
        admin.wait_for_topics(names, timeout_ms=30_000)
        yield prefix
    finally:
        with contextlib.suppress(Exception):
            admin.delete_topics(names)
        admin.close()


@pytest.fixture
def make_store(pg_store: Callable[..., ReadModelStore]) -> Callable[[str], ReadModelStore]:
    """Read-model stores whose tables the code under test creates (the consumers do)."""
    return lambda name: pg_store(name, create=False)
