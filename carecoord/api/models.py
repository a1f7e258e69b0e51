"""The value types of request bodies and the error bodies every endpoint may answer with.

Types are strict where the event contract is: a number sent as a string, `14.0` for a whole
number or `true` for a number is refused (422, naming the field). Dates are `YYYY-MM-DD` text
within a plausible range, timestamps RFC 3339 with an offset; text may not be blank, nor hold
NUL or unpaired surrogates (which no store can keep).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from events.models import check_rfc3339, instant
from services.common.errors import InvalidCommand
from services.common.values import plain_json

EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain NUL or unpaired surrogate characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _date_text(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date written YYYY-MM-DD, got {_kind(value)}")
    if not _DATE_TEXT.match(value):
        raise ValueError("expected a date written YYYY-MM-DD")
    return value


def _kind(value: object) -> str:
    """What was sent instead, without echoing it (it may identify a patient)."""
    return {bool: "true/false", int: "a number", float: "a number", type(None): "null"}.get(
        type(value), f"a JSON {'array' if isinstance(value, list) else 'object'}"
    )


def _date_between(earliest: date, latest: date) -> Any:
    def check(value: date) -> date:
        if not earliest <= value <= latest:
            raise ValueError(f"must be between {earliest} and {latest}")
        return value

    return AfterValidator(check)


def _timestamp(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 timestamp with an offset, got {_kind(value)}")
    moment = instant(check_rfc3339(value))
    if not EARLIEST <= moment.date() <= LATEST:
        raise ValueError(f"must be between {EARLIEST} and {LATEST}")
    return moment


Text = Annotated[
    StrictStr, Field(min_length=1, max_length=500), AfterValidator(_clean), AfterValidator(_not_blank)
]
Id = Annotated[
    StrictStr, Field(min_length=1, max_length=100), AfterValidator(_clean), AfterValidator(_not_blank)
]
Description = Annotated[StrictStr, Field(max_length=500), AfterValidator(_clean)]
Day = Annotated[date, BeforeValidator(_date_text), _date_between(EARLIEST, LATEST)]
BirthDate = Annotated[date, BeforeValidator(_date_text), _date_between(date(1880, 1, 1), LATEST)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
# A claim's period: a calendar month, YYYY-MM, within the same plausible range as dates.
Period = Annotated[
    StrictStr,
    Field(pattern=r"^(20[0-9]{2})-(0[1-9]|1[0-2])$", description="a calendar month, YYYY-MM"),
]


# Whole numbers, 0 or more, with a ceiling no real command reaches.
Hours = Annotated[StrictInt, Field(ge=0, le=8760)]
AuthUnits = Annotated[StrictInt, Field(ge=0, le=3660)]
DaysSupply = Annotated[StrictInt, Field(ge=0, le=365)]
ItemUnits = Annotated[StrictInt, Field(ge=0, le=100_000)]


def _plain_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Free-form findings: the assessments service's own rule (services/common/values.py): at most
    32 levels and 10 kB of JSON, finite numbers, storable text; refused here before it gets there."""
    try:
        plain_json("it", value)
    except InvalidCommand as error:
        raise ValueError(str(error).removeprefix("it ")) from None
    return value


Findings = Annotated[
    dict[str, Any] | None,
    AfterValidator(_plain_json),
    Field(description="free-form JSON object: at most 32 levels deep and 10 kB, finite numbers, no NUL"),
]

# An episode id in a path: the body's `Id` rules (1-100 characters, no NUL, no blanks) and one strict
# pattern: ASCII letters, digits, `_` and `-`, in parts joined by single `.` or `:`. No control or
# bidirectional characters, no `..`, nothing that decodes differently (`%FF` and `%EF%BF%BD`).
EPISODE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*(?:[.:][A-Za-z0-9_-]+)*$"
EPISODE_ID = re.compile(EPISODE_ID_PATTERN.removesuffix("$") + r"\Z")
EpisodeId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        pattern=EPISODE_ID_PATTERN,
        description="the care episode: letters, digits, `_` and `-`, in parts joined by `.` or `:`",
    ),
]


class RequestBody(BaseModel):
    """A command's body: unknown fields are refused, so a misspelt field never goes unnoticed."""

    model_config = ConfigDict(extra="forbid")


# --- error bodies ----------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """400, 401, 403, 404, 409, 413, 503: what went wrong (`detail`, naming the rule for a 409) and a
    stable code."""

    detail: str
    error: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """422: one entry per field that does not fit; `msg` starts with the field's dotted name.
    `error` is the stable code, as in every other error: `invalid_request` (the request does not fit
    its schema), `invalid_command` (the service refused the command's own values) or
    `idempotency_key_reused`."""

    detail: list[FieldError]
    error: str


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of an endpoint: those named, and always 503, since every endpoint reads or
    writes a store that can be away for the moment (PostgreSQL restarting)."""
    descriptions = {
        400: "the body could not be read as JSON (for instance, nested too deeply)",
        413: "the body is larger than 1 MiB",
        401: "no bearer token, or one that is not valid (signature, issuer, audience, expiry)",
        403: "the token's role may not do this",
        404: "unknown episode",
        409: "the command breaks a domain rule (named in `detail`), or conflicts with a running retry",
        422: "the request does not fit: each entry names the field",
        503: "the database or the episode feed is unavailable for the moment: retry after the "
        "`Retry-After` header's seconds (a command is stored only if its commit was under way as the "
        "database went away; its retry is then refused with 409)",
    }
    return {
        status: {
            "model": ValidationErrorBody if status == 422 else ErrorBody,
            "description": descriptions[status],
        }
        for status in sorted({*statuses, 503})
    }
