"""`carecoord verify`: rebuild into scratch tables and compare every episode's digest with the live one."""

from __future__ import annotations

import argparse

from carecoord.commands._kafka_options import add_connection_arguments, require_url, through_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument(
        "--through",
        type=through_date,
        metavar="YYYY-MM-DD",
        help="end date to rebuild at (default: today, UTC); an episode stored at another date is "
        "recomputed at its own date",
    )


def run(args: argparse.Namespace) -> int:
    from carecoord.topics import service_topics
    from projections.kafka.audit import verify
    from runtime.clock import today_utc

    url = require_url(args, "verify")
    if url is None:
        return 2
    mismatches = verify(
        url, args.bootstrap, service_topics(args.topic_prefix), args.prefix, args.through or today_utc()
    )
    for m in mismatches:
        print(f"MISMATCH {m.episode_id}  live {m.live or '-'}  rebuilt {m.rebuilt or '-'}")
    if mismatches:
        print(f"carecoord verify: {len(mismatches)} episodes differ from a rebuild")
        return 1
    print("carecoord verify: every episode equals its rebuild")
    return 0
