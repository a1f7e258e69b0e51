"""The projection consumers' Prometheus metrics, kept by each member of `carecoord project`.

Counters and histograms only, so that in prometheus-client's multiprocess mode (one folder of
values per group, see carecoord/metrics.py) the members' values simply add up on the one port
`carecoord project --metrics-port` serves. The lag per partition is not kept here: the serving
process computes it from the brokers' end offsets and the positions stored in PostgreSQL
(carecoord/lag.py), so that it is right whichever member holds a partition. Labels: topic names
only. What each means: README.md, "Metrics".
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Histogram

from events import Event

RECORDS = Counter(
    "carecoord_consumer_records", "Records read from the service topics and committed", ["topic"]
)
DEAD_LETTERS = Counter(
    "carecoord_consumer_dead_letters",
    "Records that did not fit the contract, published to the dead-letter topic and stored",
    ["topic"],
)
BATCH_RECORDS = Histogram(
    "carecoord_consumer_batch_records",
    "Records per batch written",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 10_000, 50_000),
)
BATCH_SECONDS = Histogram(
    "carecoord_consumer_batch_seconds",
    "Time to handle one batch: decoded, dead letters published, written in one transaction, committed",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
FRESHNESS = Histogram(
    "carecoord_consumer_freshness_seconds",
    "From an event's recorded_at (its command accepted) to its episode recomputed in the read models",
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0),
)
RECOMPUTED = Counter(
    "carecoord_consumer_episodes_recomputed",
    "Episodes recomputed: `batch` right after their events, `pending` once caught up",
    ["when"],
)


def batch_read(records: Sequence[Any], letters: Sequence[tuple[Any, Any]]) -> None:
    for topic, n in Tally(record.topic for record in records).items():
        RECORDS.labels(topic).inc(n)
    for topic, n in Tally(record.topic for _letter, record in letters).items():
        DEAD_LETTERS.labels(topic).inc(n)


def batch_written(
    records: int, seconds: float, recomputed: int, events: Sequence[Event], visible: bool
) -> None:
    """After the batch's commit. `visible`: its episodes were recomputed (not left pending), so its
    events are in the read models now, and their freshness is known."""
    BATCH_RECORDS.observe(records)
    BATCH_SECONDS.observe(seconds)
    RECOMPUTED.labels("batch").inc(recomputed)
    if visible:
        now = time.time()
        for event in events:
            FRESHNESS.observe(max(0.0, now - event.recorded_instant.timestamp()))


def pending_recomputed(episodes: int) -> None:
    RECOMPUTED.labels("pending").inc(episodes)
