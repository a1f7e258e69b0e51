"""`carecoord replay HISTORY.jsonl --through DATE [--as-of T] [--json] [--html OUT.html]`: the
auditors' rebuild. `--html` also writes the calendar page of every episode (carecoord/calendar_html.py)
to a file: one file, a section per episode, each beginning a new printed page; what is printed on
standard output does not change."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from carecoord.commands._history_options import add_history_arguments, cannot_read, iso_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_history_arguments(parser)
    parser.add_argument(
        "--through", type=iso_date, required=True, metavar="YYYY-MM-DD", help="last day to list"
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="OUT.html",
        help="also write every episode's calendar to this file (one section per episode, A4 pages)",
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
        else:
            read = read_history_file(args.history, as_of)
    except OSError as error:
        return cannot_read("replay", args.history, error)
    if not args.json:
        print_report(args.through, args.as_of, episode_views(read, args.through), read.rejected)
    if args.html:
        try:  # a pass of its own: the one above let go of each patient's events once settled
            read = read_history_file(args.history, as_of)
        except OSError as error:
            return cannot_read("replay", args.history, error)
        return write_calendars(read, args.through, args.as_of, Path(args.history).name, args.html)
    return 0


def write_calendars(history: Any, through: date, as_of: str | None, name: str, out: Path) -> int:
    """The calendar page of every episode of a history (read), written to `out`, an episode at a time."""
    from carecoord.calendar_html import render
    from projections.core.calendar_view import episode_calendars

    pages = render(
        episode_calendars(history, through), through=through, as_of=as_of, title=f"S9363 calendars: {name}"
    )
    try:
        with out.open("w", encoding="utf-8") as file:
            file.writelines(pages)
    except OSError as error:
        print(f"carecoord replay: cannot write {out}: {error.strerror}", file=sys.stderr)
        return 1
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
