"""`carecoord replay HISTORY.jsonl --through DATE [--as-of T] [--json]`: the auditors' rebuild."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import date
from typing import Any


def _date(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _timestamp(text: str) -> str:
    from events.models import _check_rfc3339

    try:
        return _check_rfc3339(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("history", help="a history file, JSON Lines in the event contract")
    parser.add_argument("--through", type=_date, required=True, metavar="YYYY-MM-DD", help="last day to list")
    parser.add_argument(
        "--as-of", type=_timestamp, metavar="RFC3339", help="only events recorded at or before this instant"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON document of the contract")


def run(args: argparse.Namespace) -> int:
    from events import instant
    from projections.history import replay_document

    try:
        with open(args.history, "rb") as history:
            document = replay_document(
                history, args.through, instant(args.as_of) if args.as_of else None, args.as_of
            )
    except OSError as error:
        print(f"carecoord replay: cannot read {args.history}: {error.strerror}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(document, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_report(document)
    return 0


def print_report(document: dict[str, Any]) -> None:
    """A readable report per episode: billable days, reason counts and claim lines."""
    as_of = f" as of {document['as_of']}" if document["as_of"] else ""
    print(f"Replay through {document['through']}{as_of}: {len(document['episodes'])} episodes")
    for episode in document["episodes"]:
        reasons = Counter(day["reason"] for day in episode["days"])
        print()
        print(
            f"{episode['episode_id']}  patient {episode['patient_ref']}  {episode['status']}  "
            f"start of care {episode['start_of_care'] or '-'}  billable days {episode['billable_days']}"
        )
        if reasons:
            print("  days: " + ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items())))
        for line in episode["claim_lines"]:
            auth = f"  auth {line['authorization']}" if line["authorization"] else ""
            print(f"  {line['code']:<6} {line['from']} .. {line['to']}  units {line['units']:>3}{auth}")
    if document["rejected"]:
        print()
        print(f"{len(document['rejected'])} rejected lines:")
        for rejected in document["rejected"]:
            print(f"  line {rejected['line']}: {rejected['error']}")
