"""Parsing a line of the contract into a typed `Event`, or a `ContractError` that names the field.

The fast path hands the raw JSON to pydantic-core in one call (strict JSON mode parses dates
and refuses `"7"` or `7.0` for a whole number). Only when that fails do we look at the line
in Python: to upcast an older `schema_version`, or to word the error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, cast

from pydantic import Field, TypeAdapter, ValidationError, create_model
from pydantic_core import ErrorDetails

from events.models import CURRENT_SCHEMA_VERSION, DATA_MODELS, PERIOD_PATTERN, SOURCE_OF, Event
from events.upcasting import DEFAULT_UPCASTERS, UpcastError, Upcasters


class ContractError(ValueError):
    """A line that does not fit the contract. `event_id` is known when the line had one."""

    def __init__(self, message: str, event_id: str | None = None, event_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.event_id = event_id
        self.event_type = event_type


def _envelope_model(event_type: str) -> type[Event]:
    data_model = DATA_MODELS[event_type]
    source = SOURCE_OF[data_model]
    return cast(
        type[Event],
        create_model(
            f"{event_type}Event",
            __base__=Event,
            event_type=(Literal[event_type], ...),  # type: ignore[arg-type]
            source=(Literal[source], ...),  # type: ignore[arg-type]
            data=(data_model, ...),
        ),
    )


ENVELOPE_MODELS: dict[str, type[Event]] = {name: _envelope_model(name) for name in DATA_MODELS}

_ADAPTER: TypeAdapter[Event] = TypeAdapter(
    Annotated[Union[tuple(ENVELOPE_MODELS.values())], Field(discriminator="event_type")]  # type: ignore[arg-type]  # noqa: UP007
)


def parse_event(line: str | bytes, upcasters: Upcasters = DEFAULT_UPCASTERS) -> Event:
    """One line of JSON to a typed event; raises `ContractError` naming the event and field."""
    try:
        return _ADAPTER.validate_json(line)
    except ValidationError as fast_path_error:
        error = fast_path_error
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError(f"bad json: {exc}") from None
    if not isinstance(raw, dict):
        raise ContractError(f"bad json: expected an object, got {type(raw).__name__}")
    event_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
    event_type = raw.get("event_type") if isinstance(raw.get("event_type"), str) else None
    version = raw.get("schema_version")
    if type(version) is int and version != CURRENT_SCHEMA_VERSION and event_type in DATA_MODELS:
        try:
            upcast = upcasters.upcast(event_type, version, raw)
        except UpcastError as exc:
            raise ContractError(f"{event_type}.schema_version: {exc}", event_id, event_type) from None
        return parse_mapping(upcast, upcasters)
    raise ContractError(describe(error, event_type), event_id, event_type) from None


def parse_mapping(raw: Mapping[str, Any], upcasters: Upcasters = DEFAULT_UPCASTERS) -> Event:
    """A decoded JSON object to a typed event (dates still as text, as on the wire)."""
    return parse_event(json.dumps(raw), upcasters)


def describe(error: ValidationError, event_type: str | None) -> str:
    """Word pydantic's errors as `EventType.data.field: what was expected, got what`."""
    messages = [_describe_one(detail, event_type) for detail in error.errors(include_url=False)]
    return "; ".join(messages[:5]) + ("; ..." if len(messages) > 5 else "")


def _describe_one(detail: ErrorDetails, event_type: str | None) -> str:
    loc = [str(part) for part in detail["loc"]]
    kind = detail["type"]
    if kind == "union_tag_not_found":
        return "event.event_type: required field is missing"
    if kind == "union_tag_invalid":
        tag = detail.get("ctx", {}).get("tag")
        return f"event.event_type: unknown event type {tag!r}"
    if loc and loc[0] in DATA_MODELS:
        loc = loc[1:]
    where = ".".join([event_type or "event", *loc])
    return f"{where}: {_expectation(detail)}"


_EXPECTED = {
    "string_pattern_mismatch": "expected an RFC 3339 timestamp with an offset and a real date",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "date_type": "expected a date YYYY-MM-DD",
    "date_parsing": "expected a real date YYYY-MM-DD",
    "date_from_datetime_parsing": "expected a date YYYY-MM-DD",
    "list_type": "expected a list",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "string_too_short": "expected a non-empty string",
    "greater_than_equal": "expected 0 or more",
    "greater_than": "expected more than 0",
}

# A pattern mismatch is worded by the pattern; the timestamp's is the default.
_PATTERN_EXPECTED = {PERIOD_PATTERN: "expected a real month YYYY-MM"}


def _expectation(detail: ErrorDetails) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "required field is missing"
    if kind in ("json_invalid", "recursion_loop"):
        # The input here is the whole line (or command): never echoed.
        return "not valid JSON, or nested too deeply"
    if kind == "value_error":
        return str(detail.get("ctx", {}).get("error", detail["msg"]))
    if kind == "literal_error":
        return f"expected one of {detail.get('ctx', {}).get('expected')}, got {detail['input']!r}"
    expected = _EXPECTED.get(kind, detail["msg"])
    if kind == "string_pattern_mismatch":
        expected = _PATTERN_EXPECTED.get(str(detail.get("ctx", {}).get("pattern")), expected)
    return f"{expected}, got {_shown(detail['input'])}"


def _shown(value: object) -> str:
    """What was sent, as far as a message may show it: a long value (a whole object) is cut short."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({type(value).__name__}, {len(text)} characters)"


def make_event(
    *,
    event_id: str,
    episode_id: str,
    occurred_at: str,
    recorded_at: str,
    data: Any,
) -> Event:
    """Build a typed envelope around `data` (a data model instance); source and type follow from it."""
    event_type = type(data).__name__
    model = ENVELOPE_MODELS[event_type]
    return model(
        event_id=event_id,
        event_type=event_type,
        schema_version=1,
        source=SOURCE_OF[type(data)],
        episode_id=episode_id,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        data=data,
    )


def to_json(event: Event) -> str:
    """The envelope as one line of JSON, exactly as the contract defines it (absent optionals left out)."""
    return event.model_dump_json(exclude_none=True)
