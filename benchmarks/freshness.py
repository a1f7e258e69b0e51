"""End-to-end freshness: a command accepted by a service to its event visible in the read model.

Everything real and in its own process, as deployed: the five services on PostgreSQL (driven from
this process through their application command methods), `carecoord relay` (the outbox relay) and
`carecoord project` (the projection consumer), on fresh topics and fresh tables. Episodes are
opened first (not timed); then visits are scheduled at a steady rate (default 200 commands/s for
60 s, a bounded loop). For each command, the instant its method returned is the acceptance; a
poller reads the read model's timeline every 10 ms and notes when each episode's count of
`VisitScheduled` entries reaches that command. p50 and p99 of the differences are recorded.

With CARECOORD_BENCH_BASELINE_TREE set to another checkout (say, of the commit before a change),
the relay and the projection consumer also run from that tree's code, in the same run, on the same
servers, alternately with this tree's (`CARECOORD_BENCH_FRESHNESS_ROUNDS` rounds, default 1): its
figures are recorded as freshness.baseline_tree.*, and each p99 of this tree's beside the baseline's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.results import record

ROOT = Path(__file__).resolve().parents[1]
THROUGH = "2026-12-31"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class _TopicObserver(threading.Thread):
    """A bare kafka-python consumer on the visits topic (all partitions, from their end, no group):
    when each record was stamped by the relay's producer and when a reader could fetch it."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        self.consumer.assign(assigned)
        self.consumer.seek_to_end()
        for tp in assigned:
            self.consumer.position(tp)  # resolve "the end" now, before any command is sent
        self.created: dict[str, float] = {}
        self.arrived: dict[str, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        import json

        while not self._halt.is_set():
            for records in self.consumer.poll(timeout_ms=50).values():
                now = time.time()
                for r in records:
                    visit_id = json.loads(r.value)["data"]["visit_id"]
                    self.created[visit_id] = r.timestamp / 1000
                    self.arrived[visit_id] = now
        self.consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def run(workdir: Path, rate: float | None = None, seconds: float | None = None, episodes: int = 400) -> None:
    """This tree's relay and consumer; with a baseline tree, that tree's and this one's alternately."""
    baseline = os.environ.get("CARECOORD_BENCH_BASELINE_TREE")
    if not baseline:
        run_one(workdir, rate, seconds, episodes)
        return
    tree = Path(baseline).resolve()
    commit = _commit_of(tree)
    for round_ in range(int(os.environ.get("CARECOORD_BENCH_FRESHNESS_ROUNDS", "1"))):
        print(f"freshness: round {round_ + 1}, baseline tree {tree} ({commit})")
        old = run_one(workdir, rate, seconds, episodes, tree, "freshness.baseline_tree")
        print(f"freshness: round {round_ + 1}, this tree")
        new = run_one(workdir, rate, seconds, episodes)
        for stat, new_ms, old_ms in (("p50", new[0], old[0]), ("p99", new[1], old[1])):
            record(
                f"freshness.{stat}_ms_against_baseline_tree",
                new_ms,
                "ms",
                old_ms,
                baseline=f"the same, run from {commit} in the same run on the same servers",
                ratio=round(new_ms / old_ms, 3),
                round=round_ + 1,
            )


def _commit_of(tree: Path) -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=tree)
    return found.stdout.strip() or str(tree)


