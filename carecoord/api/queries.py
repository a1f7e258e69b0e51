"""Queries: episodes, one episode's timeline and daily ledger, claim lines, dead letters, the access log.

Every query first lets the projector catch up (read-your-writes), and every read of an episode is
written to the access log before the answer leaves. `as_of` (auditors only) answers from the events
recorded at or before that instant, through the pure core.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Literal, NoReturn

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from carecoord.api.auth import Caller
from carecoord.api.claims_models import PeriodClaimsOut
from carecoord.api.deps import ApiError, Runtime, require, runtime
from carecoord.api.models import Day, Period, error_responses
from carecoord.api.readmodel import EpisodeRow, Ledger, ledger_of
from carecoord.api.roles import allowed
from events.models import check_rfc3339, instant
from projections.core.claim_actions import Action

router = APIRouter()

EpisodeId = Annotated[str, Path(min_length=1, max_length=100, description="the care episode")]


def _instant(value: str | None) -> datetime | None:
    return None if value is None else instant(check_rfc3339(value))


AsOf = Annotated[
    str | None,
    Query(description="RFC 3339 instant: only events recorded at or before it count (auditors only)"),
    AfterValidator(lambda v: None if v is None else check_rfc3339(v)),
]
Through = Annotated[Day | None, Query(description="the last day of the ledger, YYYY-MM-DD (default: today)")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


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


class EpisodeList(Out):
    episodes: list[EpisodeOut]
    limit: int
    offset: int


class TimelineEntryOut(Out):
    occurred_at: str
    recorded_at: str
    event_type: str
    source: str
    event_id: str
    summary: str


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
    subject: str
    role: str
    episode_id: str | None
    endpoint: str


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
        raise ApiError(403, "forbidden", f"role {caller.role!r} may not read as_of (auditors only)")


def _unknown(episode_id: str, as_of: str | None = None) -> ApiError:
    if as_of is not None:
        return ApiError(404, "episode_unknown", f"episode {episode_id} was not known as of {as_of}")
    return ApiError(404, "episode_unknown", f"episode {episode_id} is unknown")


ReadEpisodes = Annotated[Caller, Depends(require("read_episodes"))]
Fresh = Annotated[Runtime, Depends(runtime)]


@router.get(
    "/episodes",
    response_model=EpisodeList,
    tags=["queries"],
    responses=error_responses(401, 403, 422),
    summary="Episodes, filtered by status, patient, payer, or days listed within a date range",
)
def list_episodes(
    request: Request,
    caller: ReadEpisodes,
    rt: Fresh,
    status: Annotated[str | None, Query(max_length=50)] = None,
    patient_ref: Annotated[str | None, Query(max_length=100)] = None,
    payer: Annotated[str | None, Query(max_length=100)] = None,
    days_from: Annotated[Day | None, Query(alias="from", description="has a listed day on or after")] = None,
    days_to: Annotated[Day | None, Query(alias="to", description="has a listed day on or before")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> EpisodeList:
    _fresh(rt)
    rows = rt.read_side.episodes(
        status=status,
        patient_ref=patient_ref,
        payer=payer,
        days_from=days_from,
        days_to=days_to,
        limit=limit,
        offset=offset,
    )
    rt.access_log.record(caller.sub, caller.role, _endpoint(request), [row.episode_id for row in rows])
    return EpisodeList(episodes=[EpisodeOut.of(row) for row in rows], limit=limit, offset=offset)


@router.get(
    "/episodes/{episode_id}",
    response_model=EpisodeOut,
    tags=["queries"],
    responses=error_responses(401, 403, 404, 422),
    summary="One episode: patient_ref, payer, status, start of care, billable days",
)
def get_episode(request: Request, episode_id: EpisodeId, caller: ReadEpisodes, rt: Fresh) -> EpisodeOut:
    _fresh(rt)
    rt.access_log.record(caller.sub, caller.role, _endpoint(request), [episode_id])
    row = rt.read_side.episode(episode_id)
    if row is None:
        raise _unknown(episode_id)
    return EpisodeOut.of(row)


@router.get(
    "/episodes/{episode_id}/timeline",
    response_model=TimelineOut,
    tags=["queries"],
    responses=error_responses(401, 403, 404, 422),
    summary="One episode's events in the order they happened",
)
def get_timeline(
    request: Request, episode_id: EpisodeId, caller: ReadEpisodes, rt: Fresh, as_of: AsOf = None
) -> Response:
    _check_as_of(caller, as_of)
    _fresh(rt)
    rt.access_log.record(caller.sub, caller.role, _endpoint(request), [episode_id])
    if as_of is None:
        rows = rt.read_side.timeline(episode_id)
        if rows is None:
            raise _unknown(episode_id)
        entries = [
            TimelineEntryOut(**dict(zip(TimelineEntryOut.model_fields, row, strict=True))) for row in rows
        ]
    else:
        view = rt.read_side.recompute(episode_id, rt.read_side.today(), _instant(as_of))
        if view is None:
            raise _unknown(episode_id, as_of)
        entries = [TimelineEntryOut(**asdict(entry)) for entry in view.timeline]
    return _answer(TimelineOut(episode_id=episode_id, as_of=as_of, entries=entries))


@router.get(
    "/episodes/{episode_id}/ledger",
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
    _check_as_of(caller, as_of)
    _fresh(rt)
    rt.access_log.record(caller.sub, caller.role, _endpoint(request), [episode_id])
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
    _fresh(rt)
    rows = rt.read_side.claim_lines(period_from, period_to, payer)
    rt.access_log.record(caller.sub, caller.role, _endpoint(request), [row[1] for row in rows])
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CLAIM_COLUMNS)
        writer.writerows(rows)
        return Response(out.getvalue(), media_type="text/csv")
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


@router.get(
    "/dead-letters",
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
    _fresh(rt)
    rows = rt.read_side.dead_letters(limit, offset)
    rt.access_log.record(caller.sub, caller.role, _endpoint(request), [None])
    return DeadLettersOut(
        dead_letters=[
            DeadLetterOut(**dict(zip(DeadLetterOut.model_fields, row, strict=True))) for row in rows
        ]
    )


def _utc(value: str | None) -> str | None:
    moment = _instant(value)
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


@router.get(
    "/access-log",
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
    after: Annotated[int, Query(ge=0, le=2**53, description="only entries with a larger seq")] = 0,
    limit: Limit = 100,
) -> AccessLogOut:
    entries = rt.access_log.entries(
        episode_id=episode_id, subject=subject, since=since, until=until, after=after, limit=limit
    )
    rt.access_log.record(caller.sub, caller.role, _endpoint(request), [None])
    return AccessLogOut(entries=[AccessEntryOut(**entry.__dict__) for entry in entries])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/health", response_model=Health, tags=["health"], summary="Liveness (no token needed)")
def health() -> Health:
    return Health()
