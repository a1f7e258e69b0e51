"""`make soak` (not in CI, not in `make test`): carecoord under steady load for a long time on the
three-node cluster, one broker restarted every few minutes.

Runs the API, the relays and a consumer group of two processes as processes of their own (the
fault tests' world, tests/support/cluster.py) on a private schema and topic prefix, sends commands
at a fixed rate through the HTTP API, and every `SOAK_RESTART_MINUTES` stops one broker (in turn
1, 2, 3) and starts it again. Reports per window of `SOAK_WINDOW_MINUTES`:

- the commands accepted, refused (by status) and skipped (every in-flight slot busy);
- freshness p50/p99: from an event's `recorded_at` to its episode visible in the read models, from
  the difference of the consumers' `carecoord_consumer_freshness_seconds` histogram over the
  window (interpolated within its buckets, as Prometheus' histogram_quantile does);
- the highest outbox and consumer lags scraped from the relay's and the consumers' /metrics;
- the peak resident memory of every carecoord process (API workers, relay and its readers,
  consumer members), sampled every 5 s.

At the end: the load stops, everything drains, and the checks of the fault tests run: every
accepted command's event stored and in the read models exactly once, `carecoord verify` clean
(lost and double-counted events, zero expected); memory growth after warm-up (the first window)
per process. Figures go to stdout and to `SOAK_REPORT` (default var/soak/report.json).

Environment: CARECOORD_TEST_KAFKA_CLUSTER (the cluster's bootstrap; `make soak` sets it),
CARECOORD_TEST_POSTGRES_URL, SOAK_MINUTES (30), SOAK_RATE (100 commands/s, a fifth of them
deliveries), SOAK_RESTART_MINUTES (5), SOAK_WINDOW_MINUTES (5), SOAK_API_WORKERS (2).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.support.cluster import (
    Cluster,
    Figures,
    Load,
    Probe,
    Sampler,
    System,
    drain_and_check,
    free_port,
    open_episodes,
    running_system,
    wait_until,
)
from tests.support.metrics import buckets, scrape, total

ROOT = Path(__file__).resolve().parents[1]


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


@dataclass
class Settings:
    minutes: float = field(default_factory=lambda: _env_float("SOAK_MINUTES", 30))
    rate: float = field(default_factory=lambda: _env_float("SOAK_RATE", 100))
    restart_minutes: float = field(default_factory=lambda: _env_float("SOAK_RESTART_MINUTES", 5))
    window_minutes: float = field(default_factory=lambda: _env_float("SOAK_WINDOW_MINUTES", 5))
    api_workers: int = field(default_factory=lambda: int(_env_float("SOAK_API_WORKERS", 2)))
    report: Path = field(
        default_factory=lambda: Path(os.environ.get("SOAK_REPORT") or "var/soak/report.json")
    )


# --- the freshness histogram ---------------------------------------------------------------------


def quantile(q: float, cumulative: list[tuple[float, float]]) -> float | None:
    """histogram_quantile: the q-quantile of a cumulative histogram, linear within the bucket."""
    if not cumulative or cumulative[-1][1] <= 0:
        return None
    rank = q * cumulative[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            width = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / width if width else 1.0)
        lower_bound, lower_count = bound, count
    return None


Buckets = list[tuple[float, float]]


def difference(after: Buckets, before: Buckets) -> Buckets:
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after]


# --- memory --------------------------------------------------------------------------------------


class Memory:
    """Peak resident memory of every process of the system (and its children), sampled every 5 s,
    per window."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.peaks: dict[int, dict[str, float]] = defaultdict(dict)  # window -> process -> MiB
        self.names: dict[int, str] = {}
        self.window = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory", daemon=True)

    def start(self) -> Memory:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _label(self, name: str, process: psutil.Process, parent: int) -> str:
        if process.pid == parent:
            return name
        if process.pid not in self.names:
            children = sum(1 for n in self.names.values() if n.startswith(f"{name}/"))
            self.names[process.pid] = f"{name}/child-{children + 1}"
        return self.names[process.pid]

    def _run(self) -> None:
        while not self._stop.wait(5.0):
            for name, popen in list(self.system.processes.items()):
                try:
                    root = psutil.Process(popen.pid)
                    processes = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for process in processes:
                    try:
                        rss = process.memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    label = self._label(name, process, popen.pid)
                    window = self.peaks[self.window]
                    window[label] = max(window.get(label, 0.0), rss)


# --- the run -------------------------------------------------------------------------------------