def run_one(
    workdir: Path,
    rate: float | None = None,
    seconds: float | None = None,
    episodes: int = 400,
    root: Path = ROOT,
    name: str = "freshness",
) -> tuple[float, float]:
    """One measurement, with the relay and the projection consumer run from `root`'s code;
    (p50, p99) in ms."""
    import psycopg
    from eventsourcing.cipher import AESCipher
    from kafka.admin import KafkaAdminClient, NewTopic
    from psycopg import sql

    from carecoord.bootstrap import Services
    from carecoord.config import PostgresSettings, Settings
    from carecoord.topics import deadletter_topic, service_topics, topic_for
    from projections.readmodels.postgres import PostgresReadModelStore
    from tests.support.services import open_episode

    rate = rate or float(os.environ.get("CARECOORD_BENCH_FRESHNESS_RATE", "200"))
    seconds = seconds or float(os.environ.get("CARECOORD_BENCH_FRESHNESS_SECONDS", "60"))
    bootstrap = os.environ.get("CARECOORD_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    url = os.environ.get("CARECOORD_TEST_POSTGRES_URL") or os.environ.get("CARECOORD_POSTGRES_URL")
    if not url:
        raise SystemExit("freshness benchmark: set CARECOORD_TEST_POSTGRES_URL (make bench does)")
    tag = uuid.uuid4().hex[:8]
    schema, topic_prefix, prefix = f"fresh_{tag}", f"fresh{tag}.", f"fresh_{tag}_"
    key = AESCipher.create_key(32)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    names = [*service_topics(topic_prefix), deadletter_topic(topic_prefix)]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="carecoord-bench")
    admin.create_topics([NewTopic(name, 6, 1) for name in names])
    admin.wait_for_topics(names, timeout_ms=30_000)
    env = {
        **os.environ,
        "CARECOORD_POSTGRES_URL": url,
        "CARECOORD_POSTGRES_SCHEMA": schema,
        "CARECOORD_CIPHER_KEY": key,
        "CARECOORD_KAFKA_BOOTSTRAP": bootstrap,
        "CARECOORD_TOPIC_PREFIX": topic_prefix,
    }
    if root != ROOT:  # that tree's code before this one's (installed in the environment, editable)
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])
    services = Services.from_config(
        Settings(
            data_dir=workdir / "freshness",
            postgres=PostgresSettings.from_url(url, schema=schema, pool_size=2),
            cipher_key=key,
        )
    )
    store = PostgresReadModelStore(url, prefix)
    store.create_tables()
    cli = [sys.executable, "-m", "carecoord.cli"]
    relay = subprocess.Popen([*cli, "relay", "--quiet"], env=env, cwd=root)
    project = subprocess.Popen(
        [*cli, "project", "--postgres-url", url, "--prefix", prefix, "--through", THROUGH],
        env=env,
        cwd=root,
        stderr=subprocess.DEVNULL,
    )
    try:
        episode_ids = [f"ep-f{n:04d}" for n in range(episodes)]
        print(f"freshness: opening {episodes} episodes (not timed) ...")
        for episode_id in episode_ids:
            open_episode(services, episode_id, accepted_on=date(2026, 3, 2))
        deadline = time.monotonic() + 120
        while len(store.digests()) < episodes and time.monotonic() < deadline:
            time.sleep(0.2)

        issued: dict[str, list[float]] = {e: [] for e in episode_ids}
        accepted_wall: dict[str, float] = {}  # visit_id -> time.time() when its command returned
        observer = _TopicObserver(bootstrap, topic_for("visits", topic_prefix), partitions=6)
        observer.start()
        seen: dict[str, int] = dict.fromkeys(episode_ids, 0)
        latencies: list[float] = []
        stop = threading.Event()
        lock = threading.Lock()

        def poll() -> None:
            reader = PostgresReadModelStore(url, prefix)
            try:
                while not stop.is_set():
                    with lock:  # only the episodes still waiting for a command to show: a light observer
                        waiting = [e for e, times in issued.items() if len(times) > seen[e]]
                    with reader.transaction() as cursor:
                        cursor.execute(
                            "SELECT episode_id, count(*) FROM {p}timeline "
                            "WHERE episode_id = ANY(?) AND event_type = 'VisitScheduled' "
                            "GROUP BY episode_id",
                            (waiting,),
                        )
                        counts = cursor.fetchall()
                    now = time.perf_counter()
                    with lock:
                        for episode_id, count in counts:
                            accepted = issued.get(episode_id, [])
                            for k in range(seen.get(episode_id, 0), min(count, len(accepted))):
                                latencies.append(now - accepted[k])
                            seen[episode_id] = max(seen.get(episode_id, 0), min(count, len(accepted)))
                    time.sleep(0.01)
            finally:
                reader.close()

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        total = int(rate * seconds)
        print(f"freshness: {total:,} commands at {rate:.0f}/s for {seconds:.0f}s ...")
        started = time.perf_counter()
        for i in range(total):
            due = started + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            episode_id = episode_ids[i % episodes]
            services.visits.schedule_visit(
                episode_id,
                visit_id=f"v-{i}",
                scheduled_for=date(2026, 3, 3) + timedelta(days=i // episodes % 200),
                kind="follow_up",
            )
            accepted_at = time.perf_counter()
            with lock:
                issued[episode_id].append(accepted_at)
                accepted_wall[f"v-{i}"] = time.time()
        issuing = time.perf_counter() - started
        drain = time.monotonic() + 60
        while time.monotonic() < drain:
            with lock:
                if len(latencies) >= total:
                    break
            time.sleep(0.1)
        stop.set()
        poller.join(5)
        observer.stop()
        with lock:
            got = list(latencies)
        missing = total - len(got)
        achieved = total / issuing
        print(f"  issued {total:,} commands in {issuing:.1f}s ({achieved:.0f}/s); {missing} never seen")
        if not got:
            raise SystemExit(f"freshness: none of {total:,} commands became visible (relay or project down?)")
        p50, p99 = _percentile(got, 0.5) * 1000, _percentile(got, 0.99) * 1000
        context: dict[str, Any] = {
            "commands": total,
            "target_rate": rate,
            "achieved_rate": round(achieved, 1),
            "seconds": seconds,
            "not_visible_within_60s_after": missing,
            "cpus": os.cpu_count(),
            "relay_producer": "kafka-python",  # the relay's one producer
            "path": "services (PostgreSQL) -> carecoord relay -> Kafka -> carecoord project -> read model",
        }
        if root != ROOT:
            context["tree"] = _commit_of(root)
        record(f"{name}.p50_ms", p50, "ms", **context)
        record(f"{name}.p99_ms", p99, "ms", goal="p99 under 500 ms", **context)
        record(f"{name}.max_ms", max(got) * 1000, "ms", **context)
        # Where the time goes: command accepted -> published by the relay (the Kafka record's
        # CreateTime, stamped by the relay's producer at send) -> fetched by a bare consumer.
        to_kafka = [observer.created[v] - t for v, t in accepted_wall.items() if v in observer.created]
        to_fetch = [observer.arrived[v] - observer.created[v] for v in observer.arrived]
        for stage, values in (("accepted_to_published", to_kafka), ("published_to_fetched", to_fetch)):
            if values:
                print(
                    f"  {stage}: p50 {_percentile(values, 0.5) * 1000:.0f} ms, "
                    f"p99 {_percentile(values, 0.99) * 1000:.0f} ms ({len(values):,} records)"
                )
                record(f"{name}.{stage}_p99_ms", _percentile(values, 0.99) * 1000, "ms", **context)
        return p50, p99
    finally:
        for process in (project, relay):
            process.terminate()
        for process in (project, relay):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        services.close()
        store.drop_tables()
        store.close()
        try:
            admin.delete_topics(names)
        finally:
            admin.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
