"""One batch of Kafka records: decoded against the contract, then written by the read models' write path.

Every reader of the service topics goes through here: the live subscriber (`subscriber.py`) and the
offset-zero reader of rebuild and verify (`offset_zero.py`). A batch is

1. decoded: every record is parsed against the contract (`events.parse_event`, upcasters
   included); one that does not fit becomes a dead letter (stream `topic:partition`, position = its
   offset, with the error), kept with its original record so that the caller can publish it. The
   batch also notes, per partition, its first offset and the next offset to read, and which
   partition (shard) each episode's events came from;
2. written in ONE PostgreSQL transaction by `projections.readmodels.writer.apply_batch`: the
   events stored by `event_id`, the dead letters, the touched episodes recomputed (or, catching up,
   marked pending) and the positions saved, refused with `PositionGap` when a partition's batch
   does not start at its stored position.

The Kafka side (polling, acknowledging, seeking, publishing dead letters) belongs to the callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from events import ContractError, parse_event
from projections.readmodels.caches import EventCache, WrittenViews
from projections.readmodels.store import ReadModelStore
from projections.readmodels.tables import DeadLetter
from projections.readmodels.writer import Batch, BatchResult, apply_batch

CONSUMER = "kafka"  # the consumer name of the positions table rows ("topic:partition" streams)


def stream_of(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def split_stream(stream: str) -> tuple[str, int]:
    topic, _, partition = stream.rpartition(":")
    return topic, int(partition)


def caught_up(positions: Mapping[str, int], targets: Mapping[str, int]) -> bool:
    """Every stream's position has reached its target (streams with nothing to read count as there)."""
    return all(positions.get(s, 0) >= end for s, end in targets.items() if end > 0)


@dataclass(slots=True)
class DecodedBatch:
    """Records of one poll: the events, the letters that did not fit, and where each partition got to."""

    batch: Batch
    letters: list[tuple[DeadLetter, Any]] = field(default_factory=list)  # with the original record


def decode_records(records: Iterable[Any]) -> DecodedBatch:
    """aiokafka ConsumerRecords (topic, partition, offset, value) to a Batch and its dead letters."""
    decoded = DecodedBatch(Batch())
    batch = decoded.batch
    for record in records:
        stream = stream_of(record.topic, record.partition)
        value: bytes = record.value or b""
        try:
            event = parse_event(value)
            batch.events.append(event)
            batch.shard_of[event.episode_id] = record.partition
        except ContractError as error:
            letter = DeadLetter(
                stream=stream,
                position=str(record.offset),
                event_id=error.event_id,
                error=error.message,
                payload=value.decode("utf-8", errors="replace"),
            )
            batch.dead_letters.append(letter)
            decoded.letters.append((letter, record))
        if stream not in batch.starts or record.offset < batch.starts[stream]:
            batch.starts[stream] = record.offset
        batch.positions[stream] = max(batch.positions.get(stream, 0), record.offset + 1)
    return decoded


def deadletter_headers(letter: DeadLetter, record: Any) -> dict[str, str]:
    """The headers a dead letter is published with: the error and where the record came from."""
    headers = {
        "carecoord-error": letter.error,
        "carecoord-source-topic": record.topic,
        "carecoord-source-partition": str(record.partition),
        "carecoord-source-offset": str(record.offset),
    }
    if letter.event_id:
        headers["carecoord-event-id"] = letter.event_id
    return headers


def write_batch(
    store: ReadModelStore,
    decoded: DecodedBatch,
    through: date,
    cache: EventCache,
    consumer: str = CONSUMER,
    allow_gaps: Iterable[str] = (),
    written: WrittenViews | None = None,
    *,
    defer: bool = False,
) -> BatchResult:
    """The batch in one transaction of the write path (blocking: callers run it in a thread).

    Raises `PositionGap` (nothing written) when a partition's batch starts after its stored
    position, unless that stream is in `allow_gaps`.
    """
    return apply_batch(
        store,
        decoded.batch,
        through,
        consumer=consumer,
        cache=cache,
        written=written,
        allow_gaps=allow_gaps,
        defer=defer,
    )
