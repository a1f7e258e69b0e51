"""Running the worklist over a built history, the direct way and from item spans, which must agree."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from carecoord.commands.worklist import history_worklist
from events import instant
from projections.core.history import read_history
from projections.core.worklist import WorklistItem
from projections.core.worklist_spans import ItemSpan, items_on, worklist_spans
from tests.support.history_builder import History

Row = tuple[str, str, str | None]  # (kind, due, key)


def worklist_of(lines: Iterable[str], today: str, as_of: str | None = None) -> list[WorklistItem]:
    """The worklist on `today`, checked against the one the item spans give for the same day."""
    lines = list(lines)
    as_of_instant = instant(as_of) if as_of else None
    items = history_worklist(read_history(lines, as_of_instant), date.fromisoformat(today))
    assert items_on(spans_of(lines, as_of), date.fromisoformat(today)) == items
    return items


def spans_of(lines: Iterable[str], as_of: str | None = None) -> list[ItemSpan]:
    history = read_history(list(lines), instant(as_of) if as_of else None)
    spans: list[ItemSpan] = []
    for episode_ids in history.episodes_by_patient().values():
        spans += worklist_spans({episode_id: history.events_of(episode_id) for episode_id in episode_ids})
    return spans


def rows(h: History, today: str, kind: str | None = None, episode_id: str | None = None) -> list[Row]:
    """(kind, due, key) of the items of one episode (the builder's own by default), in order."""
    episode_id = episode_id or h.ep
    return [
        (str(item.kind), item.due.isoformat(), item.key)
        for item in worklist_of(h.lines(), today)
        if item.episode_id == episode_id and (kind is None or item.kind == kind)
    ]


def dues(h: History, today: str, kind: str, episode_id: str | None = None) -> list[str]:
    """The due dates of one kind's items of one episode."""
    return [due for _, due, _ in rows(h, today, kind, episode_id)]
