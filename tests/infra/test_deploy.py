"""The local infrastructure that `make up` starts: a real Kafka broker with carecoord's topics, and
PostgreSQL. These tests fail, never skip, when a service is missing: a test run that silently skipped
its broker would prove nothing.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path
from types import ModuleType

import pytest

from carecoord import config

REPO_ROOT = Path(__file__).resolve().parents[2]

# kafka-python 3.0 loads its protocol schemas with a deprecated importlib.resources call: library
# noise, hundreds of lines of it, nothing this project can act on.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*is deprecated\. Use files\(\) instead:DeprecationWarning")


def _deploy_topics() -> ModuleType:
    # deploy/topics.py is the single list of topics; it is a script, not a package module.
    spec = importlib.util.spec_from_file_location(
        "carecoord_deploy_topics", REPO_ROOT / "deploy" / "topics.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: start the services with `make up` and run the tests with `make test`"
        )
    return value


def _kafka_bootstrap() -> str:
    """The bootstrap address, after a plain TCP connect to it: without a broker the Kafka clients
    would retry for 30 s or more before giving up with a less helpful message."""
    bootstrap = _required_env("CARECOORD_KAFKA_BOOTSTRAP")
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        pytest.fail(f"no Kafka broker answers at CARECOORD_KAFKA_BOOTSTRAP={bootstrap}: {error}")
    return bootstrap


@pytest.mark.kafka
def test_broker_has_the_topics_with_configured_partitions_kept_forever() -> None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    topics = _deploy_topics()
    admin = KafkaAdminClient(bootstrap_servers=_kafka_bootstrap(), client_id="carecoord-infra-test")
    try:
        assert admin.describe_cluster()["brokers"], "the cluster reports no brokers"
        expected_partitions = config.partitions()
        described = {t["name"]: t for t in admin.describe_topics(list(topics.TOPICS))}
        for name in topics.TOPICS:
            assert described.get(name, {}).get("error_code") == 0, f"topic {name} is missing"
            assert len(described[name]["partitions"]) == expected_partitions, name
        resources = [
            ConfigResource(
                ConfigResourceType.TOPIC, name, configs={"retention.ms": None, "retention.bytes": None}
            )
            for name in topics.TOPICS
        ]
        configs = admin.describe_configs(resources, config_filter="all")["topic"]
        for name in topics.TOPICS:
            assert configs[name]["retention.ms"]["value"] == "-1", f"{name} would delete old events"
            assert configs[name]["retention.bytes"]["value"] == "-1", f"{name} would delete old events"
    finally:
        admin.close()


@pytest.mark.kafka
def test_broker_round_trip() -> None:
    assert _deploy_topics().round_trip(_kafka_bootstrap(), timeout_s=20) < 20


@pytest.mark.postgres
def test_postgres_answers() -> None:
    import psycopg

    url = _required_env("CARECOORD_TEST_POSTGRES_URL")
    try:
        connection = psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL does not answer at CARECOORD_TEST_POSTGRES_URL={url}: {error}")
    with connection:
        # A write, not only a SELECT 1: the role must be able to create the event stores' tables.
        connection.execute("CREATE TEMPORARY TABLE infra_probe (n integer)")
        connection.execute("INSERT INTO infra_probe VALUES (1)")
        row = connection.execute("SELECT sum(n), current_database() FROM infra_probe").fetchone()
    assert row is not None and row[0] == 1