def start_system(system: System, settings: Settings, relay_port: int, project_port: int) -> None:
    system.start(
        "api", "serve", "--port", str(system.api_port), "--no-access-log", "--log-level", "warning",
        "--workers", str(settings.api_workers),
    )  # fmt: skip
    wait_until(lambda: _answers(f"{system.base_url}/health/ready"), 120, "the API ready", system)
    system.start("relay", "relay", "--batch-size", "500", "--metrics-port", str(relay_port))
    system.start_consumers("project", 2, "--metrics-port", str(project_port))


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def run(workdir: Path | None = None) -> dict[str, Any]:
    settings = Settings()
    workdir = Path(workdir or ROOT / "var" / "soak")
    workdir.mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("CARECOORD_TEST_KAFKA_CLUSTER")
    pg_url = os.environ.get("CARECOORD_TEST_POSTGRES_URL")
    if not bootstrap or not pg_url:
        raise SystemExit(
            "soak: set CARECOORD_TEST_KAFKA_CLUSTER and CARECOORD_TEST_POSTGRES_URL (make soak does)"
        )
    cluster = Cluster(bootstrap)
    status = cluster.script("status", check=False)
    if status.returncode != 0:
        raise SystemExit(f"soak: the cluster at {bootstrap} is not running:\n{status.stdout}{status.stderr}")
    report: dict[str, Any] = {
        "settings": {k: str(v) for k, v in settings.__dict__.items()},
        "windows": [],
        "restarts": [],
    }
    print(
        f"soak: {settings.minutes:g} min at {settings.rate:g} commands/s, a broker restarted every "
        f"{settings.restart_minutes:g} min, windows of {settings.window_minutes:g} min",
        flush=True,
    )
    with running_system(cluster, pg_url, workdir, "soak") as system:
        relay_port, project_port = free_port(), free_port()
        start_system(system, settings, relay_port, project_port)
        relay_url = f"http://127.0.0.1:{relay_port}/metrics"
        project_url = f"http://127.0.0.1:{project_port}/metrics"
        wait_until(lambda: _answers(relay_url) and _answers(project_url), 120, "the metrics served", system)
        memory = Memory(system).start()
        with Sampler(system, every=1.0) as sampler:
            deliveries = settings.rate / 5
            load = Load(system, referrals=settings.rate - deliveries, deliveries=deliveries, in_flight=16,
                        clock=sampler.now)  # fmt: skip
            open_episodes(system, load)
            load.start()
            started = time.monotonic()
            end = started + settings.minutes * 60
            window_s = settings.window_minutes * 60
            window_start, window_page = started, scrape(project_url)
            lags = {"outbox": 0.0, "consumer": 0.0}
            restarts = Restarts(cluster, system, settings.restart_minutes * 60, started, end, report)
            restarts.start()
            try:
                while time.monotonic() < end:
                    with_lags(lags, relay_url, project_url)
                    if time.monotonic() - window_start >= window_s:
                        window_start, window_page = close_window(
                            report, load, memory, lags, project_url, window_start, window_page, started
                        )
                    system.check_alive()
                    time.sleep(5.0)
                if time.monotonic() - window_start > 30:
                    close_window(report, load, memory, lags, project_url, window_start, window_page, started)
            finally:
                memory.stop()  # the windows' peaks: under load (the drain is timed below)
                restarts.stop()
                load.stop()
            drained = time.monotonic()
            figures = Figures("soak")
            try:
                drain_and_check(system, load, sampler, figures, timeout=900)
                report["checks"] = (
                    "passed: every accepted command's event stored and in the read models exactly once, "
                    "carecoord verify clean"
                )
            except BaseException as error:  # pytest's fail() is a BaseException
                report["checks"] = f"FAILED: {type(error).__name__}: {str(error)[:2000]}"
            report["drain_seconds"] = round(time.monotonic() - drained, 1)
            report["totals"] = totals(load, figures, system)
        report["memory"] = memory_report(memory)
    settings.report.parent.mkdir(parents=True, exist_ok=True)
    settings.report.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    return report


def with_lags(lags: dict[str, float], relay_url: str, project_url: str) -> None:
    try:
        lags["outbox"] = max(lags["outbox"], total(scrape(relay_url), "carecoord_relay_outbox_lag"))
        lags["consumer"] = max(lags["consumer"], total(scrape(project_url), "carecoord_consumer_lag"))
    except httpx.HTTPError:
        pass


