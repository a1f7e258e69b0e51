"""Options shared by the commands that read a history file (`replay`, `worklist`, `claims`): the file
itself, `--as-of`, `--json`, and the date, timestamp and month types with their usage errors.

Each type raises `argparse.ArgumentTypeError`, so a malformed value is a usage error: a message and
exit status 2 (shared/contract.md).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from projections.core.claim_actions import Month

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(text: str) -> date:
    try:
        if not _ISO_DATE.fullmatch(text):  # date.fromisoformat alone takes week dates too
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def rfc3339_timestamp(text: str) -> str:
    from events.models import check_rfc3339

    try:
        return check_rfc3339(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def calendar_month(text: str) -> Month:
    from projections.core.claim_actions import Month

    try:
        return Month.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_history_arguments(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """The history file, `--as-of` and `--json`; each command adds its own day (`--through`, ...).
    With `optional`, the history file may be left out: the command then reads the live stores."""
    if optional:
        parser.add_argument(
            "history",
            nargs="?",
            help="a history file, JSON Lines in the event contract; without it, the live stores "
            "(the configured read models, as the running API reads them)",
        )
    else:
        parser.add_argument("history", help="a history file, JSON Lines in the event contract")
    parser.add_argument(
        "--as-of",
        type=rfc3339_timestamp,
        metavar="RFC3339",
        help="only events recorded at or before this instant",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON document of the contract")


def cannot_read(command: str, path: str, error: OSError) -> int:
    """Say that the history file cannot be read at all; the exit status for it."""
    print(f"carecoord {command}: cannot read {path}: {error.strerror}", file=sys.stderr)
    return 1
