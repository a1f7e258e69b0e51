"""Replaying a history file, on every core: the shell around `projections.core.history`.

The first pass (validation and choosing the copy of each event that counts) runs here and keeps
only where each line lies in the file. The second pass (parse, settle, render) is split by patient
over worker processes forked from this one, which read their lines from the shared mapping of the
file. Chunks come back in order, so the document is written in episode_id order without ever
holding more than the episodes still waiting for an earlier one.
"""

from __future__ import annotations

import gc
import heapq
import json
import mmap
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO

from projections.core.documents import episode_document, rejected_document
from projections.core.episode import project_patient
from projections.core.history import History, Rejected, episode_views, read_history, select_copies

# Below this many events one process is faster than forking others.
PARALLEL_THRESHOLD = 50_000
PATIENTS_PER_CHUNK = 250


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A history builds millions of objects and no reference cycles: the collector would only walk
    them again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_history_file(path: Path | str, as_of: datetime | None = None) -> History:
    """The first pass over a history file; lines are kept as (offset, length) into its mapping."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""

        def lines() -> Iterator[tuple[bytes, tuple[int, int]]]:
            offset = 0
            for line in file:
                yield line, (offset, len(line))
                offset += len(line)

        history = select_copies(lines(), as_of)
    history.mapped = mapped
    return history


# The history a forked worker settles: inherited from the parent at fork, never pickled.
_shared: tuple[History, date] | None = None


def _settle(patients: list[list[str]]) -> list[tuple[str, str]]:
    """In a worker: settle these patients' episodes and render each episode as JSON."""
    assert _shared is not None
    history, through = _shared
    rendered: list[tuple[str, str]] = []
    for episode_ids in patients:
        group = {episode_id: history.events_of(episode_id) for episode_id in episode_ids}
        rendered.extend(
            (view.episode_id, json.dumps(episode_document(view))) for view in project_patient(group, through)
        )
    return rendered


def rendered_episodes(history: History, through: date, workers: int) -> Iterator[str]:
    """Every episode's JSON, in episode_id order, settled by `workers` processes."""
    global _shared
    patients = list(history.episodes_by_patient().values())
    chunks = [patients[i : i + PATIENTS_PER_CHUNK] for i in range(0, len(patients), PATIENTS_PER_CHUNK)]
    _shared = (history, through)
    try:
        if workers <= 1:
            results: Iterator[list[tuple[str, str]]] = map(_settle, chunks)
            yield from _in_order(results, chunks)
            return
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            yield from _in_order(pool.imap(_settle, chunks), chunks)
    finally:
        _shared = None


def _in_order(results: Iterator[list[tuple[str, str]]], chunks: list[list[list[str]]]) -> Iterator[str]:
    """Chunks hold patients in the order of their first episode_id; a patient's later episodes
    wait until no chunk still to come can hold a smaller episode_id."""
    waiting: list[tuple[str, str]] = []
    for index, rendered in enumerate(results):
        for item in rendered:
            heapq.heappush(waiting, item)
        next_first = chunks[index + 1][0][0] if index + 1 < len(chunks) else None
        while waiting and (next_first is None or waiting[0][0] < next_first):
            yield heapq.heappop(waiting)[1]


def replay_file(
    path: Path | str,
    through: date,
    out: IO[str],
    as_of: datetime | None = None,
    as_of_text: str | None = None,
    workers: int | None = None,
) -> int:
    """`carecoord replay --json` for a file; returns the number of episodes written."""
    with _gc_paused():
        history = read_history_file(path, as_of)
        events = sum(len(lines) for lines in history.episodes.values())
        if workers is None:
            workers = os.cpu_count() or 1 if events >= PARALLEL_THRESHOLD else 1
        return write_document(
            out, through, as_of_text, rendered_episodes(history, through, workers), history.rejected
        )


def write_document(
    out: IO[str], through: date, as_of_text: str | None, episodes: Iterable[str], rejected: Iterable[Rejected]
) -> int:
    """Write the replay document from episodes already rendered as JSON, in episode_id order.

    Returns the number of episodes. The document equals `replay_document`'s, written piecewise
    so that a history of any size never has to be held whole.
    """
    out.write(f'{{"through": {json.dumps(through.isoformat())}, "as_of": {json.dumps(as_of_text)},\n')
    out.write(' "episodes": [')
    count = 0
    for episode in episodes:
        out.write(",\n  " if count else "\n  ")
        out.write(episode)
        count += 1
    out.write("\n ],\n" if count else "],\n")
    lines = ",\n  ".join(json.dumps(rejected_document(r)) for r in rejected)
    out.write(f' "rejected": [\n  {lines}\n ]\n}}\n' if lines else ' "rejected": []\n}\n')
    return count


def write_replay_json(
    lines: Iterable[str | bytes],
    through: date,
    out: IO[str],
    as_of: datetime | None = None,
    as_of_text: str | None = None,
) -> int:
    """Replay lines and write the document, one episode at a time; returns the episode count."""
    history = read_history(lines, as_of)
    rendered = (json.dumps(episode_document(view)) for view in episode_views(history, through))
    return write_document(out, through, as_of_text, rendered, history.rejected)
