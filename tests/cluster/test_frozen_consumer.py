"""A projection consumer frozen (SIGSTOP) past max.poll.interval.ms and session.timeout.ms (lowered to
6 s with `carecoord project --max-poll-interval-ms/--session-timeout-ms`; its PostgreSQL session's
idle-in-transaction timeout to 8 s), then resumed (SIGCONT), under load on the three-node cluster.

The group gives the frozen member's partitions to the other member, which goes on from the
positions stored in PostgreSQL (the truth: projections/kafka/subscriber.py); when the frozen one wakes
up, whatever it still had in hand (a batch, a Kafka offset commit) changes nothing: the stored
positions never move back, every event is in the read models once, and `carecoord verify` is clean.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from carecoord.topics import service_topics
from tests.support.cluster import (
    Cluster,
    Figures,
    Load,
    Probe,
    Sampler,
    System,
    drain_and_check,
    open_episodes,
    running_system,
    wait_until,
)

pytestmark = pytest.mark.cluster

# The group's patience with a silent member, and PostgreSQL's with a member's session idle inside a
# transaction (a member frozen mid-batch holds its partitions' position rows locked until then).
GROUP_TIMEOUTS = (
    "--max-poll-interval-ms", "6000",
    "--session-timeout-ms", "6000",
    "--idle-in-transaction-timeout-ms", "8000",
)  # fmt: skip
FROZEN_FOR_S = 15.0
ASSIGNED = re.compile(r"^(\S+ \S+) INFO carecoord\.project: assigned (.*)$", re.MULTILINE)


def freeze_mid_transaction(pid: int, pg_url: str, attempts: int = 300) -> bool:
    """SIGSTOP the member while one of its PostgreSQL sessions is inside a transaction (so that it
    holds its partitions' position rows locked), the hardest moment to be frozen at: stopped and
    looked at, resumed and tried again when it was not. True when caught so; else frozen anyway."""
    import psutil
    import psycopg

    port = urlsplit(pg_url).port
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for _ in range(attempts):
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.05)  # a statement the server was running finishes
            ports = [
                c.laddr.port
                for c in psutil.Process(pid).net_connections(kind="tcp")
                if c.raddr and c.raddr.port == port
            ]
            states = conn.execute(
                "SELECT state FROM pg_stat_activity WHERE client_port = ANY(%s)", (ports,)
            ).fetchall()
            if any(state == "idle in transaction" for (state,) in states):
                return True
            os.kill(pid, signal.SIGCONT)
            time.sleep(random.uniform(0.005, 0.05))
    os.kill(pid, signal.SIGSTOP)
    return False


def assignments(system: System, member: str) -> list[set[str]]:
    """Every assignment the member logged, in order (streams "topic:partition")."""
    return [set(found.split(", ")) for _, found in ASSIGNED.findall(system.log(member).read_text())]


class PositionWatch:
    """Samples the stored positions (rm_positions) in a thread: they must never move back."""

    def __init__(self, system: System) -> None:
        self.probe = Probe(system)
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.backwards: list[tuple[str, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="positions", daemon=True)

    def __enter__(self) -> PositionWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.probe.close()

    def _run(self) -> None:
        last: dict[str, int] = {}
        while not self._stop.wait(0.2):
            positions = self.probe.consumer_positions()
            for stream, position in positions.items():
                if position < last.get(stream, 0):
                    self.backwards.append((stream, last[stream], position))
            last.update(positions)
            self.samples.append((time.monotonic(), positions))

    def first_advance(self, streams: set[str], since: float) -> dict[str, float]:
        """For each stream, when its stored position first moved after `since` (seconds after it)."""
        before = next((p for t, p in reversed(self.samples) if t <= since), {})
        moved: dict[str, float] = {}
        for t, positions in self.samples:
            if t <= since:
                continue
            for stream in streams - moved.keys():
                if positions.get(stream, 0) > before.get(stream, 0):
                    moved[stream] = round(t - since, 2)
        return moved


def test_consumer_frozen_past_the_poll_interval_loses_its_partitions_and_its_late_commit_changes_nothing(
    cluster: Cluster, pg_url: str, tmp_path: Path, figures: Figures
) -> None:
    with running_system(cluster, pg_url, tmp_path, "frozen") as system:
        system.start_api()
        system.start_relay()
        system.start_consumers("member-a", 1, *GROUP_TIMEOUTS)
        system.start_consumers("member-b", 1, *GROUP_TIMEOUTS)
        wait_until(
            lambda: bool(assignments(system, "member-a")) and bool(assignments(system, "member-b")),
            90,
            "both members assigned partitions",
            system,
        )
        with Sampler(system) as sampler, PositionWatch(system) as watch:
            load = Load(system, clock=sampler.now)
            open_episodes(system, load)
            load.start()
            try:
                probe = Probe(system)
                wait_until(
                    lambda: probe.in_read_models() >= 20, 90, "the first events in the read models", system
                )
                probe.close()
                held_by_a = assignments(system, "member-a")[-1]
                taken_before = len(assignments(system, "member-b"))
                topics = service_topics(system.prefix)
                ends_before = cluster.end_offsets(topics)
                frozen = system.processes["member-a"].pid
                mid_transaction = freeze_mid_transaction(frozen, pg_url)
                frozen_at = time.monotonic()
                try:
                    every = {f"{t}:{n}" for t in service_topics(system.prefix) for n in range(6)}

                    def taken_over() -> bool:
                        return any(a == every for a in assignments(system, "member-b")[taken_before:])

                    takeover_s = wait_until(taken_over, 60, "member-b assigned every partition", system)
                    time.sleep(max(0.0, FROZEN_FOR_S - (time.monotonic() - frozen_at)))
                    # The frozen member's partitions that received records meanwhile: the other
                    # member must have stored them (its positions moved) before the frozen one woke.
                    ends_after = cluster.end_offsets(topics)
                    busy = {s for s in held_by_a if ends_after.get(s, 0) > ends_before.get(s, 0)}
                    moved = watch.first_advance(busy, frozen_at)
                finally:
                    os.kill(frozen, signal.SIGCONT)
                resumed_at = time.monotonic()
                wait_until(
                    lambda: len(assignments(system, "member-a")) > 1, 60, "member-a back in the group", system
                )
                rejoined_s = time.monotonic() - resumed_at
                time.sleep(5)
            finally:
                load.stop()
            drain_and_check(system, load, sampler, figures)
            system.check_alive()
            # The frozen member's Kafka commits after it woke, refused by the group (it had moved on).
            late_errors = re.findall(
                r"ERROR carecoord\.project: CommitFailedError", system.tail("member-a", 10**7)
            )
            figures.consuming_stall_s = max(moved.values(), default=0.0)
            figures.publishing_stall_s = sampler.publishing_stall()
            figures.extra.update(
                frozen_for_s=FROZEN_FOR_S,
                frozen_inside_a_transaction=mid_transaction,
                partitions_of_frozen_member=len(held_by_a),
                takeover_s=round(takeover_s, 1),
                frozen_members_streams_resumed_by_other_after_s=max(moved.values(), default=None),
                rejoined_after_resume_s=round(rejoined_s, 1),
                late_kafka_commits_refused=len(late_errors),
                positions_moved_back=len(watch.backwards),
            )
        assert busy and moved.keys() == busy, f"streams not taken over while frozen: {busy - moved.keys()}"
        assert not watch.backwards, f"stored positions moved back: {watch.backwards[:5]}"
        positions = Probe(system).consumer_positions()
        ends = cluster.end_offsets(service_topics(system.prefix))
        assert {s: n for s, n in ends.items() if n} == {s: p for s, p in positions.items() if p}
