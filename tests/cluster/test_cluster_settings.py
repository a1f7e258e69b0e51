"""One place for the cluster's settings: deploy/kafka/cluster.env. The production compose file reads
it (`env_file`), deploy/kafka.sh renders it into each local node's server.properties, carecoord reads
its CARECOORD_* lines for the topics; these tests check that all of them say the same, and (marked
`cluster`) that the running local cluster and the topics deploy/topics.py makes on it do too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from carecoord import config
from carecoord.topics import TOPICS

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_ENV = ROOT / "deploy" / "kafka" / "cluster.env"
COMPOSE = ROOT / "deploy" / "production" / "compose.yaml"

# What production needs, whatever the file says: the file must say at least this.
REQUIRED = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
    "unclean.leader.election.enable": "false",
    "auto.create.topics.enable": "false",
}

pytestmark = pytest.mark.filterwarnings(r"ignore:.*is deprecated\. Use files\(\) instead:DeprecationWarning")


def env_file(path: Path) -> dict[str, str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def as_property(name: str) -> str:
    """KAFKA_X_Y -> x.y, as the apache/kafka image does (`___` -> `-`, `__` -> `_`)."""
    key = name.removeprefix("KAFKA_").lower()
    return key.replace("___", "-").replace("__", "\0").replace("_", ".").replace("\0", "_")


def kafka_properties() -> dict[str, str]:
    return {as_property(k): v for k, v in env_file(CLUSTER_ENV).items() if k.startswith("KAFKA_")}


def rendered(node: int) -> dict[str, str]:
    result = subprocess.run(
        [str(ROOT / "deploy" / "kafka.sh"), "--brokers", "3", "render", str(node)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    properties: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert key not in properties, f"node {node}: {key} set twice"
            properties[key] = value
    return properties


def test_cluster_env_says_what_production_needs() -> None:
    properties = kafka_properties()
    assert {k: properties.get(k) for k in REQUIRED} == REQUIRED
    carecoord = {k: v for k, v in env_file(CLUSTER_ENV).items() if k.startswith("CARECOORD_")}
    # carecoord's topics take the brokers' factor and min ISR.
    assert config.replication_factor(carecoord) == int(properties["default.replication.factor"])
    assert config.min_insync_replicas(carecoord) == int(properties["min.insync.replicas"])
    assert config.partitions(carecoord) == int(properties["num.partitions"])


def test_every_local_node_renders_the_cluster_env_and_its_own_topology() -> None:
    properties = kafka_properties()
    for node in (1, 2, 3):
        found = rendered(node)
        assert {k: found.get(k) for k in properties} == properties, f"node {node}"
        assert found["node.id"] == str(node)
        assert found["process.roles"] == "broker,controller"
        assert found["controller.quorum.voters"] == "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
        assert found["listeners"].startswith(f"PLAINTEXT://127.0.0.1:{19090 + 2 * node}")


def test_the_compose_file_reads_the_cluster_env_and_overrides_none_of_it() -> None:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    keys = set(env_file(CLUSTER_ENV))
    readers = [name for name in services if name.startswith("kafka-")] + [
        name for name, service in services.items() if str(service.get("image", "")).startswith("carecoord")
    ]
    assert len([r for r in readers if r.startswith("kafka-")]) == 3
    for name in readers:
        service = services[name]
        assert "../kafka/cluster.env" in service.get("env_file", []), f"{name} does not read cluster.env"
        overridden = keys & set(service.get("environment", {}))
        assert not overridden, f"{name} sets {overridden} itself: cluster.env is the one place"
    assert (COMPOSE.parent / "../kafka/cluster.env").resolve() == CLUSTER_ENV


def test_deploy_kafka_sh_env_hands_the_cluster_settings_to_deploy_topics() -> None:
    result = subprocess.run(
        [str(ROOT / "deploy" / "kafka.sh"), "--brokers", "3", "env"],
        capture_output=True,
        text=True,
        check=True,
    )
    handed = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert handed["CARECOORD_KAFKA_BOOTSTRAP"] == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    assert handed["CARECOORD_REPLICATION_FACTOR"] == "3" and handed["CARECOORD_MIN_INSYNC_REPLICAS"] == "2"


@pytest.mark.cluster
def test_the_running_cluster_and_its_topics_have_the_settings() -> None:
    from kafka.admin import ConfigResource, ConfigResourceType

    from tests.support.cluster import Cluster

    cluster = Cluster.from_env()
    # deploy/topics.py as `make up BROKERS=3` runs it: the settings from `deploy/kafka.sh env`.
    handed = dict(line.split("=", 1) for line in cluster.script("env").stdout.splitlines())
    env = {**os.environ, **handed, "CARECOORD_KAFKA_BOOTSTRAP": cluster.bootstrap}
    result = subprocess.run(
        [sys.executable, "deploy/topics.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr

    admin = cluster.admin()
    try:
        brokers = admin.describe_cluster()["brokers"]
        assert len(brokers) == 3
        for broker in brokers:
            resource = ConfigResource(
                ConfigResourceType.BROKER, str(broker["broker_id"]), configs=dict.fromkeys(REQUIRED)
            )
            found = admin.describe_configs([resource], config_filter="all")["broker"][
                str(broker["broker_id"])
            ]
            assert {k: found[k]["value"] for k in REQUIRED} == REQUIRED, f"broker {broker['node_id']}"
        for topic in admin.describe_topics(list(TOPICS)):
            assert {len(p["replica_nodes"]) for p in topic["partitions"]} == {3}, topic["name"]
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, name, configs={"min.insync.replicas": None})
            for name in TOPICS
        ]
        configs = admin.describe_configs(resources, config_filter="all")["topic"]
        assert {name: configs[name]["min.insync.replicas"]["value"] for name in TOPICS} == dict.fromkeys(
            TOPICS, "2"
        )
        # Kafka's own topics: consumer offsets (made at the first group join: the fault tests').
        internal = admin.describe_topics(["__consumer_offsets"])
        if internal and internal[0]["error_code"] == 0:
            assert {len(p["replica_nodes"]) for p in internal[0]["partitions"]} == {3}
    finally:
        admin.close()
