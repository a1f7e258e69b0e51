"""System time for `recorded_at`: the real clock, which a demo or a test may replace for a while.

The stored event's timestamp is the contract's `recorded_at`. In production it is always the
real time; `carecoord demo` runs a month in seconds, so it moves a simulated clock instead,
which makes late reports and `--as-of` meaningful on its data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_clock: ContextVar[Callable[[], datetime] | None] = ContextVar("carecoord_clock", default=None)


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    clock = _clock.get()
    return datetime.now(UTC) if clock is None else clock().astimezone(UTC)


@contextmanager
def use_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Within the block, events are recorded at the times `clock` returns (aware datetimes)."""
    token = _clock.set(clock)
    try:
        yield
    finally:
        _clock.reset(token)
