"""Serving Prometheus metrics from carecoord's long-running processes (prometheus-client).

A process of its own (`carecoord relay`, `carecoord serve` with one worker) serves the metrics it
keeps in memory. A group of processes (`carecoord project --processes N`, `carecoord serve
--workers N`) uses prometheus-client's multiprocess mode: each process writes its values to files
in one folder (`multiprocess_folder`, set before prometheus_client is first imported), and whoever
serves `/metrics` adds them up, so one port shows every member. What each metric means: README.md,
"Metrics".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("carecoord.metrics")


def registry(extra: Iterable[Any] = ()) -> Any:
    """What `/metrics` shows: this process's metrics, or in multiprocess mode every process's;
    and the `extra` collectors (values computed in the serving process, such as lags)."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    from carecoord.config import metrics_multiprocess_folder

    extra = list(extra)
    if metrics_multiprocess_folder() is not None:
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    elif not extra:
        return REGISTRY
    else:
        combined = CollectorRegistry()
        combined.register(_Everything(REGISTRY))
    for collector in extra:
        combined.register(collector)
    return combined


class _Everything:
    """The default registry as one collector of another registry (beside extra collectors)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterable[Any]:
        yield from self.source.collect()


def exposition(extra: Iterable[Any] = ()) -> tuple[bytes, str]:
    """The text format of `registry(extra)`, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(registry(extra)), CONTENT_TYPE_LATEST


def serve(port: int, host: str = "127.0.0.1", extra: Iterable[Any] = ()) -> Any:
    """Serve `/metrics` on `host:port` from a daemon thread; the server (`shutdown()` stops it)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=registry(extra))
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
