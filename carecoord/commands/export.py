"""`carecoord export [--as-of T] [--episode ID] > HISTORY.jsonl`: the history, from the stores.

Every service's contract events as JSON Lines, one envelope a line, in the order `GET /events`
gives them (carecoord/history.py), read from the configured stores (PostgreSQL, or the embedded
default under CARECOORD_DATA). `carecoord replay` reads what it writes.
"""

from __future__ import annotations

import argparse
import sys


def _timestamp(text: str) -> str:
    from events.models import check_rfc3339

    try:
        return check_rfc3339(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of", type=_timestamp, metavar="RFC3339", help="only events recorded at or before this instant"
    )
    parser.add_argument("--episode", metavar="ID", help="only this episode's events")


def run(args: argparse.Namespace) -> int:
    from carecoord.bootstrap import outbox_application
    from carecoord.config import ConfigError, Settings
    from carecoord.history import merged
    from events import SERVICE_NAMES, instant, to_json

    try:
        settings = Settings.from_env()
        apps = [outbox_application(name, settings) for name in SERVICE_NAMES]
    except ConfigError as error:
        print(f"carecoord export: {error}", file=sys.stderr)
        return 2
    as_of = instant(args.as_of) if args.as_of else None
    try:
        events, _ = merged(apps)
        out = sys.stdout
        for event in events:
            if as_of is not None and event.recorded_instant > as_of:
                continue
            if args.episode is not None and event.episode_id != args.episode:
                continue
            out.write(to_json(event) + "\n")
        out.flush()
    finally:
        for app in apps:
            app.close()
    return 0
