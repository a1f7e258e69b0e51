#!/usr/bin/env python3
"""Create carecoord's Kafka topics and prove the broker works with one produce/consume round trip.

Run by `make up` after deploy/kafka.sh start; in production by a one-shot job (deploy/production).
Idempotent: topics that already exist are kept (their retention is set again if it drifted).

Environment (read through carecoord/config.py; names and settings come from carecoord/topics.py, the
one place the relay and the consumers take them from too):
  CARECOORD_KAFKA_BOOTSTRAP      default 127.0.0.1:${CARECOORD_KAFKA_PORT:-9092}
  CARECOORD_PARTITIONS           partitions per topic, default 6 (events are keyed by episode_id)
  CARECOORD_REPLICATION_FACTOR   default 1 (a single local broker); 3 in production
  CARECOORD_MIN_INSYNC_REPLICAS  optional per-topic min.insync.replicas (2 in production)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.consumer import KafkaConsumer
from kafka.producer import KafkaProducer
from kafka.structs import TopicPartition

from carecoord import config
from carecoord.topics import DEADLETTER_TOPIC, HEALTHCHECK_TOPIC, TOPIC_ALREADY_EXISTS, deployed_topics
from carecoord.topics import TOPICS as SERVICE_TOPICS

TOPICS = (*SERVICE_TOPICS, DEADLETTER_TOPIC)


def bootstrap_from_env() -> str:
    default = f"127.0.0.1:{os.environ.get('CARECOORD_KAFKA_PORT', '9092')}"
    return config.kafka_bootstrap(default=default) or default


def ensure_topics(admin: KafkaAdminClient, spec: dict[str, dict[str, Any]]) -> None:
    response = admin.create_topics(spec, raise_errors=False)
    existing = []
    for topic in response["topics"]:
        if topic["error_code"] == 0:
            print(f"created {topic['name']} (partitions: {spec[topic['name']]['num_partitions']})")
        elif topic["error_code"] == TOPIC_ALREADY_EXISTS:
            existing.append(topic["name"])
        else:
            raise RuntimeError(f"creating {topic['name']} failed: {topic['error_message']}")
    admin.wait_for_topics(list(spec), timeout_ms=30_000)
    if existing:
        converge_existing(admin, existing, spec)


def converge_existing(admin: KafkaAdminClient, names: list[str], spec: dict[str, dict[str, Any]]) -> None:
    """Topics created earlier (maybe by hand, maybe by an older version): check and repair them."""
    described = {t["name"]: t for t in admin.describe_topics(names)}
    for name in names:
        have = len(described[name]["partitions"])
        want = spec[name]["num_partitions"]
        if have < want:
            # Not repaired automatically: adding partitions moves episode keys to other partitions,
            # which breaks per-episode ordering for consumers mid-stream. An operator decides.
            print(
                f"WARNING: {name} has {have} partitions, {want} configured; not changed "
                f"(adding partitions re-maps episode keys; see deploy/SCALING.md)",
                file=sys.stderr,
            )
        resource = ConfigResource(
            ConfigResourceType.TOPIC, name, configs=dict.fromkeys(spec[name]["configs"])
        )
        current = admin.describe_configs([resource], config_filter="all")["topic"][name]
        drift = {
            key: value
            for key, value in spec[name]["configs"].items()
            if current.get(key, {}).get("value") != value
        }
        if drift:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=drift)])
            print(f"updated {name}: {drift}")
        else:
            print(f"exists  {name} (partitions: {have})")


def round_trip(bootstrap: str, timeout_s: float = 30.0) -> float:
    """Produce one record to the scratch topic and read it back. Returns the seconds it took."""
    started = time.monotonic()
    marker = uuid.uuid4().hex.encode()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        client_id="carecoord-topics",
        # Without a broker, send() would block for the default 60 s waiting for metadata.
        max_block_ms=int(timeout_s * 1000),
    )
    try:
        metadata = producer.send(HEALTHCHECK_TOPIC, key=b"healthcheck", value=marker).get(timeout=timeout_s)
    finally:
        producer.close()
    partition = TopicPartition(HEALTHCHECK_TOPIC, metadata.partition)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="carecoord-topics"
    )
    try:
        consumer.assign([partition])
        consumer.seek(partition, metadata.offset)
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                if any(record.value == marker for record in records):
                    return time.monotonic() - started
    finally:
        consumer.close()
    raise TimeoutError(
        f"the record produced to {HEALTHCHECK_TOPIC} at offset {metadata.offset} "
        f"was not read back within {timeout_s:.0f}s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default=bootstrap_from_env())
    parser.add_argument("--partitions", type=int, default=config.partitions())
    parser.add_argument("--replication-factor", type=int, default=config.replication_factor())
    parser.add_argument("--skip-round-trip", action="store_true", help="only create the topics")
    args = parser.parse_args(argv)

    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap, client_id="carecoord-topics")
    try:
        spec = deployed_topics(args.replication_factor, args.partitions, config.min_insync_replicas())
        ensure_topics(admin, spec)
    finally:
        admin.close()
    if not args.skip_round_trip:
        seconds = round_trip(args.bootstrap)
        print(f"round trip through {HEALTHCHECK_TOPIC} OK ({seconds:.2f}s) at {args.bootstrap}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
