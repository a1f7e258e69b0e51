"""`carecoord project`: the projection consumers, Kafka to the read models in PostgreSQL."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

from carecoord.commands._kafka_options import add_connection_arguments, require_url, through_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument(
        "--group-id", default="carecoord-projections", help="Kafka consumer group (carecoord-projections)"
    )
    parser.add_argument(
        "--through",
        type=through_date,
        metavar="YYYY-MM-DD",
        help="the read models' end date (default: today, UTC, at each batch)",
    )
    parser.add_argument(
        "--max-records",
        type=int,
        default=50_000,
        help="records per batch at most (50000): a batch is what waits, so only catching up fills it",
    )
    parser.add_argument(
        "--defer-above",
        type=int,
        default=10_000,
        metavar="N",
        help="catching up: while more than N records wait after a batch, its episodes are only marked "
        "pending, and recomputed once when the consumer has caught up (10000; -1: always)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="consumer processes in the group, this one included (default: the number of CPUs)",
    )
    parser.add_argument(
        "--until-caught-up",
        action="store_true",
        help="exit once the end offsets seen at start are stored (for catch-up runs and tests)",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="with --until-caught-up: give up after S s"
    )


def command_line(
    postgres_url: str, bootstrap: str, prefix: str, topic_prefix: str, group: str, through: date, *extra: str
) -> list[str]:
    """`carecoord project` with these settings, as a process to start (tests, benchmarks)."""
    return [
        sys.executable,
        "-m",
        "carecoord.cli",
        "project",
        "--postgres-url",
        postgres_url,
        "--bootstrap",
        bootstrap,
        "--prefix",
        prefix,
        "--topic-prefix",
        topic_prefix,
        "--group-id",
        group,
        "--through",
        through.isoformat(),
        *extra,
    ]


def run(args: argparse.Namespace) -> int:
    import asyncio

    from carecoord.topics import deadletter_topic, service_topics
    from projections.kafka.app import ConsumerSettings, Through
    from projections.kafka.group import default_processes, run_group, tune_garbage_collector
    from projections.kafka.offset_zero import end_offsets
    from runtime.processes import exit_now

    url = require_url(args, "project")
    if url is None:
        return 2
    processes = args.processes if args.processes is not None else default_processes()
    if processes < 1:
        print("carecoord project: --processes must be 1 or more")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_garbage_collector()
    settings = ConsumerSettings(
        bootstrap=args.bootstrap,
        postgres_url=url,
        topics=service_topics(args.topic_prefix),
        deadletter_topic=deadletter_topic(args.topic_prefix),
        prefix=args.prefix,
        group_id=args.group_id,
        through=Through(args.through),
        max_records=args.max_records,
        defer_above=args.defer_above,
    )
    targets = asyncio.run(end_offsets(settings.bootstrap, settings.topics)) if args.until_caught_up else None
    try:
        status = run_group(settings, processes, targets, args.timeout)
    except KeyboardInterrupt:
        status = 0
    exit_now(status)  # everything is committed and closed: skip the interpreter's teardown
    return status
