"""The FastStream application of `carecoord project`, as declared: built without connecting.

A KafkaBroker with ONE batch subscriber on the service topics, in the consumer group
`carecoord-projections`, whose message is the contract's envelope, and the dead-letter publisher;
the subscriber's options carry the measured reasons for each. `ProjectionConsumer` (subscriber.py)
runs this application, and `carecoord asyncapi` renders its AsyncAPI document from it, so the
document describes the objects that run.

FastStream's public API only: the batch subscriber (`max_records`, `batch_timeout_ms`), manual
acknowledgement, a rebalance listener, a decoder, the consumer's options, a publisher, and the
application's AsyncAPI specification.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Union

from aiokafka import ConsumerRecord
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from faststream.specification import AsyncAPI
from pydantic import Field, GetCoreSchemaHandler, GetPydanticSchema
from pydantic_core import CoreSchema, core_schema

from events import ENVELOPE_MODELS
from projections.kafka.batch import CONSUMER
from runtime.clock import today_utc

GROUP_ID = "carecoord-projections"

log = logging.getLogger("carecoord.project")


@dataclass
class ConsumerSettings:
    bootstrap: str
    postgres_url: str
    topics: Sequence[str]
    deadletter_topic: str
    prefix: str = "rm_"
    group_id: str = GROUP_ID
    consumer: str = CONSUMER
    through: Callable[[], date] = today_utc
    max_records: int = 50_000  # catching up, bigger batches recompute each episode fewer times
    # Catching up: while more than this many records wait in the member's partitions after a
    # batch, its episodes are marked pending rather than recomputed (each is recomputed once, at
    # the end, instead of after every batch that brings some of its events).
    defer_above: int = 10_000
    # Pending episodes recomputed per transaction: short transactions, because two consumers whose
    # chunks share a patient take turns on its lock (500 measured faster than 2,000 and 5,000).
    drain_limit: int = 500
    # FastStream's batch loop waits up to this long for records, and after a poll that found none
    # sleeps as long again: a record arriving meanwhile waits for it. Records sent straight to the
    # topics at 5/s, from send to committed (3 runs each, medians): p50 30 ms, p99 140 ms at 20;
    # p50 78 ms, p99 288 ms at 100; the former poll without the sleep, p50 40 ms, p99 230 ms.
    # Idle, two members then take 3.5% of a core (2.3% at 100), polling 25 times a second.
    batch_timeout_ms: int = 20
    client_id: str = "carecoord-projections"


@dataclass(frozen=True, slots=True)
class Through:
    """The read models' end date: a fixed one, or today (UTC) at each batch. Picklable, so it
    crosses to the consumer processes `run_group` starts."""

    fixed: date | None = None

    def __call__(self) -> date:
        return self.fixed if self.fixed is not None else today_utc()


_ENVELOPE = Annotated[Union[tuple(ENVELOPE_MODELS.values())], Field(discriminator="event_type")]  # type: ignore[valid-type]  # noqa: UP007


def _records_schema(_source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
    # On the wire (the document's message) each record is one contract envelope; in Python the
    # handler takes the batch's records as they are, unvalidated: each is parsed against the
    # contract by batch.py, where one that does not fit becomes a dead letter instead of failing
    # the whole batch (and older schema versions are upcast).
    return core_schema.json_or_python_schema(
        json_schema=handler.generate_schema(_ENVELOPE), python_schema=core_schema.any_schema()
    )


ContractRecords = Annotated[Sequence[ConsumerRecord[bytes, bytes]], GetPydanticSchema(_records_schema)]
BatchHandler = Callable[[Sequence[ConsumerRecord[bytes, bytes]], KafkaMessage], Awaitable[None]]

TITLE = "carecoord events"
CONTRACT_VERSION = "1"  # the topics' `.v1` and every event's schema_version
DESCRIPTION = """\
The public event contract of carecoord (shared/contract.md) on Kafka. One topic per service, \
`carecoord.<service>.v1`, 6 partitions, kept forever; each record is one event envelope as JSON \
(UTF-8), **key = episode_id** (so an episode's events share a partition and keep their stored order), \
headers `event_type` and `event_id`. Delivery is at least once: an event may arrive more than once \
(after a relay restart); `event_id` is the idempotency key, a consumer counts each event_id once. \
Unknown fields must be ignored; new fields and event types may be added without a new version."""


def subscriber_description(group_id: str) -> str:
    return (
        f"Read by the projection consumers (`carecoord project`, consumer group {group_id}, "
        "partitions assigned in ranges so that one member holds the same partition numbers of every "
        "topic): one contract envelope per record, as JSON. Key: episode_id. Headers: event_type, event_id."
    )


DEADLETTER_DESCRIPTION = (
    "Records a projection consumer could not accept (bad JSON, unknown type, a field that does "
    "not fit the contract). The value and key are the original record's bytes, unchanged; headers: "
    "carecoord-error (what does not fit, naming the field), carecoord-source-topic, "
    "carecoord-source-partition, carecoord-source-offset, and carecoord-event-id when known."
)


async def _records_as_they_are(message: Any) -> Any:
    """The batch's ConsumerRecords: parsing is the contract's job (batch.py), not FastStream's."""
    return message.raw_message


class ProjectionApp:
    """The FastStream application, broker, subscriber and dead-letter publisher of `carecoord
    project`, declared without connecting. `handle` gets each batch; without one (the document
    only) a batch is an error."""

    def __init__(
        self,
        settings: ConsumerSettings,
        handle: BatchHandler | None = None,
        listener: ConsumerRebalanceListener | None = None,
    ) -> None:
        self.broker = KafkaBroker(
            settings.bootstrap,
            client_id=settings.client_id,
            allow_auto_create_topics=False,
            logger=log,
        )
        self.app = FastStream(
            self.broker,
            logger=log,
            specification=AsyncAPI(title=TITLE, version=CONTRACT_VERSION, description=DESCRIPTION),
        )
        self.subscriber = self.broker.subscriber(
            *settings.topics,
            batch=True,
            group_id=settings.group_id,
            max_records=settings.max_records,
            batch_timeout_ms=settings.batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,  # never the default: it commits before the handler runs
            listener=listener,
            decoder=_records_as_they_are,
            # Catching up, whole stretches of a partition arrive at once, and a batch takes
            # max_records of them: 200,000 events, 2 members, 3 batches each and 15-22 s to catch
            # up; at aiokafka's 1 MB, 8-9 batches each and 20-49 s (3 runs each, measured).
            max_partition_fetch_bytes=16 * 1024 * 1024,
            # A member learns of a rebalance at its next heartbeat: at the default 3 s, members
            # started together joined 3 s apart, the first reading everything meanwhile; at 500 ms
            # a start took 0.55 s or 1.05 s to the first batch, at 100 ms 0.55-0.66 s (measured).
            # Ten small requests a second per member, for a group of at most a partition count.
            heartbeat_interval_ms=100,
            fetch_max_bytes=64 * 1024 * 1024,
            # Every topic is keyed by episode with as many partitions: partition n of each topic
            # holds the same episodes. Ranges per topic give one process the same partition numbers
            # of every topic, so an episode's events meet in one process (often in one batch)
            # instead of being recomputed by several processes in turn.
            # Range only: offering round robin too (for members of an older release) made aiokafka
            # members rejoin in turn without end (measured). Replace a group's members together.
            partition_assignment_strategy=(RangePartitionAssignor,),
            description=subscriber_description(settings.group_id),
        )
        self.deadletters = self.broker.publisher(
            settings.deadletter_topic,
            title=settings.deadletter_topic,
            description=DEADLETTER_DESCRIPTION,
            schema=bytes,
        )

        @self.subscriber
        async def project(records: ContractRecords, message: KafkaMessage) -> None:
            if handle is None:
                raise RuntimeError("this ProjectionApp was built for its document only")
            await handle(records, message)