def close_window(
    report: dict[str, Any], load: Load, memory: Memory, lags: dict[str, float], project_url: str,
    window_start: float, window_page: Any, started: float,
) -> tuple[float, Any]:  # fmt: skip
    now = time.monotonic()
    page = scrape(project_url)
    freshness = difference(
        buckets(page, "carecoord_consumer_freshness_seconds"),
        buckets(window_page, "carecoord_consumer_freshness_seconds"),
    )
    # The load's outcomes are timed by the sampler's clock, as `started` and the windows are.
    t0, t1 = window_start - started, now - started
    statuses = dict(load.statuses(load.clock() - (now - window_start), load.clock()))
    window = {
        "from_min": round(t0 / 60, 1),
        "to_min": round(t1 / 60, 1),
        "accepted": statuses.pop(200, 0),
        "refused": {str(k): v for k, v in sorted(statuses.items())},
        "freshness_events": int(freshness[-1][1]) if freshness else 0,
        "freshness_p50_s": _round(quantile(0.5, freshness)),
        "freshness_p99_s": _round(quantile(0.99, freshness)),
        "max_outbox_lag": lags["outbox"],
        "max_consumer_lag": lags["consumer"],
        "peak_rss_mib": {k: round(v, 1) for k, v in sorted(memory.peaks[memory.window].items())},
    }
    report["windows"].append(window)
    print(f"soak window {window['from_min']}-{window['to_min']} min: {json.dumps(window)}", flush=True)
    memory.window += 1
    lags["outbox"] = lags["consumer"] = 0.0
    return now, page


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class Restarts:
    """In a thread, every `every` seconds until 30 s before `end`: one broker restarted, in turn."""

    def __init__(
        self,
        cluster: Cluster,
        system: System,
        every: float,
        started: float,
        end: float,
        report: dict[str, Any],
    ) -> None:
        self.cluster, self.system, self.every = cluster, system, every
        self.started, self.end, self.report = started, end, report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="restarts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(600)

    def _run(self) -> None:
        node, at = 1, self.started + self.every
        while not self._stop.wait(max(0.0, at - time.monotonic())):
            if time.monotonic() > self.end - 30:
                return
            try:
                restart = restart_broker(self.cluster, self.system, node, time.monotonic() - self.started)
            except BaseException as error:  # reported; the run goes on
                restart = {"node": node, "error": f"{type(error).__name__}: {str(error)[:500]}"}
                self.cluster.start()  # whatever it left stopped
            self.report["restarts"].append(restart)
            node, at = node % 3 + 1, at + self.every


def restart_broker(cluster: Cluster, system: System, node: int, at: float) -> dict[str, Any]:
    """Stop one broker, start it again, wait for its replicas to be back in sync."""
    t = time.monotonic()
    cluster.stop(node)
    stopped = time.monotonic() - t
    cluster.start(node)
    started = time.monotonic() - t
    cluster.wait_in_sync(system.topics, timeout=300)
    in_sync = time.monotonic() - t
    restart = {"at_min": round(at / 60, 1), "node": node, "stop_s": round(stopped, 1),
               "started_s": round(started, 1), "in_sync_s": round(in_sync, 1)}  # fmt: skip
    print(f"soak restart: {json.dumps(restart)}", flush=True)
    return restart


def totals(load: Load, figures: Figures, system: System) -> dict[str, Any]:
    """The counts after the drain, read again (so that they are there even when a check failed)."""
    probe = Probe(system)
    try:
        stored, _ = probe.stored()
        in_read_models = probe.in_read_models()
        rows, distinct = probe.timeline()
    finally:
        probe.close()
    return {
        "commands_sent": len(load.outcomes),
        "commands_accepted": len(load.accepted()),
        "commands_refused": {str(k): v for k, v in sorted(load.statuses().items()) if k != 200},
        "skipped_ticks": load.skipped,
        "events_stored": stored,
        "events_in_read_models": in_read_models,
        "lost": stored - in_read_models,  # stored by a service, missing from the read models
        "double_counted": rows - distinct,  # timeline rows of an event seen before
        "records_on_topics": figures.on_topics,
        "duplicates_dropped": figures.duplicates_dropped,  # records re-sent, each counted once
    }


def memory_report(memory: Memory) -> dict[str, Any]:
    """Per process: peak over the run, peak in the first window (warm-up) and in the last, growth."""
    windows = sorted(memory.peaks)
    names = sorted({name for w in windows for name in memory.peaks[w]})
    out: dict[str, Any] = {}
    for name in names:
        series = [memory.peaks[w].get(name) for w in windows]
        present = [v for v in series if v is not None]
        first, last = present[0], present[-1]
        out[name] = {
            "peak_mib": round(max(present), 1),
            "warm_up_window_peak_mib": round(first, 1),
            "last_window_peak_mib": round(last, 1),
            "growth_after_warm_up_mib": round(last - first, 1),
        }
    return out


def print_report(report: dict[str, Any]) -> None:
    print("\n== soak report")
    print(f"settings: {report['settings']}")
    for w in report["windows"]:
        print(
            f"  {w['from_min']:>5}-{w['to_min']:<5} min: accepted {w['accepted']}, refused {w['refused']}, "
            f"freshness p50 {w['freshness_p50_s']} s, p99 {w['freshness_p99_s']} s "
            f"({w['freshness_events']} events), max lag outbox {w['max_outbox_lag']:.0f} "
            f"consumer {w['max_consumer_lag']:.0f}"
        )
    for r in report["restarts"]:
        print(f"  restart: {r}")
    print("peak memory (MiB): peak over the run / warm-up window / last window / growth")
    for name, m in report.get("memory", {}).items():
        print(
            f"  {name:<22} {m['peak_mib']:>8} {m['warm_up_window_peak_mib']:>8} "
            f"{m['last_window_peak_mib']:>8} {m['growth_after_warm_up_mib']:>+8}"
        )
    print(f"totals: {report.get('totals')}")
    print(f"drain after the load: {report.get('drain_seconds')} s")
    print(f"checks: {report.get('checks')}")


if __name__ == "__main__":
    run()
