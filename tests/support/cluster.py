"""The fault tests' world (tests/cluster, marked `cluster`): the local three-node Kafka cluster, a
PostgreSQL they may restart, and carecoord running on them as it runs in production: the HTTP API,
the outbox relays and a consumer group of projection processes, each a process of its own, under a
steady load of commands.

Found through the environment `make test` sets (and the tests fail, never skip, without it):
  CARECOORD_TEST_KAFKA_CLUSTER       the cluster's bootstrap servers (deploy/kafka.sh --brokers 3 bootstrap);
                                     its nodes are stopped, killed and started with deploy/kafka.sh
  CARECOORD_TEST_FAULT_POSTGRES_URL  a PostgreSQL of deploy/postgres.sh that these tests may restart,
  CARECOORD_TEST_FAULT_POSTGRES_VAR  and the CARECOORD_VAR it was started with (never the shared one)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import pytest

from carecoord.bootstrap import Services
from carecoord.topics import deadletter_topic, deployed_topics, service_topics
from events import DATA_MODELS, SERVICE_NAMES
from tests.support.api import referral_body
from tests.support.postgres import TEST_CIPHER_KEY, settings_for

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka.sh"
POSTGRES_SH = ROOT / "deploy" / "postgres.sh"
CLUSTER_ENV = "CARECOORD_TEST_KAFKA_CLUSTER"
FAULT_PG_URL_ENV = "CARECOORD_TEST_FAULT_POSTGRES_URL"
FAULT_PG_VAR_ENV = "CARECOORD_TEST_FAULT_POSTGRES_VAR"
THROUGH = date(2026, 3, 31)
PARTITIONS = 6


def _required(name: str, how: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: {how} (`make test` does both)", pytrace=False)
    return value


# --- the cluster ---------------------------------------------------------------------------------


@dataclass
class Cluster:
    """The local three-node cluster, as deploy/kafka.sh started it."""

    bootstrap: str
    # The topics' settings: the production ones here; a single development broker (tests/kafka) has
    # one replica and the broker's default min ISR.
    replication: int = 3
    min_insync: int | None = 2

    @classmethod
    def from_env(cls) -> Cluster:
        bootstrap = _required(CLUSTER_ENV, "start the cluster with `deploy/kafka.sh --brokers 3 start`")
        cluster = cls(bootstrap)
        status = cluster.script("status", check=False)
        if status.returncode != 0:
            pytest.fail(
                f"{CLUSTER_ENV}={bootstrap}, but deploy/kafka.sh --brokers 3 status says:\n"
                f"{status.stdout}{status.stderr}",
                pytrace=False,
            )
        return cluster

    @property
    def ports(self) -> dict[int, int]:
        """Node number -> broker port."""
        return {n: int(address.rpartition(":")[2]) for n, address in enumerate(self.bootstrap.split(","), 1)}

    def script(
        self, *args: str, check: bool = True, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CARECOORD_KAFKA_CLUSTER_PORT": str(self.ports[1])}
        env.pop("CARECOORD_KAFKA_BROKERS", None)
        result = subprocess.run(
            [str(KAFKA_SH), "--brokers", "3", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, (
                f"deploy/kafka.sh {' '.join(args)}:\n{result.stdout}{result.stderr}"
            )
        return result

    def kill(self, node: int) -> None:
        self.script("kill", str(node))

    def stop(self, *nodes: int) -> None:
        self.script("stop", *map(str, nodes))

    def start(self, *nodes: int) -> None:
        self.script("start", *map(str, nodes))

    def admin(self) -> Any:
        from kafka.admin import KafkaAdminClient

        return KafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="carecoord-cluster-tests", request_timeout_ms=10_000
        )

    def describe(self, topics: list[str]) -> list[dict[str, Any]]:
        admin = self.admin()
        try:
            return list(admin.describe_topics(topics))
        finally:
            admin.close()

    def leaders(self, topics: list[str]) -> Counter[int]:
        """How many partitions of the topics each node leads."""
        return Counter(p["leader_id"] for t in self.describe(topics) for p in t["partitions"])

    def wait_in_sync(self, topics: list[str], timeout: float = 120) -> None:
        """Until every partition of the topics has its three replicas in sync."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                described = self.describe(topics)
                last = [
                    (t["name"], p["partition_index"], p["isr_nodes"])
                    for t in described
                    for p in t["partitions"]
                ]
                if all(len(p["isr_nodes"]) == 3 for t in described for p in t["partitions"]) and described:
                    return
            except Exception as error:  # a node still starting
                last = error
            time.sleep(0.5)
        pytest.fail(f"the cluster's replicas did not catch up within {timeout}s: {last}")

    def create_topics(self, prefix: str) -> list[str]:
        """The service and dead-letter topics under `prefix`, as deploy/topics.py creates them on the
        cluster (carecoord/topics.py with the settings of deploy/kafka/cluster.env)."""
        spec = {
            name: value
            for name, value in deployed_topics(self.replication, PARTITIONS, self.min_insync, prefix).items()
            if name.startswith(prefix)
        }
        admin = self.admin()
        try:
            response = admin.create_topics(spec, raise_errors=False)
            for result in response["topics"]:
                assert result["error_code"] == 0, result
            admin.wait_for_topics(list(spec), timeout_ms=60_000)
        finally:
            admin.close()
        return list(spec)

    def delete_topics(self, names: list[str]) -> None:
        admin = self.admin()
        try:
            with contextlib.suppress(Exception):
                admin.delete_topics(names)
        finally:
            admin.close()

    def end_offsets(self, topics: list[str]) -> dict[str, int]:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        try:
            partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
            return {f"{tp.topic}:{tp.partition}": n for tp, n in consumer.end_offsets(partitions).items()}
        finally:
            consumer.close()


