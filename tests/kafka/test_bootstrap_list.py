"""A bootstrap list (`host:port,host:port`, as production's CARECOORD_KAFKA_BOOTSTRAP names its three
brokers) reaches the projection consumers' aiokafka clients as a list: aiokafka takes a string as
one address, so "a:9092,b:9092" failed with "Unable to bootstrap" (found by the cluster tests)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from carecoord.topics import topic_for
from projections.kafka.app import bootstrap_servers
from projections.kafka.offset_zero import end_offsets

pytestmark = pytest.mark.kafka


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bootstrap_servers_splits_at_commas() -> None:
    assert bootstrap_servers("a:1, b:2,c:3,") == ["a:1", "b:2", "c:3"]
    assert bootstrap_servers("a:1") == ["a:1"]


def test_a_bootstrap_list_with_one_server_down_still_connects(bootstrap: str, topic_prefix: str) -> None:
    servers = f"127.0.0.1:{closed_port()},{bootstrap}"
    topic = topic_for("referrals", topic_prefix)
    ends = asyncio.run(end_offsets(servers, [topic]))
    assert ends == {f"{topic}:{n}": 0 for n in range(6)}
