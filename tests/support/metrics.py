"""Reading a process's Prometheus metrics page (the scrape test, `make soak`)."""

from __future__ import annotations

from collections import defaultdict

import httpx
from prometheus_client.parser import text_string_to_metric_families

Page = dict[str, list[tuple[dict[str, str], float]]]  # sample name -> [(labels, value)]


def scrape(url: str) -> Page:
    """Every sample of the page at `url`."""
    page: Page = defaultdict(list)
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        for sample in family.samples:
            page[sample.name].append((dict(sample.labels), sample.value))
    return page


def total(page: Page, name: str, **labels: str) -> float:
    """The sum of a sample's values over the series whose labels match."""
    return sum(v for found, v in page.get(name, []) if all(found.get(k) == x for k, x in labels.items()))


def buckets(page: Page, histogram: str) -> list[tuple[float, float]]:
    """A histogram's cumulative buckets, (upper bound, count), in order."""
    return sorted((float(labels["le"]), v) for labels, v in page.get(f"{histogram}_bucket", []))
