"""The wall clock, read in one place: the shell asks it; the pure core never does."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utc_now() -> str:
    """Now, as an RFC 3339 timestamp in UTC with microseconds (for logs and bookkeeping rows)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def today_utc() -> date:
    """Today's date in UTC: the end date the live read models are computed through."""
    return datetime.now(UTC).date()


def utc_datetime() -> datetime:
    """Now, as an aware datetime in UTC (the 837P's creation time)."""
    return datetime.now(UTC)
