"""`carecoord rebuild`: the read models rebuilt from offset zero of the Kafka topics, then swapped in."""

from __future__ import annotations

import argparse

from carecoord.commands._kafka_options import add_connection_arguments, require_url, through_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument(
        "--through",
        type=through_date,
        metavar="YYYY-MM-DD",
        help="the read models' end date (default: today, UTC)",
    )


def run(args: argparse.Namespace) -> int:
    import time

    from carecoord.topics import service_topics
    from projections.kafka.audit import rebuild
    from runtime.clock import today_utc

    url = require_url(args, "rebuild")
    if url is None:
        return 2
    started = time.perf_counter()
    offsets = rebuild(
        url, args.bootstrap, service_topics(args.topic_prefix), args.prefix, args.through or today_utc()
    )
    print(
        f"carecoord rebuild: {sum(offsets.values()):,} records from offset zero into {args.prefix}* "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return 0
