"""`--metrics-port` and `--metrics-host`, shared by the long-running commands (`relay`, `project`)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any


def add_metrics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (default: not served; README: Metrics)",
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1", help="address the metrics are served on (127.0.0.1)"
    )


def serve_metrics(args: argparse.Namespace, extra: Iterable[Any] = ()) -> Any:
    """The metrics server when `--metrics-port` was given (its `shutdown()` stops it), else None."""
    if args.metrics_port is None:
        return None
    from carecoord.metrics import serve

    return serve(args.metrics_port, args.metrics_host, extra)
