"""carecoord's Kafka topics, their names and their settings: the one place the relay, the projection
consumers, deploy/topics.py (local and production) and the tests take them from.

One topic per service (`carecoord.<service>.v1`, key = episode_id) and one for the dead letters.
`CARECOORD_TOPIC_PREFIX` (default empty) is put in front of every name, so that tests and
benchmarks can run on their own topics beside the real ones on one broker.
"""

from __future__ import annotations

from typing import Any

from carecoord.config import topic_prefix
from events import SERVICE_NAMES

# Events are keyed by episode_id: an episode's events stay in one partition, in order. Every service
# topic has the same count, so partition n of each holds the same episodes (the consumers rely on it).
DEFAULT_PARTITIONS = 6
# Events are the system of record and replays read the topics from offset zero: never delete them.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
# A scratch topic for readiness probes (deploy/topics.py's round trip); an hour is plenty.
HEALTHCHECK_TOPIC = "carecoord.healthcheck"
HEALTHCHECK_CONFIG = {"retention.ms": "3600000"}
TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code


def prefix() -> str:
    return topic_prefix()


def topic_for(service: str, topic_prefix: str | None = None) -> str:
    """The topic a service's contract events are published to."""
    return f"{prefix() if topic_prefix is None else topic_prefix}carecoord.{service}.v1"


def service_topics(topic_prefix: str | None = None) -> list[str]:
    return [topic_for(service, topic_prefix) for service in SERVICE_NAMES]


def deadletter_topic(topic_prefix: str | None = None) -> str:
    return f"{prefix() if topic_prefix is None else topic_prefix}carecoord.deadletter.v1"


def topic_spec(
    replication_factor: int, partitions: int = DEFAULT_PARTITIONS, min_insync_replicas: int | None = None
) -> dict[str, Any]:
    """What `create_topics` needs for one of carecoord's topics (service or dead letters)."""
    configs = dict(KEEP_FOREVER)
    if min_insync_replicas is not None:
        configs["min.insync.replicas"] = str(min_insync_replicas)
    return {"num_partitions": partitions, "replication_factor": replication_factor, "configs": configs}


def deployed_topics(
    replication_factor: int,
    partitions: int = DEFAULT_PARTITIONS,
    min_insync_replicas: int | None = None,
    topic_prefix: str = "",
) -> dict[str, dict[str, Any]]:
    """Every topic a deployment has, keyed by name, as `create_topics` takes them."""
    spec = topic_spec(replication_factor, partitions, min_insync_replicas)
    topics = {name: dict(spec) for name in [*service_topics(topic_prefix), deadletter_topic(topic_prefix)]}
    topics[HEALTHCHECK_TOPIC] = {
        "num_partitions": 1,
        "replication_factor": replication_factor,
        "configs": dict(HEALTHCHECK_CONFIG),
    }
    return topics


# The names without a prefix, as deployed.
TOPICS = tuple(service_topics(""))
DEADLETTER_TOPIC = deadletter_topic("")
