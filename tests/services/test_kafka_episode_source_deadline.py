"""The episode feed (services in Kafka mode) gives up within its timeout, waiting included: while a
broker is away, commands queue behind the one reading the referrals topic, and each used to wait
out the reads of all those before it (a delivery command waited more than 60 s with two brokers
stopped, in tests/cluster). Now every call is refused (EpisodeFeedUnavailable, a 503 from the
API) once its own timeout has passed, and end_offsets is given what is left of it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from services.common.kafka_episodes import EpisodeFeedUnavailable, KafkaEpisodeSource


class StuckConsumer:
    """A kafka-python consumer whose broker does not answer: end_offsets blocks for its timeout."""

    def __init__(self) -> None:
        self.timeouts: list[int | None] = []

    def end_offsets(self, partitions: Any, timeout_ms: int | None = None) -> dict[Any, int]:
        self.timeouts.append(timeout_ms)
        time.sleep((timeout_ms or 35_000) / 1000)
        raise TimeoutError(f"Failed to get offsets by timestamps in {timeout_ms} ms")


def test_calls_queued_behind_a_stuck_read_give_up_within_their_own_timeout() -> None:
    source = KafkaEpisodeSource("127.0.0.1:1", "carecoord.referrals.v1", timeout_s=0.5)
    consumer = StuckConsumer()
    source._connect = lambda: consumer  # type: ignore[method-assign]
    took: list[float] = []
    errors: list[BaseException] = []

    def call() -> None:
        started = time.monotonic()
        try:
            source(0)
        except EpisodeFeedUnavailable as error:
            errors.append(error)
        took.append(time.monotonic() - started)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 4
    assert max(took) < 1.0, took  # each within its own 0.5 s (and some slack), not 4 x 0.5 s
    assert all(t is not None and t <= 500 for t in consumer.timeouts), consumer.timeouts


def test_a_single_call_passes_what_is_left_of_its_timeout_to_end_offsets() -> None:
    source = KafkaEpisodeSource("127.0.0.1:1", "carecoord.referrals.v1", timeout_s=0.3)
    consumer = StuckConsumer()
    source._connect = lambda: consumer  # type: ignore[method-assign]
    with pytest.raises(EpisodeFeedUnavailable, match="did not answer"):
        source(0)
    assert consumer.timeouts and 0 < consumer.timeouts[0] <= 300


class ValidatingConsumer:
    """Reads fine, but after a leader change `position()` waits for the new leader (KIP-320)."""

    def __init__(self) -> None:
        self.position_timeouts: list[int | None] = []

    def end_offsets(self, partitions: Any, timeout_ms: int | None = None) -> dict[Any, int]:
        return dict.fromkeys(partitions, 5)

    def position(self, partition: Any, timeout_ms: int | None = None) -> int | None:
        self.position_timeouts.append(timeout_ms)
        time.sleep((timeout_ms if timeout_ms is not None else 60_000) / 1000)
        return None  # not validated in time

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        return {}


def test_positions_waiting_for_a_new_leader_are_asked_with_what_is_left_of_the_timeout() -> None:
    source = KafkaEpisodeSource("127.0.0.1:1", "carecoord.referrals.v1", timeout_s=0.3)
    consumer = ValidatingConsumer()
    source._connect = lambda: consumer  # type: ignore[method-assign]
    source._partitions = ["p0", "p1"]
    started = time.monotonic()
    with pytest.raises(EpisodeFeedUnavailable, match="took more than"):
        source(0)
    assert time.monotonic() - started < 1.0
    assert consumer.position_timeouts and all(t is not None and t <= 300 for t in consumer.position_timeouts)
