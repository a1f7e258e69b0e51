"""`/metrics` of every long-running process, scraped while commands flow: the API's (on its own port),
`carecoord relay --metrics-port` and `carecoord project --metrics-port` (a group of two processes
on one port). Under load the lags move; when the load stops they fall to zero. No label carries an
episode id or a patient's details.

On the development broker (one replica); the same processes as the fault tests of tests/cluster
(tests/support/cluster.py), with the single broker's topic settings.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from events import SERVICE_NAMES
from tests.support.api import PATIENT
from tests.support.cluster import (
    Cluster,
    Figures,
    Load,
    Sampler,
    System,
    drain_and_check,
    free_port,
    open_episodes,
    running_system,
    wait_until,
)
from tests.support.kafka import kafka_bootstrap
from tests.support.metrics import Page, buckets, scrape, total
from tests.support.postgres import postgres_url

pytestmark = pytest.mark.kafka


class Scrapes:
    def __init__(self, system: System, relay_port: int, project_port: int) -> None:
        self.urls = {
            "api": f"{system.base_url}/metrics",
            "relay": f"http://127.0.0.1:{relay_port}/metrics",
            "project": f"http://127.0.0.1:{project_port}/metrics",
        }
        self.label_values: set[str] = set()

    def all(self) -> dict[str, Page]:
        pages = {name: scrape(url) for name, url in self.urls.items()}
        for page in pages.values():
            for samples in page.values():
                for labels, _ in samples:
                    self.label_values.update(labels.values())
        return pages

    def lags(self) -> tuple[float, float]:
        """(outbox lag of every service, consumer lag of every partition)."""
        relay = scrape(self.urls["relay"])
        project = scrape(self.urls["project"])
        return total(relay, "carecoord_relay_outbox_lag"), total(project, "carecoord_consumer_lag")


def test_every_process_serves_metrics_and_the_lags_fall_to_zero_when_the_load_stops(tmp_path: Path) -> None:
    cluster = Cluster(kafka_bootstrap(), replication=1, min_insync=None)
    with running_system(cluster, postgres_url(), tmp_path, "metrics") as system:
        relay_port, project_port = free_port(), free_port()
        system.start_api()
        system.start("relay", "relay", "--batch-size", "500", "--metrics-port", str(relay_port))
        system.start_consumers("project", 2, "--metrics-port", str(project_port))
        scrapes = Scrapes(system, relay_port, project_port)
        wait_until(lambda: _answers(scrapes), 90, "every process serving /metrics", system)

        with Sampler(system) as sampler:
            load = Load(system, referrals=20, deliveries=4, clock=sampler.now)
            open_episodes(system, load)
            load.start()
            during: list[tuple[float, float]] = []
            try:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    during.append(scrapes.lags())
                    system.check_alive()
                    time.sleep(0.25)
                pages = scrapes.all()
            finally:
                load.stop()
            stopped = time.monotonic()
            after: list[tuple[float, float]] = []

            def lags_at_zero() -> bool:
                after.append(scrapes.lags())
                return after[-1] == (0, 0)

            wait_until(lags_at_zero, 120, lambda: f"the lags at zero (last: {after[-3:]})", system)
            to_zero = time.monotonic() - stopped
            figures = drain_and_check(system, load, sampler, Figures("metrics"))
        final = scrapes.all()

    accepted = len(load.accepted())
    outbox, consumer = [o for o, _ in during], [c for _, c in during]
    print(
        f"\nMETRICS under load ({len(during)} scrapes in 20 s, {accepted} commands accepted): "
        f"outbox lag max {max(outbox):.0f}, mean {sum(outbox) / len(outbox):.1f}; "
        f"consumer lag max {max(consumer):.0f}, mean {sum(consumer) / len(consumer):.1f}; "
        f"after the load: both 0 within {to_zero:.1f}s ({len(after)} scrapes); "
        f"freshness p50 <= {_quantile(final['project'], 0.5)}s, p99 <= {_quantile(final['project'], 0.99)}s"
    )

    api, relay, project = final["api"], final["relay"], final["project"]
    # The API: requests by route template and status, a latency histogram per route.
    referral_route = "/referrals/{episode_id}/receive-referral"
    assert total(api, "carecoord_api_requests_total", route=referral_route, status="200") >= accepted / 2
    assert total(api, "carecoord_api_request_seconds_count", route=referral_route) >= accepted / 2
    assert total(api, "carecoord_api_requests_total", route="/health/live") == 0  # never asked here
    # The relay: every stored event published, positions equal, its lock held, publish latency.
    for service in ("referrals", "deliveries"):
        assert total(relay, "carecoord_relay_lock_held", service=service) == 1
        assert total(relay, "carecoord_relay_events_published_total", service=service) > 0
        assert total(relay, "carecoord_relay_publish_seconds_count", service=service) > 0
        assert total(relay, "carecoord_relay_outbox_lag", service=service) == 0
    assert total(relay, "carecoord_relay_events_published_total") >= figures.stored
    # The consumers: both members' counts add up on the one port.
    assert total(project, "carecoord_consumer_records_total") >= figures.stored
    assert total(project, "carecoord_consumer_batch_records_count") > 0
    assert total(project, "carecoord_consumer_freshness_seconds_count") > 0
    assert total(project, "carecoord_consumer_episodes_recomputed_total") > 0
    assert total(project, "carecoord_consumer_dead_letters_total") == 0
    assert len(project["carecoord_consumer_lag"]) == len(SERVICE_NAMES) * 6  # every partition
    # No label names an episode or a patient: route templates, services, topics and partitions only.
    for value in scrapes.label_values:
        assert "ep-" not in value, value
        for detail in PATIENT.values():
            assert detail not in value, value
    del pages


def _answers(scrapes: Scrapes) -> bool:
    try:
        pages = scrapes.all()
    except httpx.HTTPError:
        return False
    return all(pages.values()) and "carecoord_consumer_lag" in pages["project"]


def _quantile(page: Page, q: float) -> Any:
    """The upper bound of the freshness bucket holding the quantile."""
    cumulative = buckets(page, "carecoord_consumer_freshness_seconds")
    if not cumulative or cumulative[-1][1] == 0:
        return None
    count = cumulative[-1][1]
    return next(le for le, v in cumulative if v >= q * count)