# --- a PostgreSQL the tests may restart ----------------------------------------------------------


@dataclass
class RestartablePostgres:
    url: str
    var: str

    @classmethod
    def from_env(cls) -> RestartablePostgres:
        how = (
            "start a PostgreSQL of its own for the fault tests: "
            "CARECOORD_VAR=var/faults CARECOORD_PG_PORT=55442 deploy/postgres.sh start"
        )
        pg = cls(_required(FAULT_PG_URL_ENV, how), _required(FAULT_PG_VAR_ENV, how))
        shared = os.environ.get("CARECOORD_TEST_POSTGRES_URL")
        if shared and urlsplit(shared).port == urlsplit(pg.url).port:
            pytest.fail(
                f"{FAULT_PG_URL_ENV} is the shared test PostgreSQL: these tests restart it", pytrace=False
            )
        status = pg.script("status", check=False)
        if status.returncode != 0:
            pytest.fail(f"{FAULT_PG_URL_ENV}={pg.url}: {status.stdout}{status.stderr}", pytrace=False)
        return pg

    def script(self, action: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CARECOORD_VAR": self.var, "CARECOORD_PG_PORT": str(urlsplit(self.url).port)}
        result = subprocess.run(
            [str(POSTGRES_SH), action], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        if check:
            assert result.returncode == 0, f"deploy/postgres.sh {action}:\n{result.stdout}{result.stderr}"
        return result


# --- carecoord on them ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_search_path(url: str, schema: str) -> str:
    """The URL with the schema first on the search path (the consumers' and `verify`'s tables)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@dataclass
class System:
    """carecoord on the cluster and one PostgreSQL: a private schema, topics under a private prefix,
    a consumer group of its own; the API, the relays and the consumers as processes."""

    cluster: Cluster
    pg_url: str
    schema: str
    prefix: str
    workdir: Path
    group: str = field(default_factory=lambda: f"cluster-test-{uuid.uuid4().hex[:8]}")
    api_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)  # for every process of the system

    @property
    def topics(self) -> list[str]:
        return [*service_topics(self.prefix), deadletter_topic(self.prefix)]

    @property
    def read_model_url(self) -> str:
        return with_search_path(self.pg_url, self.schema)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, **extra: str) -> dict[str, str]:
        min_isr = self.cluster.min_insync
        return {
            **os.environ,
            "CARECOORD_POSTGRES_URL": self.pg_url,
            "CARECOORD_POSTGRES_SCHEMA": self.schema,
            "CARECOORD_POSTGRES_POOL_SIZE": "2",
            "CARECOORD_CIPHER_KEY": TEST_CIPHER_KEY,
            "CARECOORD_KAFKA_BOOTSTRAP": self.cluster.bootstrap,
            "CARECOORD_TOPIC_PREFIX": self.prefix,
            "CARECOORD_REPLICATION_FACTOR": str(self.cluster.replication),
            **({"CARECOORD_MIN_INSYNC_REPLICAS": str(min_isr)} if min_isr else {}),
            "CARECOORD_DATA": str(self.workdir / "var"),
            "CARECOORD_API_INLINE_PROJECTION": "0",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
            **extra,
        }

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "carecoord.cli", *args],
                env=self.env(),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def start_api(self) -> None:
        self.start("api", "serve", "--port", str(self.api_port), "--no-access-log", "--log-level", "warning")
        deadline = time.monotonic() + 90
        while True:
            self.check_alive("api")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.api_port), 1):
                return
            assert time.monotonic() < deadline, self.tail("api")
            time.sleep(0.2)

    def start_relay(self) -> None:
        self.start("relay", "relay", "--batch-size", "500")

    def start_consumers(self, name: str = "project", processes: int = 2, *extra: str) -> None:
        self.start(
            name,
            "project",
            "--postgres-url",
            self.read_model_url,
            "--bootstrap",
            self.cluster.bootstrap,
            "--topic-prefix",
            self.prefix,
            "--group-id",
            self.group,
            "--through",
            THROUGH.isoformat(),
            "--processes",
            str(processes),
            *extra,
        )

    def check_alive(self, *names: str) -> None:
        for name in names or tuple(self.processes):
            code = self.processes[name].poll()
            assert code is None, f"{name} exited with status {code}:\n{self.tail(name)}"

    def tail(self, name: str, chars: int = 4000) -> str:
        path = self.log(name)
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)  # a frozen one must be able to stop
                    process.terminate()
        for name, process in self.processes.items():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
                print(f"{name} did not stop within 30 s of SIGTERM; killed")

    def services(self) -> Services:
        """The five applications on the system's stores, to read what they stored."""
        return Services.from_config(settings_for(self.pg_url, self.schema, self.workdir / "reader"))


# --- reading the system's state ----------------------------------------------------------------


class Probe:
    """Counts in PostgreSQL: events stored by the services, published by the relays, in the read models."""

    def __init__(self, system: System) -> None:
        self.system = system
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.system.pg_url,
                autocommit=True,
                connect_timeout=2,
                options=f"-c search_path={self.system.schema}",
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _scalar(self, sql: str) -> int:
        row = self._connection().execute(sql).fetchone()
        return int(row[0] or 0) if row else 0

    def _table_exists(self, name: str) -> bool:
        return bool(
            self._scalar(
                f"SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = '{name}'"
            )
        )

    def stored(self) -> tuple[int, int]:
        """(contract events stored by the five services, the sum of their last notification ids).

        Stored events outside the contract (an aggregate's `Opened`, the private `PatientRegistered`)
        are never published: the count leaves them out, by the class named at the end of the topic."""
        parts = " UNION ALL ".join(
            f"SELECT count(*) FILTER (WHERE regexp_replace(topic, '^.*[.:]', '') = ANY(%(contract)s)) AS n,"
            f" coalesce(max(notification_id), 0) AS last FROM {s}_events"
            for s in SERVICE_NAMES
        )
        row = (
            self._connection()
            .execute(f"SELECT sum(n), sum(last) FROM ({parts}) s", {"contract": list(DATA_MODELS)})
            .fetchone()
        )
        return int(row[0] or 0), int(row[1] or 0)

    def published(self) -> int:
        """The relays' recorded positions, summed (notification ids)."""
        if not self._table_exists("relay_positions"):
            return 0
        return self._scalar("SELECT coalesce(sum(position), 0) FROM relay_positions")

    def in_read_models(self) -> int:
        if not self._table_exists("rm_events"):
            return 0
        return self._scalar("SELECT count(*) FROM rm_events")

    def pending(self) -> int:
        if not self._table_exists("rm_pending"):
            return 0
        return self._scalar("SELECT count(*) FROM rm_pending")

    def consumer_positions(self) -> dict[str, int]:
        if not self._table_exists("rm_positions"):
            return {}
        rows = self._connection().execute(
            "SELECT stream, position FROM rm_positions WHERE consumer = 'kafka'"
        )
        return {stream: int(position) for stream, position in rows.fetchall()}

    def timeline(self) -> tuple[int, int]:
        """(timeline rows, distinct event ids among them)."""
        row = (
            self._connection()
            .execute("SELECT count(*), count(DISTINCT event_id) FROM rm_timeline")
            .fetchone()
        )
        return int(row[0]), int(row[1])

    def event_ids(self) -> set[str]:
        return {r[0] for r in self._connection().execute("SELECT event_id FROM rm_events").fetchall()}


@dataclass
class Sample:
    t: float
    stored: int
    last_id: int
    published: int
    consumed: int


class Sampler:
    """Samples the counts every `every` s in a thread (a sample is skipped while PostgreSQL is down)."""

    def __init__(self, system: System, every: float = 0.2) -> None:
        self.probe = Probe(system)
        self.every = every
        self.samples: list[Sample] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.probe.close()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                stored, last = self.probe.stored()
                sample = Sample(self.now(), stored, last, self.probe.published(), self.probe.in_read_models())
            except psycopg.Error:
                with contextlib.suppress(Exception):
                    self.probe.close()
                self.probe._conn = None
                continue
            self.samples.append(sample)

    def outage(self, attribute: str, down: float, up: float) -> tuple[float, float]:
        """For a value (published, consumed) around an outage from `down` to `up` (during which no
        sample could be taken): (seconds from its last progress before `down` to its first after
        `up`, seconds from `up` to that first progress)."""
        before = [s for s in self.samples if s.t < down]
        after = [s for s in self.samples if s.t >= up]
        assert before and after, "no samples around the outage"
        value = getattr(before[-1], attribute)
        last = next((s.t for s in reversed(before) if getattr(s, attribute) < value), before[0].t)
        first = next((s.t for s in after if getattr(s, attribute) > value), after[-1].t)
        return round(first - last, 2), round(first - up, 2)

    def publishing_stall(self, since: float = 0.0) -> float:
        """The longest time the relays' positions stood still while stored events waited for them."""
        return _longest_stall(
            [(s.t, s.published, s.published >= s.last_id) for s in self.samples if s.t >= since]
        )

    def consuming_stall(self, since: float = 0.0) -> float:
        """The longest time the read models stood still while stored events were missing from them."""
        return _longest_stall(
            [(s.t, s.consumed, s.consumed >= s.stored) for s in self.samples if s.t >= since]
        )


def _longest_stall(points: list[tuple[float, int, bool]]) -> float:
    """The longest time between two samples showing progress, while there was something to do.

    A point is (time, value, idle): idle when nothing waited. Samples missing (PostgreSQL down, the
    sampler reads it too) count as time without progress when work waited before the gap."""
    longest = 0.0
    last_progress: float | None = None
    previous: int | None = None
    previous_idle = True
    for t, value, idle in points:
        if last_progress is None:
            last_progress = t
        else:
            progressed = previous is not None and value > previous
            if not (previous_idle and (progressed or idle)):
                longest = max(longest, t - last_progress)
            if progressed or idle:
                last_progress = t
        previous, previous_idle = value, idle
    return round(longest, 2)


# --- the load ----------------------------------------------------------------------------------


def delivery_body(delivery_id: str) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "delivered_on": "2026-03-03",
        "days_supply": 7,
        "items": [{"code": "J0475", "units": 4}],
    }


@dataclass(frozen=True)
class Outcome:
    t: float
    kind: str  # "referral" or "delivery"
    episode_id: str
    key: str  # what identifies its event: the episode (referral) or the delivery id
    status: int  # HTTP status; 0: no answer (connection refused, timeout)
    seconds: float
    retry_after: str | None
    body: str


class Load:
    """Commands through the HTTP API at fixed rates, in two streams: new referrals (the referrals
    service, `referrals` a second) and completed deliveries on the open episodes (the deliveries
    service, which learns the episodes from the referrals topic: `deliveries` a second). Each stream
    has at most `in_flight` commands waiting for an answer; a tick that finds them all busy is
    counted as skipped, not sent. A delivery command reads the referrals topic up to its end first
    (one process reads it for one command at a time), so deliveries run at a lower rate."""

    def __init__(
        self,
        system: System,
        referrals: float = 10.0,
        deliveries: float = 2.0,
        in_flight: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import httpx

        from carecoord.api.auth import AuthConfig, mint_local_token
        from carecoord.config import Settings

        settings = Settings.embedded(system.workdir / "var")
        auth = AuthConfig.from_env(settings, environ={})
        self.headers = {
            role: {"Authorization": f"Bearer {mint_local_token(auth, role, f'{role}-load', ttl=7200)}"}
            for role in ("coordinator", "pharmacist")
        }
        self.client = httpx.Client(
            base_url=system.base_url,
            timeout=httpx.Timeout(60.0, connect=5.0),
            limits=httpx.Limits(max_connections=2 * in_flight + 2),
        )
        self.episodes: list[str] = []
        self.rates = {"referral": referrals, "delivery": deliveries}
        self.in_flight = in_flight
        self.clock = clock
        self.outcomes: list[Outcome] = []
        self.skipped = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pools: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()
        self.tag = uuid.uuid4().hex[:6]
        self.workdir = system.workdir

    def post(self, path: str, body: dict[str, Any], role: str) -> Any:
        return self.client.post(path, json=body, headers=self.headers[role])

    def start(self) -> Load:
        assert self.episodes, "open_episodes() first"
        for kind, rate in self.rates.items():
            pool = ThreadPoolExecutor(self.in_flight, thread_name_prefix=f"load-{kind}")
            thread = threading.Thread(target=self._run, args=(kind, rate, pool), name=f"load-{kind}")
            self._pools.append(pool)
            self._threads.append(thread)
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        for pool in self._pools:
            pool.shutdown(wait=True)
        self.client.close()
        self.save(self.workdir / "load.jsonl")

    def _run(self, kind: str, rate: float, pool: ThreadPoolExecutor) -> None:
        slots = threading.Semaphore(self.in_flight)
        interval = 1.0 / rate
        next_at = time.monotonic()
        n = 0
        while not self._stop.is_set():
            if slots.acquire(blocking=False):
                pool.submit(self._one, kind, n, slots)
                n += 1
            else:
                with self._lock:
                    self.skipped += 1
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _request(self, kind: str, n: int) -> tuple[str, str, str, dict[str, Any], str]:
        """The n-th command of a kind: its episode, key, path, body and role."""
        if kind == "referral":
            episode = key = f"ep-{self.tag}-{n}"
            return (
                episode,
                key,
                f"/referrals/{episode}/receive-referral",
                referral_body(f"pt-{n}"),
                "coordinator",
            )
        episode, key = self.episodes[n % len(self.episodes)], f"d-{self.tag}-{n}"
        return episode, key, f"/deliveries/{episode}/complete-delivery", delivery_body(key), "pharmacist"

    def resend(self, outcome: Outcome) -> Any:
        """The command of `outcome` sent again, as a client retrying it would."""
        _, _, path, body, role = self._request(outcome.kind, int(outcome.key.rsplit("-", 1)[1]))
        return self.post(path, body, role)

    def _one(self, kind: str, n: int, slots: threading.Semaphore) -> None:
        try:
            episode, key, path, body, role = self._request(kind, n)
            started = time.monotonic()
            t = self.clock()
            try:
                response = self.post(path, body, role)
                status, retry_after = response.status_code, response.headers.get("retry-after")
                text = response.text
            except Exception as error:  # the API itself unreachable: no answer
                status, retry_after, text = 0, None, f"{type(error).__name__}: {error}"
            outcome = Outcome(
                t, kind, episode, key, status, time.monotonic() - started, retry_after, text[:300]
            )
            with self._lock:
                self.outcomes.append(outcome)
        finally:
            slots.release()

    def save(self, path: Path) -> None:
        """Every outcome, a JSON object a line (kept beside the processes' logs)."""
        import json
        from dataclasses import asdict

        with path.open("w") as out:
            for outcome in sorted(self.outcomes, key=lambda o: o.t):
                out.write(json.dumps(asdict(outcome)) + "\n")

    def statuses(
        self, since: float = float("-inf"), until: float = float("inf"), kind: str | None = None
    ) -> Counter[int]:
        """Answers by status, of the commands sent in [since, until) (of one kind, or both)."""
        return Counter(o.status for o in self.outcomes if since <= o.t < until and kind in (None, o.kind))

    def accepted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 200]


def open_episodes(system: System, load: Load, count: int = 6) -> list[str]:
    """Episodes received and accepted through the API (deliveries need an accepted referral), for
    the load's deliveries; once the deliveries service can know them."""
    episodes = [f"ep-open-{load.tag}-{n}" for n in range(count)]
    for n, episode in enumerate(episodes):
        response = load.post(
            f"/referrals/{episode}/receive-referral", referral_body(f"pt-open-{n}"), "coordinator"
        )
        assert response.status_code == 200, response.text
        response = load.post(
            f"/referrals/{episode}/accept-referral", {"accepted_on": "2026-03-02"}, "coordinator"
        )
        assert response.status_code == 200, response.text
    # The deliveries service learns them from the referrals topic: once the relay has published them.
    probe = Probe(system)
    try:
        wait_until(lambda: probe.published() >= probe.stored()[1], 60, "the open episodes published", system)
    finally:
        probe.close()
    load.episodes = episodes
    return episodes


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str | Callable[[], str], system: System | None = None
) -> float:
    """Seconds it took; fails (with the processes' logs) after `timeout`."""
    started = time.monotonic()
    while not condition():
        if system is not None:
            system.check_alive()
        if time.monotonic() - started > timeout:
            logs = (
                ""
                if system is None
                else "\n".join(f"--- {n}:\n{system.tail(n, 2500)}" for n in system.processes)
            )
            description = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout}s waiting for {description}\n{logs}", pytrace=False)
        time.sleep(0.2)
    return time.monotonic() - started


