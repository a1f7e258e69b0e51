"""Checking a command's plain values, shared by the aggregates of every service.

Each function returns the value in the form the stored event keeps, or raises `InvalidCommand`
with a message that names the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from datetime import date, datetime
from typing import TypeVar

import pydantic_core

from services.common import clock
from services.common.errors import InvalidCommand

T = TypeVar("T", bound=str)


def text(field: str, value: object) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommand(f"{field} is required: expected a non-empty string, got {value!r}")
    return value


def one_of(field: str, value: object, allowed: Collection[T]) -> T:
    """A value from a listed set (a kind, a severity, a reason)."""
    if value not in allowed:
        raise InvalidCommand(f"{field} must be one of {', '.join(sorted(allowed))}, got {value!r}")
    return value  # type: ignore[return-value]


def calendar_date(field: str, value: object) -> date:
    """A local calendar date (a `date`, not a `datetime`)."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidCommand(f"{field} must be a calendar date, got {value!r}")
    return value


def whole_number(field: str, value: object, minimum: int = 0) -> int:
    """An int (not a bool) of at least `minimum`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidCommand(f"{field} must be a whole number, got {value!r}")
    if value < minimum:
        raise InvalidCommand(f"{field} must be {minimum} or more, got {value}")
    return value


def aware(field: str, value: object) -> datetime:
    """A timezone-aware datetime: an instant with its local offset."""
    if not isinstance(value, datetime):
        raise InvalidCommand(f"{field} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidCommand(f"{field} must carry a UTC offset (a timezone-aware datetime), got {value!r}")
    return value


def rfc3339(value: datetime) -> str:
    """The RFC 3339 text of an aware datetime, seconds always present."""
    return value.isoformat()


def occurred(occurred_at: datetime | None) -> str:
    """When it happened in the world: the caller's aware datetime, or now in UTC; as RFC 3339 text."""
    if occurred_at is None:
        return rfc3339(clock.now())
    return rfc3339(aware("occurred_at", occurred_at))


MAX_JSON_DEPTH = 32
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_JSON_BYTES = 10_000


def plain_json(field: str, value: object) -> dict[str, object] | None:
    """Free-form JSON (an assessment's findings): an object of at most `MAX_JSON_DEPTH` levels and
    `MAX_JSON_BYTES` of JSON, whose numbers are finite and whose text (keys too) holds no NUL and no
    unpaired surrogate. The JSON store, the contract's parser and Kafka then all see the same value:
    NaN is not JSON (the relay would publish `null`), NUL cannot be stored in PostgreSQL text, and the
    encoders stop at a few hundred levels. The message names the field, never the value."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidCommand(f"{field} must be a JSON object, got {type(value).__name__}")
    _check_plain(field, value, 1)
    if len(contract_json(value)) > MAX_JSON_BYTES:
        raise InvalidCommand(f"{field} must be at most {MAX_JSON_BYTES // 1000} kB of JSON")
    return value


def _check_plain(field: str, value: object, depth: int) -> None:
    if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
        raise InvalidCommand(f"{field} is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        _plain_text(field, value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidCommand(f"{field} must hold finite numbers only (no NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidCommand(f"{field} must have text keys")
            _plain_text(field, key)
            _check_plain(field, item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_plain(field, item, depth + 1)
    elif value is not None and not isinstance(value, bool | int):
        raise InvalidCommand(f"{field} must be plain JSON, got {type(value).__name__}")


def _plain_text(field: str, text: str) -> None:
    if _UNSTORABLE.search(text):
        raise InvalidCommand(f"{field} must not contain NUL or unpaired surrogate characters")


def contract_data(event_type: str, **data: object) -> None:
    """Refuse data that the public contract would not accept for `event_type`.

    The aggregates check their rules first, with their own words; this is the safety net that keeps
    a stored event from ever failing to map to its contract envelope.
    """
    from pydantic import ValidationError

    from events import DATA_MODELS
    from events.parsing import describe

    model = DATA_MODELS[event_type]
    try:
        model.model_validate_json(contract_json(data))
    except ValidationError as error:
        raise InvalidCommand(describe(error, event_type)) from None


def contract_json(value: object) -> bytes:
    """JSON text of command values (dates, contract models) as the contract's parser reads it.

    pydantic-core's encoder: five times faster than `json.dumps` with a `default`, which matters
    to the relay (every published event goes through it once).
    """
    return pydantic_core.to_json(value, fallback=_not_a_contract_value)


def _not_a_contract_value(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not a contract value")
