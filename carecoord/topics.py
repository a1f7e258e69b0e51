"""carecoord's Kafka topic names, shared by the outbox relay, the projection consumers and the tools.

One topic per service (`carecoord.<service>.v1`, key = episode_id) and one for the dead letters.
`CARECOORD_TOPIC_PREFIX` (default empty) is put in front of every name, so that tests and
benchmarks can run on their own topics beside the real ones on one broker.
"""

from __future__ import annotations

from carecoord.config import topic_prefix
from events import SERVICE_NAMES


def prefix() -> str:
    return topic_prefix()


def topic_for(service: str, topic_prefix: str | None = None) -> str:
    """The topic a service's contract events are published to."""
    return f"{prefix() if topic_prefix is None else topic_prefix}carecoord.{service}.v1"


def service_topics(topic_prefix: str | None = None) -> list[str]:
    return [topic_for(service, topic_prefix) for service in SERVICE_NAMES]


def deadletter_topic(topic_prefix: str | None = None) -> str:
    return f"{prefix() if topic_prefix is None else topic_prefix}carecoord.deadletter.v1"


# The names without a prefix, as deployed.
TOPICS = tuple(service_topics(""))
DEADLETTER_TOPIC = deadletter_topic("")
