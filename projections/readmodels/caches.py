"""What a writer remembers between batches: events it parsed, and the views it wrote.

Both only save work. Whatever they hold or forget, the rows written are the same: an event's body
never changes once stored under its id, and a remembered view is trusted only where the stored
digest says the rows still hold it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from events import Event, parse_event
from projections.core.records import EpisodeRecord


class EventCache:
    """Parsed events by event_id, so a recomputed episode's stored events are not parsed again.

    Only what this process stored itself or read back from the table goes in, keyed by event_id
    (an id's stored body never changes), bounded to the most recently used `capacity` events.
    """

    def __init__(self, capacity: int = 300_000) -> None:
        self.capacity = capacity
        self._events: OrderedDict[str, Event] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            self._events[event.event_id] = event
        self._trim()

    def parse(self, event_id: str, body: str) -> Event:
        event = self._events.get(event_id)
        if event is None:
            self.misses += 1
            event = parse_event(body)
            self._events[event_id] = event
            self._trim()
        else:
            self.hits += 1
            self._events.move_to_end(event_id)
        return event

    def get(self, event_id: str) -> Event | None:
        event = self._events.get(event_id)
        if event is not None:
            self.hits += 1
            self._events.move_to_end(event_id)
        return event

    def clear(self) -> None:
        self._events.clear()

    def _trim(self) -> None:
        while len(self._events) > self.capacity:
            self._events.popitem(last=False)


class WrittenViews:
    """The records (views, spans, claims) one projector process last wrote, by episode, with the
    `through` stamp and their digests (bounded to the `capacity` most recently written episodes).

    An episode whose stored row carries the remembered record's digest holds exactly that record's
    rows (every writer writes an episode's rows and its digest in one transaction; whoever wrote
    them, an equal digest means an equal record). `replace_episodes` then leaves alone what did not
    change: each of its sections that is equal (a scheduled visit adds one timeline entry and a
    worklist span, and leaves the ~300 days of the ledger and the claims as they are). An episode
    whose stored digest is that of its new record is left alone whole, remembered or not (catching
    up, about half the recomputed episodes are a patient's other episodes that come out unchanged).
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._views: OrderedDict[str, tuple[EpisodeRecord, str, str]] = OrderedDict()
        self.skipped = 0

    def remembered(self, views: Iterable[EpisodeRecord], stamp: str) -> dict[str, tuple[EpisodeRecord, str]]:
        """episode_id -> (the record last written, its digest), for records of the same stamp."""
        found = {}
        for view in views:
            known = self._views.get(view.episode_id)
            if known is not None and known[1] == stamp:
                found[view.episode_id] = (known[0], known[2])
        return found

    def remember(self, views: Iterable[EpisodeRecord], stamp: str, digests: Mapping[str, str]) -> None:
        for view in views:
            self._views[view.episode_id] = (view, stamp, digests[view.episode_id])
            self._views.move_to_end(view.episode_id)
        while len(self._views) > self.capacity:
            self._views.popitem(last=False)

    def clear(self) -> None:
        self._views.clear()
