"""`carecoord replay HISTORY.jsonl --through DATE [--as-of T] [--json]`: the auditors' rebuild."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from carecoord.commands._history_options import add_history_arguments, cannot_read, iso_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_history_arguments(parser)
    parser.add_argument(
        "--through", type=iso_date, required=True, metavar="YYYY-MM-DD", help="last day to list"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="processes that settle episodes (default: one per core)"
    )


def run(args: argparse.Namespace) -> int:
    from events import instant
    from projections.core.history import episode_views
    from projections.replay import read_history_file, replay_file

    as_of = instant(args.as_of) if args.as_of else None
    try:
        if args.json:
            replay_file(args.history, args.through, sys.stdout, as_of, args.as_of, args.workers)
            return 0
        read = read_history_file(args.history, as_of)
    except OSError as error:
        return cannot_read("replay", args.history, error)
    print_report(args.through, args.as_of, episode_views(read, args.through), read.rejected)
    return 0


def print_report(through: date, as_of: str | None, views: Iterable[Any], rejected: Sequence[Any]) -> None:
    """A readable report per episode: billable days, reason counts and claim lines."""
    print(f"Replay through {through}" + (f" as of {as_of}" if as_of else ""))
    for view in views:
        reasons = Counter(day.reason for day in view.days)
        print()
        print(
            f"{view.episode_id}  patient {view.patient_ref}  {view.status}  "
            f"start of care {view.start_of_care or '-'}  billable days {view.billable_days}"
        )
        if reasons:
            print("  days: " + ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items())))
        for line in view.claim_lines:
            auth = f"  auth {line.authorization}" if line.authorization else ""
            print(f"  {line.code:<6} {line.from_date} .. {line.to_date}  units {line.units:>3}{auth}")
    if rejected:
        print()
        print(f"{len(rejected)} rejected lines:")
        for item in rejected:
            print(f"  line {item.line}: {item.error}")
