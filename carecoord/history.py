"""Every service's contract events in one stable order: what `carecoord export` writes and what
`GET /events` pages through.

Each service's notification log is read in its own stored order (its notification ids, which commit
in order: one writer at a time on SQLite, the library's table lock on PostgreSQL). The logs are
merged by `recorded_at`, then by the service's place in the contract's list, always comparing the
next unread event of each log: a merge of the logs as they stand, the same whatever the page size.
A cursor holds, per service, the position of the last event handed out, so a page never skips nor
repeats an event, even while commands keep arriving: a new event lands after its service's position.
(Events recorded after a page was read may carry a `recorded_at` earlier than events already handed
out from other services; they come on a later page, in the order of their own log.)
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from events import SERVICE_NAMES, Event
from services.common.application import ServiceApplication

CURSOR_PATTERN = rf"^[0-9]{{1,15}}(?:\.[0-9]{{1,15}}){{{len(SERVICE_NAMES) - 1}}}$"
_CURSOR = re.compile(CURSOR_PATTERN)
READ_BATCH = 1000


@dataclass(frozen=True)
class Cursor:
    """Per service (in the contract's order), the position of the last event handed out."""

    positions: tuple[int, ...] = (0,) * len(SERVICE_NAMES)

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if text is None:
            return cls()
        if not _CURSOR.fullmatch(text):
            raise ValueError(f"expected a cursor from an earlier page ({len(SERVICE_NAMES)} positions)")
        return cls(tuple(int(part) for part in text.split(".")))

    def __str__(self) -> str:
        return ".".join(str(position) for position in self.positions)


def merged(
    apps: Sequence[ServiceApplication], after: Cursor = Cursor(), limit: int | None = None
) -> tuple[list[Event], Cursor]:
    """Up to `limit` events (all when None) after the cursor, in the merged order, and the cursor
    after them (the same cursor when there were none)."""
    if [app.name for app in apps] != list(SERVICE_NAMES):
        raise ValueError(f"one application per service, in the contract's order: {SERVICE_NAMES}")
    positions = list(after.positions)
    taken: list[Event] = []
    for index, position, event in _merge(apps, after, limit):
        taken.append(event)
        positions[index] = position
        if limit is not None and len(taken) == limit:
            break
    return taken, Cursor(tuple(positions))


def _merge(
    apps: Sequence[ServiceApplication], after: Cursor, limit: int | None
) -> Iterator[tuple[int, int, Event]]:
    """(service index, position, event) in the merged order. With a limit, each log is read for at
    most `limit` events: no more can be handed out, so none is passed over."""

    def log(index: int, app: ServiceApplication) -> Iterator[tuple[datetime, int, int, int, Event]]:
        start = after.positions[index] + 1
        while True:
            batch = app.contract_events(start, limit if limit is not None else READ_BATCH)
            for position, event in batch:
                yield (event.recorded_instant, index, position, position, event)
            if limit is not None or not batch:
                return
            start = batch[-1][0] + 1

    for _, index, position, _, event in heapq.merge(*(log(i, app) for i, app in enumerate(apps))):
        yield index, position, event
