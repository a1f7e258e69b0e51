"""Queries: episodes, one episode's timeline and daily ledger, claim lines, dead letters, the access log.

Every query first lets the projector catch up (read-your-writes), and every read of an episode is
written to the access log before the answer leaves. `as_of` (auditors only) answers from the events
recorded at or before that instant, through the pure core.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from carecoord.api.access_log import ALLOWED, REFUSED
from carecoord.api.auth import Caller
from carecoord.api.claims_models import PeriodClaimsOut
from carecoord.api.deps import ApiError, Runtime, require, runtime
from carecoord.api.guard import GuardedRoute
from carecoord.api.models import Day, EpisodeId, Period, error_responses
from carecoord.api.readmodel import EpisodeRow, Ledger, ledger_of
from carecoord.api.roles import allowed
from carecoord.history import CURSOR_PATTERN, Cursor, merged
from events import to_json
from events.models import check_rfc3339, instant
from projections.core.claim_actions import Action
from services.common.actor import TEAM_BOUND_ROLES

router = APIRouter(route_class=GuardedRoute)


def _instant(value: str | None) -> datetime | None:
    return None if value is None else instant(check_rfc3339(value))


def _rfc3339_query(value: str | None) -> str | None:
    """An instant sent in a query: a `+` in a URL reads as a space, so say how to send it."""
    if value is not None and " " in value:
        raise ValueError(
            "a '+' in a URL must be sent URL-encoded as %2B (2026-03-10T00:00:00%2B01:00), "
            "or write the instant in UTC with Z (2026-03-09T23:00:00Z)"
        )
    return None if value is None else check_rfc3339(value)


AsOf = Annotated[
    str | None,
    Query(
        description="RFC 3339 instant: only events recorded at or before it count (auditors only). "
        "`Z` or an offset; a `+` must be sent URL-encoded as `%2B`"
    ),
    AfterValidator(_rfc3339_query),
]
Through = Annotated[Day | None, Query(description="the last day of the ledger, YYYY-MM-DD (default: today)")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
# An episode's status (shared/contract.md, projections.core.episode.status): any other is a 422.
EpisodeStatus = Literal["referred", "accepted", "active", "on_hold", "inpatient", "discontinued", "declined"]


class Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class EpisodeOut(Out):
    episode_id: str
    patient_ref: str
    payer_id: str
    status: str
    start_of_care: str | None
    billable_days: int
    through: str = Field(description="the day the read model was computed through")

    @classmethod
    def of(cls, row: EpisodeRow) -> EpisodeOut:
        return cls(**row.__dict__)


class PageLinks(Out):
    next: str | None = Field(description="the next page (same filters), or null on the last")
    prev: str | None = Field(description="the previous page, or null on the first")


class EpisodeList(Out):
    episodes: list[EpisodeOut]
    total: int = Field(description="episodes matching the filters, all pages together")
    limit: int
    offset: int
    links: PageLinks


class TimelineEntryOut(Out):
    occurred_at: str
    recorded_at: str
    event_type: str
    source: str
    event_id: str
    summary: str
    data: dict[str, Any] = Field(
        description="the event's `data` as the event contract defines it for its type (never "
        "demographics: events do not hold them)"
    )


class TimelineOut(Out):
    episode_id: str
    as_of: str | None
    entries: list[TimelineEntryOut]


class DayOut(Out):
    date: str
    billable: bool
    reason: str
    authorization: str | None


class LedgerOut(EpisodeOut):
    as_of: str | None
    days: list[DayOut]

    @classmethod
    def of_ledger(cls, ledger: Ledger, as_of: str | None) -> LedgerOut:
        days = [DayOut(date=d, billable=b, reason=r, authorization=a) for d, b, r, a in ledger.days]
        return cls(**ledger.episode.__dict__, as_of=as_of, days=days)


class ClaimLineOut(Out):
    episode_id: str
    patient_ref: str
    code: str
    from_: str = Field(alias="from")
    to: str
    units: int
    authorization: str | None


class PayerClaims(Out):
    payer_id: str
    lines: list[ClaimLineOut]


class ClaimsOut(Out):
    from_: str = Field(alias="from")
    to: str
    payers: list[PayerClaims]


class DeadLetterOut(Out):
    stream: str
    position: str
    event_id: str | None
    error: str
    payload: str


class DeadLettersOut(Out):
    dead_letters: list[DeadLetterOut]


class AccessEntryOut(Out):
    seq: int
    at: str
    subject: str = Field(description="the token's subject; empty when the request had no valid token")
    role: str
    episode_id: str | None
    endpoint: str
    outcome: Literal["allowed", "refused"] = Field(
        description="refused: 401, 403, or the 404 of an episode the caller may not read"
    )
    status: int | None = Field(description="the answer's status (null on entries older than it)")
    reason: str | None = Field(description="why it was refused")
    query: dict[str, str] = Field(description="the query parameters of the request")


class AccessLogOut(Out):
    entries: list[AccessEntryOut]


def _endpoint(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def _answer(model: Out) -> Response:
    """The model as JSON, validated once: returned as a Response, FastAPI does not validate it against
    `response_model` a second time (which, for a ledger of a few hundred days, cost more than reading it)."""
    return Response(content=model.model_dump_json(by_alias=True), media_type="application/json")


def _fresh(rt: Runtime) -> Runtime:
    rt.read_side.catch_up()
    return rt


def _check_as_of(caller: Caller, as_of: str | None) -> None:
    if as_of is not None and not allowed("read_as_of", caller.role):
        raise ApiError(403, "forbidden", f"role {caller.role!r} may not read as_of (auditors only)", caller)


class NotOnCareTeam(ApiError):
    """A nurse asked for an episode whose care team she is not on: answered as an unknown episode."""


def _may_read(rt: Runtime, caller: Caller, episode_id: str) -> None:
    """A nurse reads only the episodes whose care team she is on; the others are unknown to her."""
    if caller.role in TEAM_BOUND_ROLES and caller.sub not in rt.read_side.care_team(episode_id):
        raise NotOnCareTeam(404, "episode_unknown", _unknown(episode_id).detail, caller)


@contextmanager
def _read(rt: Runtime, caller: Caller, request: Request, episode_ids: list[str | None]) -> Iterator[None]:
    """Around one read: its access-log entry, written however it is answered, with its query
    parameters; `episode_ids` may be filled in by the read (the episodes it returned)."""
    status, outcome, reason = 200, ALLOWED, None
    try:
        yield
    except NotOnCareTeam as error:
        status, outcome, reason = error.status, REFUSED, "not on the episode's care team"
        raise
    except ApiError as error:
        status = error.status
        if status in (401, 403):
            outcome, reason = REFUSED, error.detail
        raise
    except RequestValidationError:
        status = 422
        raise
    except BaseException:
        status = 500
        raise
    finally:
        rt.access_log.record(
            caller.sub,
            caller.role,
            _endpoint(request),
            episode_ids,
            status=status,
            outcome=outcome,
            reason=reason,
            query=dict(request.query_params),
        )


def _unknown(episode_id: str, as_of: str | None = None) -> ApiError:
    if as_of is not None:
        return ApiError(404, "episode_unknown", f"episode {episode_id} was not known as of {as_of}")
    return ApiError(404, "episode_unknown", f"episode {episode_id} is unknown")


ReadEpisodes = Annotated[Caller, Depends(require("read_episodes"))]
Fresh = Annotated[Runtime, Depends(runtime)]


@router.get(
    "/episodes",
    operation_id="list_episodes",
    response_model=EpisodeList,
    tags=["queries"],
    responses=error_responses(401, 403, 422),
    summary="Episodes, filtered by status, patient, payer, or days listed within a date range",
)
def list_episodes(
    request: Request,
    caller: ReadEpisodes,
    rt: Fresh,
    status: Annotated[
        EpisodeStatus | None, Query(description="one of the statuses of shared/contract.md")
    ] = None,
    patient_ref: Annotated[str | None, Query(max_length=100)] = None,
    payer: Annotated[str | None, Query(max_length=100)] = None,
    days_from: Annotated[Day | None, Query(alias="from", description="has a listed day on or after")] = None,
    days_to: Annotated[Day | None, Query(alias="to", description="has a listed day on or before")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> EpisodeList:
    read: list[str | None] = []
    with _read(rt, caller, request, read):
        _fresh(rt)
        filters: dict[str, Any] = {
            "status": status,
            "patient_ref": patient_ref,
            "payer": payer,
            "days_from": days_from,
            "days_to": days_to,
            # A nurse lists only the episodes whose care team she is on.
            "among": rt.read_side.care_team_episodes(caller.sub) if caller.role in TEAM_BOUND_ROLES else None,
        }
        rows = rt.read_side.episodes(**filters, limit=limit, offset=offset)
        total = rt.read_side.count_episodes(**filters)
        read += [row.episode_id for row in rows] or [None]
    return EpisodeList(
        episodes=[EpisodeOut.of(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
        links=PageLinks(
            next=_page(request, limit, offset + limit) if offset + len(rows) < total else None,
            prev=_page(request, limit, max(0, offset - limit)) if offset > 0 else None,
        ),
    )


def _page(request: Request, limit: int, offset: int) -> str:
    """The same request (path and filters) for another page, as a link relative to the server."""
    url = request.url.include_query_params(limit=limit, offset=offset)
    return f"{url.path}?{url.query}"


@router.get(
    "/episodes/{episode_id}",
    operation_id="get_episode",
    response_model=EpisodeOut,
    tags=["queries"],
    responses=error_responses(401, 403, 404, 422),
    summary="One episode: patient_ref, payer, status, start of care, billable days",
)
def get_episode(request: Request, episode_id: EpisodeId, caller: ReadEpisodes, rt: Fresh) -> EpisodeOut:
    with _read(rt, caller, request, [episode_id]):
        _fresh(rt)
        _may_read(rt, caller, episode_id)
        row = rt.read_side.episode(episode_id)
        if row is None:
            raise _unknown(episode_id)
    return EpisodeOut.of(row)


@router.get(
    "/episodes/{episode_id}/timeline",
    operation_id="get_timeline",
    response_model=TimelineOut,
    tags=["queries"],
    responses=error_responses(401, 403, 404, 422),
    summary="One episode's events in the order they happened",
)
def get_timeline(
    request: Request, episode_id: EpisodeId, caller: ReadEpisodes, rt: Fresh, as_of: AsOf = None
) -> Response:
    with _read(rt, caller, request, [episode_id]):
        _check_as_of(caller, as_of)
        _fresh(rt)
        _may_read(rt, caller, episode_id)
        rows = rt.read_side.timeline_with_data(episode_id, _instant(as_of))
        if rows is None:
            raise _unknown(episode_id, as_of)
        entries = [
            TimelineEntryOut(**dict(zip(TimelineEntryOut.model_fields, row, strict=True))) for row in rows
        ]
    return _answer(TimelineOut(episode_id=episode_id, as_of=as_of, entries=entries))


@router.get(
    "/episodes/{episode_id}/ledger",
    operation_id="get_ledger",
    response_model=LedgerOut,
    tags=["queries"],
    responses=error_responses(401, 403, 404, 422),
    summary="One episode's daily per-diem ledger, each day billable or not with its reason",
)
def get_ledger(
    request: Request,
    episode_id: EpisodeId,
    caller: ReadEpisodes,
    rt: Fresh,
    through: Through = None,
    as_of: AsOf = None,
) -> Response:
    with _read(rt, caller, request, [episode_id]):
        _check_as_of(caller, as_of)
        _fresh(rt)
        _may_read(rt, caller, episode_id)
        end = through or rt.read_side.today()
        if as_of is None:
            ledger = rt.read_side.ledger(episode_id, end)
        else:
            view = rt.read_side.recompute(episode_id, end, _instant(as_of))
            ledger = None if view is None else ledger_of(view, end)
        if ledger is None:
            raise _unknown(episode_id, as_of)
    return _answer(LedgerOut.of_ledger(ledger, as_of))


def _invalid(field: str, message: str) -> NoReturn:
    raise RequestValidationError([{"loc": ("query", field), "msg": message, "type": "value_error"}])


CLAIM_COLUMNS = ("payer_id", "episode_id", "patient_ref", "code", "from", "to", "units", "authorization")


@router.get(
    "/claims",
    operation_id="get_claims",
    response_model=ClaimsOut | PeriodClaimsOut,
    tags=["queries"],
    responses={
        **error_responses(401, 403, 422),
        200: {
            "description": "with from and to: the claim lines dated in the range, per payer, each "
            "clipped to it; with period: every episode's claim for the period (claims.md), with the "
            "corrections of each REPLACE and VOID",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
    summary="Claim lines in a date range, per payer, or a period's claims (JSON or CSV)",
)
def get_claims(
    request: Request,
    caller: Annotated[Caller, Depends(require("read_claims"))],
    rt: Fresh,
    period_from: Annotated[Day | None, Query(alias="from", description="first day of the range")] = None,
    period_to: Annotated[Day | None, Query(alias="to", description="last day of the range")] = None,
    payer: Annotated[str | None, Query(max_length=100)] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
    period: Annotated[
        Period | None, Query(description="a calendar month, YYYY-MM: its claims instead of lines")
    ] = None,
    action: Annotated[Action | None, Query(description="with period: only claims of this action")] = None,
    changes: Annotated[
        bool, Query(description="with period: show what made each REPLACE or VOID claim wrong")
    ] = True,
    as_of: AsOf = None,
) -> ClaimsOut | PeriodClaimsOut | Response:
    if period is not None:
        if period_from is not None or period_to is not None or payer is not None:
            _invalid("period", "give either period, or from and to (and payer), not both")
        _check_as_of(caller, as_of)
        from carecoord.api.claims import period_claims_answer  # it builds on this module's helpers

        return period_claims_answer(request, caller, rt, period, action, as_of, changes, format)
    if period_from is None or period_to is None:
        _invalid("from" if period_from is None else "to", "required (or give period instead)")
    assert period_from is not None and period_to is not None
    if action is not None or as_of is not None:
        _invalid("action" if action is not None else "as_of", "only with period")
    if period_to < period_from:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "to"),
                    "msg": f"to ({period_to}) is before from ({period_from})",
                    "type": "value_error",
                }
            ]
        )
    read: list[str | None] = []
    with _read(rt, caller, request, read):
        _fresh(rt)
        rows = rt.read_side.claim_lines(period_from, period_to, payer)
        read += [row[1] for row in rows] or [None]
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CLAIM_COLUMNS)
        writer.writerows([[_cell(value) for value in row] for row in rows])
        name = f"claims-{period_from.isoformat()}-{period_to.isoformat()}.csv"
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    payers: dict[str, list[ClaimLineOut]] = {}
    for payer_id, episode_id, patient_ref, code, start, end, units, authorization in rows:
        payers.setdefault(payer_id, []).append(
            ClaimLineOut(
                episode_id=episode_id,
                patient_ref=patient_ref,
                code=code,
                **{"from": start},
                to=end,
                units=units,
                authorization=authorization,
            )
        )
    return ClaimsOut(
        **{"from": period_from.isoformat()},
        to=period_to.isoformat(),
        payers=[PayerClaims(payer_id=p, lines=lines) for p, lines in payers.items()],
    )


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...), @SUM(...));
# tab and carriage return start one in some. Such a cell is written with a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@router.get(
    "/dead-letters",
    operation_id="get_dead_letters",
    response_model=DeadLettersOut,
    tags=["queries"],
    responses=error_responses(401, 403, 422),
    summary="Events that did not fit the contract, with the reason",
)
def get_dead_letters(
    request: Request,
    caller: Annotated[Caller, Depends(require("read_dead_letters"))],
    rt: Fresh,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DeadLettersOut:
    with _read(rt, caller, request, [None]):
        _fresh(rt)
        rows = rt.read_side.dead_letters(limit, offset)
    return DeadLettersOut(
        dead_letters=[
            DeadLetterOut(**dict(zip(DeadLetterOut.model_fields, row, strict=True))) for row in rows
        ]
    )


def _utc(value: str | None) -> str | None:
    moment = _instant(_rfc3339_query(value))
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


@router.get(
    "/access-log",
    operation_id="get_access_log",
    response_model=AccessLogOut,
    tags=["queries"],
    responses=error_responses(401, 403, 422),
    summary="Who read which episode, when, through which endpoint (auditors only)",
)
def get_access_log(
    request: Request,
    caller: Annotated[Caller, Depends(require("read_access_log"))],
    rt: Fresh,
    episode_id: Annotated[str | None, Query(max_length=100)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[str | None, Query(description="RFC 3339"), AfterValidator(_utc)] = None,
    until: Annotated[str | None, Query(description="RFC 3339"), AfterValidator(_utc)] = None,
    outcome: Annotated[
        Literal["allowed", "refused"] | None, Query(description="refused: 401, 403, or a hidden episode")
    ] = None,
    after: Annotated[int, Query(ge=0, le=2**53, description="only entries with a larger seq")] = 0,
    limit: Limit = 100,
) -> AccessLogOut:
    with _read(rt, caller, request, [None]):
        entries = rt.access_log.entries(
            episode_id=episode_id,
            subject=subject,
            since=since,
            until=until,
            outcome=outcome,
            after=after,
            limit=limit,
        )
    return AccessLogOut(entries=[AccessEntryOut(**entry.__dict__) for entry in entries])


class EventsPage(Out):
    events: list[dict[str, Any]] = Field(description="contract envelopes (shared/contract.md)")
    next: str = Field(description="the cursor to ask for the events after these (`after`)")


@router.get(
    "/events",
    operation_id="get_events",
    response_model=EventsPage,
    tags=["queries"],
    responses=error_responses(401, 403, 422),
    summary="Every service's events in one stable order, a page at a time (auditors only)",
    description="The same events and order as `carecoord export`. `next` is the cursor of the page "
    "after this one: an empty page gives back the cursor it was asked with, to ask again later. A "
    "cursor never skips nor repeats an event, even while commands keep arriving.",
)
def get_events(
    request: Request,
    caller: Annotated[Caller, Depends(require("read_events"))],
    rt: Fresh,
    after: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="the `next` of the page before (default: the start)"),
    ] = None,
    limit: Limit = 100,
) -> Response:
    with _read(rt, caller, request, [None]):
        events, cursor = merged(list(rt.services), Cursor.parse(after), limit)
        body = "".join(
            ['{"events":[', ",".join(to_json(event) for event in events), f'],"next":"{cursor}"}}']
        )
    return Response(content=body, media_type="application/json")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


@router.get(
    "/health",
    response_model=Health,
    tags=["health"],
    summary="Liveness (no token needed)",
    operation_id="health",
)
def health() -> Health:
    return Health()