# --- the checks every fault test ends with ----------------------------------------------------


@dataclass
class Figures:
    test: str
    sent: int = 0  # commands answered 200 (their events must all be in the read models, once)
    refused: dict[int, int] = field(default_factory=dict)  # other answers, by status
    skipped: int = 0
    stored: int = 0  # events the services stored (setup included)
    in_read_models: int = 0
    on_topics: int = 0  # records on the topics (a re-sent batch counts twice)
    duplicates_dropped: int = 0
    publishing_stall_s: float = 0.0
    consuming_stall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = "".join(f", {k} {v}" for k, v in self.extra.items())
        refused = ", ".join(f"{n}x{status}" for status, n in sorted(self.refused.items())) or "none"
        return (
            f"{self.test}: events sent {self.sent} (commands accepted; refused: {refused}; "
            f"skipped ticks {self.skipped}), stored {self.stored}, in read models {self.in_read_models}, "
            f"records on topics {self.on_topics}, duplicates dropped {self.duplicates_dropped}, "
            f"publishing stalled {self.publishing_stall_s:.1f}s, "
            f"consuming stalled {self.consuming_stall_s:.1f}s"
            f"{extra}"
        )


def drain_and_check(
    system: System,
    load: Load,
    sampler: Sampler,
    figures: Figures,
    timeout: float = 180,
    in_doubt: Callable[[Outcome], bool] | None = None,
) -> Figures:
    """After the load: wait until every stored event is published and in the read models, then
    `carecoord verify`, and every accepted command's event present exactly once."""
    probe = Probe(system)
    seen: dict[str, Any] = {}
    try:

        def caught_up() -> bool:
            try:
                (stored, last), published = probe.stored(), probe.published()
                in_models, pending = probe.in_read_models(), probe.pending()
            except psycopg.Error as error:
                seen["error"] = error
                probe._conn = None
                return False
            seen.update(
                stored=stored, last_id=last, published=published, in_read_models=in_models, pending=pending
            )
            return published >= last and in_models >= stored and pending == 0

        wait_until(
            caught_up, timeout, lambda: f"every stored event published and in the read models: {seen}", system
        )
        stored, _ = probe.stored()
        in_models = probe.in_read_models()
        rows, distinct = probe.timeline()
        read_model_ids = probe.event_ids()
    finally:
        probe.close()

    verify = subprocess.run(
        [
            sys.executable, "-m", "carecoord.cli", "verify",
            "--postgres-url", system.read_model_url,
            "--bootstrap", system.cluster.bootstrap,
            "--topic-prefix", system.prefix,
            "--through", THROUGH.isoformat(),
        ],
        cwd=ROOT, env=system.env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert verify.returncode == 0, f"carecoord verify:\n{verify.stdout}{verify.stderr[-3000:]}"

    with system.services() as services:
        events = services.contract_events()
    stored_ids = {e.event_id for e in events}
    assert len(stored_ids) == len(events) == stored
    assert read_model_ids == stored_ids, (
        f"read models hold {len(read_model_ids - stored_ids)} unknown and miss "
        f"{len(stored_ids - read_model_ids)} stored events"
    )
    assert rows == distinct == stored, f"timeline: {rows} rows, {distinct} distinct events, {stored} stored"

    # Every accepted command's event is stored (and so in the read models, once); nothing refused is.
    keys: Counter[tuple[str, str]] = Counter()
    for e in events:
        if e.event_type == "ReferralReceived":
            keys[("referral", e.episode_id)] += 1
        elif e.event_type == "DeliveryCompleted":
            keys[("delivery", e.data.delivery_id)] += 1  # type: ignore[union-attr]
    accepted = load.accepted()
    missing = [o for o in accepted if keys[(o.kind, o.key)] != 1]
    assert not missing, f"{len(missing)} accepted commands without exactly one event, e.g. {missing[:3]}"
    # (A command the client gave up waiting for, status 0, may or may not have been stored.)
    refused = [o for o in load.outcomes if o.status not in (200, 0)]
    stored_anyway = [o for o in refused if keys[(o.kind, o.key)]]
    # One exception, which no client of any database escapes: a 503 for a command whose commit
    # reached the disk as the database went down, its acknowledgement lost with the connection.
    # `in_doubt` says which answers were given across the outage; the retry of each must be refused
    # as already done (409), so the client learns that it was stored.
    doubtful = [o for o in stored_anyway if o.status == 503 and in_doubt is not None and in_doubt(o)]
    unexplained = [o for o in stored_anyway if o not in doubtful]
    assert not unexplained, f"{len(unexplained)} refused commands stored anyway, e.g. {unexplained[:3]}"
    for outcome in doubtful:
        retried = load.resend(outcome)
        assert retried.status_code == 409, (outcome, retried.status_code, retried.text[:300])
        assert outcome.key in retried.json()["detail"], (outcome, retried.text[:300])
    figures.extra["stored_though_answered_503"] = len(doubtful)
    refused = [o for o in load.outcomes if o.status != 200]

    on_topics = sum(system.cluster.end_offsets(service_topics(system.prefix)).values())
    figures.sent = len(accepted)
    figures.refused = dict(Counter(o.status for o in refused))
    figures.skipped = load.skipped
    figures.stored = stored
    figures.in_read_models = in_models
    figures.on_topics = on_topics
    figures.duplicates_dropped = on_topics - stored
    assert on_topics >= stored
    return figures


@contextlib.contextmanager
def running_system(cluster: Cluster, pg_url: str, workdir: Path, tag: str) -> Iterator[System]:
    """A private schema and topic prefix on the cluster; processes stopped and both dropped afterwards."""
    from tests.support.postgres import private_schema

    keep = bool(os.environ.get("CARECOORD_TEST_KEEP_FAILED"))  # to look into a failure afterwards
    with contextlib.ExitStack() as stack:
        if keep:
            schema = f"{tag}_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
        else:
            schema = stack.enter_context(private_schema(pg_url, tag))
        system = System(cluster, pg_url, schema, f"c{uuid.uuid4().hex[:8]}.", workdir)
        cluster.create_topics(system.prefix)
        try:
            yield system
        finally:
            system.stop_all()
            if keep:
                print(f"kept: schema {schema}, topics {system.prefix}*, logs in {workdir}")
            else:
                cluster.delete_topics(system.topics)


def start_everything(system: System) -> None:
    """The API, the relays (one process, all five services) and a consumer group of two processes."""
    system.start_api()
    system.start_relay()
    system.start_consumers("project", 2)


def warm_up(system: System) -> None:
    """Until the load's events flow all the way to the read models."""
    probe = Probe(system)
    try:
        wait_until(lambda: probe.in_read_models() >= 20, 90, "the first events in the read models", system)
    finally:
        probe.close()
