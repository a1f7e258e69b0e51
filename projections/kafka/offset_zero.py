"""Reading the service topics from offset zero, for `carecoord rebuild` and `verify` (audit.py).

`end_offsets` captures where every partition ends now; `rebuild_from_offset_zero` folds the topics
from offset zero (or from the positions already stored, to go on) up to those offsets into a store
through the same batch function as the live consumers (batch.py), every batch deferred and each
episode recomputed once at the end.

aiokafka directly, not FastStream: this is a bounded read (no consumer group, manual assignment,
each partition paused once it reaches the end offset captured at the start, then the reader stops),
where a FastStream subscriber is an endless loop of a group member or of a fixed assignment with no
notion of an end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from projections.kafka.batch import CONSUMER, decode_records, split_stream, stream_of, write_batch
from projections.readmodels.caches import EventCache, WrittenViews
from projections.readmodels.store import ReadModelStore
from projections.readmodels.writer import drain_pending


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[str, int]:
    """The end offset of every partition of the topics, now ("topic:partition" -> offset)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions: list[Any] = []
        for topic in topics:
            numbers = await _partitions_for(consumer, topic)
            partitions.extend(TopicPartition(topic, n) for n in numbers)
        ends = await consumer.end_offsets(partitions)
        return {stream_of(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def _partitions_for(consumer: Any, topic: str) -> list[int]:
    for _ in range(100):
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            return sorted(numbers)
        # The consumer's metadata lists only the topics it has asked about (aiokafka offers no
        # public call that adds one to it without subscribing).
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise LookupError(f"Kafka topic {topic} does not exist")


async def rebuild_from_offset_zero(
    store: ReadModelStore,
    bootstrap: str,
    topics: Sequence[str],
    through: date,
    consumer_name: str = CONSUMER,
    max_records: int = 20_000,
    targets: Mapping[str, int] | None = None,
    resume: bool = False,
) -> dict[str, int]:
    """Fold the topics from offset zero to the end offsets captured now into `store` (made fresh).

    No consumer group, manual assignment; the positions are saved under `consumer_name` as the live
    consumers save theirs, so the rebuilt tables can be swapped in and followed on from.
    With `resume`, each partition starts at the position already stored in `store` (to go on to
    later targets); otherwise at offset zero. Returns the offsets read to.
    """
    store.create_tables()
    targets = dict(targets) if targets is not None else await end_offsets(bootstrap, topics)
    partitions = [TopicPartition(*split_stream(s)) for s, end in targets.items() if end > 0]
    if not partitions:
        return targets
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    cache = EventCache()
    written = WrittenViews()
    try:
        stored = store.positions(consumer_name) if resume else {}
        partitions = [
            tp
            for tp in partitions
            if stored.get(stream_of(tp.topic, tp.partition), 0) < targets[stream_of(tp.topic, tp.partition)]
        ]
        if not partitions:
            return targets
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, stored.get(stream_of(tp.topic, tp.partition), 0))
        remaining = {stream_of(tp.topic, tp.partition) for tp in partitions}
        while remaining:
            polled = await consumer.getmany(timeout_ms=1000, max_records=max_records)
            records: list[Any] = []
            for tp, items in polled.items():
                end = targets[stream_of(tp.topic, tp.partition)]
                records.extend(r for r in items if r.offset < end)
            if not records:
                continue
            decoded = decode_records(records)
            # Every batch deferred: each episode is recomputed once, below, from all its events.
            await asyncio.to_thread(
                write_batch,
                store,
                decoded,
                through,
                cache,
                consumer_name,
                targets.keys(),
                written,
                defer=True,
            )
            for s, position in decoded.batch.positions.items():
                if position >= targets[s]:
                    remaining.discard(s)
                    consumer.pause(TopicPartition(*split_stream(s)))
    finally:
        await consumer.stop()
    while await asyncio.to_thread(drain_pending, store, through, cache, written):
        pass
    return targets
