"""`carecoord worklist [HISTORY.jsonl] --today DATE [--as-of T] [--json]`: the coordinator's worklist
(shared/worklist.md) from a history file, patient by patient through the pure core; without a
history file, from the live stores: the item spans the read models keep, as `GET /worklist` reads
them (carecoord/live.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from carecoord.commands._history_options import add_history_arguments, cannot_read, iso_date

EVERY_ITEM = 2**62  # a page that holds the whole worklist

if TYPE_CHECKING:
    from projections.core.history import History, Rejected
    from projections.core.worklist import WorklistItem


def worklist_day(text: str) -> date:
    from projections.core.worklist import LAST_TODAY

    day = iso_date(text)
    if day > LAST_TODAY:
        raise argparse.ArgumentTypeError(
            f"expected a date up to {LAST_TODAY} (due dates reach 14 days on), got {text!r}"
        )
    return day


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_history_arguments(parser, optional=True)
    parser.add_argument(
        "--today", type=worklist_day, required=True, metavar="YYYY-MM-DD", help="the day the worklist is for"
    )


def run(args: argparse.Namespace) -> int:
    from events import instant
    from projections.replay import read_history_file

    as_of = instant(args.as_of) if args.as_of else None
    if args.history is None:
        from carecoord.config import ConfigError

        try:
            items, rejected = live_worklist(args.today, as_of), []
        except ConfigError as error:
            print(f"carecoord worklist: {error}", file=sys.stderr)
            return 2
    else:
        try:
            history = read_history_file(args.history, as_of)
        except OSError as error:
            return cannot_read("worklist", args.history, error)
        items, rejected = history_worklist(history, args.today), history.rejected
    if args.json:
        json.dump(worklist_document(args.today, args.as_of, items, rejected), sys.stdout, indent=1)
        print()
    else:
        print_worklist(args.today, args.as_of, items, rejected)
    return 0


def live_worklist(today: date, as_of: datetime | None) -> list[WorklistItem]:
    """Every item on `today` from the live stores (their dead letters are GET /dead-letters')."""
    from carecoord.config import Settings
    from carecoord.live import live_read_side

    with live_read_side(Settings.from_env()) as read_side:
        return read_side.worklist(today, limit=EVERY_ITEM, as_of=as_of).items


def history_worklist(history: History, today: date) -> list[WorklistItem]:
    """Every patient's worklist on `today`, one patient's episodes at a time, sorted."""
    from projections.core.worklist import item_order, worklist_items

    items: list[WorklistItem] = []
    for episode_ids in history.episodes_by_patient().values():
        items += worklist_items(
            {episode_id: history.events_of(episode_id) for episode_id in episode_ids}, today
        )
    return sorted(items, key=item_order)


def item_document(item: WorklistItem) -> dict[str, Any]:
    return {
        "episode_id": item.episode_id,
        "patient_ref": item.patient_ref,
        "kind": str(item.kind),
        "due": item.due.isoformat(),
        "key": item.key,
        "detail": item.detail,
    }


def worklist_document(
    today: date, as_of: str | None, items: Sequence[WorklistItem], rejected: Sequence[Rejected]
) -> dict[str, Any]:
    """The `--json` document of shared/worklist.md; `rejected` as `carecoord replay` lists it."""
    from projections.core.documents import rejected_document

    return {
        "today": today.isoformat(),
        "as_of": as_of,
        "items": [item_document(item) for item in items],
        "rejected": [rejected_document(line) for line in rejected],
    }


def _when(due: date, today: date) -> str:
    days = (due - today).days
    if days == 0:
        return "today"
    if days < 0:
        return f"{-days} day{'s' if days < -1 else ''} ago"
    return f"in {days} day{'s' if days > 1 else ''}"


def report_lines(
    today: date, as_of: str | None, items: Sequence[WorklistItem], rejected: Sequence[Rejected]
) -> Iterator[str]:
    """The worklist for people: one section per kind, in the table's order, items by due date."""
    from projections.core.worklist import ItemKind

    count = f"{len(items)} item{'s' if len(items) != 1 else ''}"
    yield f"Worklist for {today}" + (f" as of {as_of}" if as_of else "") + f": {count}"
    for kind in ItemKind:
        of_kind = [item for item in items if item.kind == kind]
        if not of_kind:
            continue
        yield ""
        yield f"{kind.replace('_', ' ').capitalize()} ({len(of_kind)})"
        when = [f"{item.due} ({_when(item.due, today)})" for item in of_kind]
        who = [f"{item.episode_id} ({item.patient_ref})" for item in of_kind]
        when_width, who_width = max(map(len, when)), max(map(len, who))
        for item, item_when, item_who in zip(of_kind, when, who, strict=True):
            yield f"  {item_when:<{when_width}}  {item_who:<{who_width}}  {item.detail}"
    if rejected:
        yield ""
        yield f"{len(rejected)} rejected lines:"
        yield from (f"  line {line.line}: {line.error}" for line in rejected)


def print_worklist(
    today: date, as_of: str | None, items: Sequence[WorklistItem], rejected: Sequence[Rejected]
) -> None:
    for line in report_lines(today, as_of, items, rejected):
        print(line)
