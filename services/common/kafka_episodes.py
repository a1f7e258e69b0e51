"""An `EpisodeSource` that reads the referrals topic, for the services in Kafka mode.

In Kafka mode a service learns the episodes exactly as any other consumer of the contract would:
from `carecoord.referrals.v1`, filled by the outbox relay. Each service process reads the whole topic
itself (manual assignment of every partition, no consumer group, nothing committed): the directory
it feeds is an in-memory read model rebuilt from offset zero at start-up.

"Catching up" means: read up to the end offsets the broker reports at the moment of the call, so a
command sees every referral event that had reached Kafka before it was issued. Positions handed to
the `EpisodeDirectory` are a running count of the records read (Kafka offsets are per partition);
the source is stateful and hands out each record once, in the order it was read. The directory's
rules are idempotent, so a record the relay published twice changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from events import ContractError, Event, parse_event

log = logging.getLogger(__name__)

# Only these change what the directory knows; the rest of the referrals stream is skipped unparsed.
EPISODE_EVENT_TYPES = frozenset(
    {
        "ReferralReceived",
        "ReferralAccepted",
        "ReferralDeclined",
        "TherapyDiscontinued",
        "CareTeamAssigned",
        "CareTeamReleased",
    }
)


class EpisodeFeedUnavailable(RuntimeError):
    """The referrals topic could not be read in time: the command cannot be checked, so it is refused."""


class KafkaEpisodeSource:
    """`EpisodeSource` over one topic: `source(start)` returns the records read since the last call."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        timeout_s: float = 30.0,
        max_records: int = 5000,
        client_id: str = "carecoord-episodes",
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self.max_records = max_records
        self.client_id = client_id
        self._consumer: Any = None
        self._partitions: list[Any] = []
        self._targets: dict[Any, int] | None = None  # end offsets this round of catching up must reach
        self._count = 0  # records handed out so far: the positions
        self._lock = threading.Lock()

    def __call__(self, start: int) -> Sequence[tuple[int, Event]]:
        # One deadline for the whole call, the wait for the lock included: while a broker is away,
        # commands queue here behind the one reading, and each would otherwise wait out the reads of
        # all those before it (a command waited more than 60 s with two brokers stopped).
        deadline = time.monotonic() + self.timeout_s
        if not self._lock.acquire(timeout=self.timeout_s):
            raise EpisodeFeedUnavailable(
                f"cannot learn the episodes: {self.topic} at {self.bootstrap} is being read for "
                f"another command, which has not finished within {self.timeout_s:.0f}s"
            )
        try:
            return self._read(deadline)
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None

    # --- internals -------------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._consumer is not None:
            return self._consumer
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=int(self.timeout_s * 1000) + 5000,
        )
        deadline = time.monotonic() + self.timeout_s
        partitions = consumer.partitions_for_topic(self.topic)
        while not partitions and time.monotonic() < deadline:
            time.sleep(0.2)
            partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            consumer.close()
            raise EpisodeFeedUnavailable(
                f"cannot learn the episodes: topic {self.topic} not found at {self.bootstrap}"
            )
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(self._partitions)
        consumer.seek_to_beginning(*self._partitions)
        self._consumer = consumer
        return consumer

    def _read(self, deadline: float) -> list[tuple[int, Event]]:
        consumer = self._connect()
        if self._targets is None:
            try:
                left_ms = max(1, int((deadline - time.monotonic()) * 1000))
                self._targets = dict(consumer.end_offsets(self._partitions, timeout_ms=left_ms))
            except Exception as error:  # kafka-python raises its own timeout errors here
                raise EpisodeFeedUnavailable(
                    f"cannot learn the episodes: {self.topic} at {self.bootstrap} did not answer ({error})"
                ) from error
        batch: list[tuple[int, Event]] = []
        while not self._reached(consumer, deadline) and len(batch) < self.max_records:
            if time.monotonic() > deadline:
                self._targets = None
                raise EpisodeFeedUnavailable(
                    f"cannot learn the episodes: reading {self.topic} at {self.bootstrap} "
                    f"took more than {self.timeout_s:.0f}s"
                )
            polled = consumer.poll(timeout_ms=200, max_records=self.max_records - len(batch))
            for records in polled.values():
                for record in records:
                    self._count += 1
                    event = self._decode(record)
                    if event is not None:
                        batch.append((self._count, event))
        if self._reached(consumer, deadline) and not batch:
            self._targets = None  # this round is over: the next call looks at the end offsets again
        return batch

    def _reached(self, consumer: Any, deadline: float) -> bool:
        """Every partition read up to its target. Asked with what is left of the call's time: after a
        leader change, kafka-python validates each position with the new leader first (KIP-320),
        and without a timeout `position()` waits for that as long as it takes."""
        assert self._targets is not None
        for tp, end in self._targets.items():
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            try:
                position = consumer.position(tp, timeout_ms=left_ms)
            except Exception:  # kafka-python's timeout: not known to be reached (the caller gives up)
                return False
            if position is None or position < end:
                return False
        return True

    def _decode(self, record: Any) -> Event | None:
        headers = dict(record.headers or ())
        event_type = headers.get("event_type")
        if event_type is not None and event_type.decode() not in EPISODE_EVENT_TYPES:
            return None
        try:
            event = parse_event(record.value)
        except ContractError as error:
            # Not for this service to repair: the projections put such records in the dead letters.
            log.warning(
                "skipping %s[%s]@%s: %s", record.topic, record.partition, record.offset, error.message
            )
            return None
        return event if event.event_type in EPISODE_EVENT_TYPES else None
