"""Structured reads of one episode: its authorizations (with the units the ledger used), deliveries,
visits and complications, each with its state and the events that tell its story; and the
auditor's calendar page.

Computed by the pure core (projections/core/episode_records.py, calendar_view.py) from the
episode's stored events, read through the read-model shell. As every episode read: the roles that
read episodes, `as_of` for auditors only, each read written to the access log before the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from carecoord.api.auth import Caller
from carecoord.api.deps import Runtime
from carecoord.api.guard import GuardedRoute
from carecoord.api.models import EpisodeId, error_responses
from carecoord.api.queries import (
    AsOf,
    Fresh,
    Out,
    ReadEpisodes,
    Through,
    _answer,
    _check_as_of,
    _fresh,
    _instant,
    _may_read,
    _unknown,
)
from carecoord.api.queries import _read as _logged_read
from events import Event
from projections.core import episode_records
from projections.core.calendar_view import episode_calendar

router = APIRouter(tags=["queries"], route_class=GuardedRoute)


class StepOut(Out):
    """One event of the story, as the timeline shows it."""

    event_id: str
    event_type: str
    occurred_at: str
    recorded_at: str
    summary: str


class AuthorizationOut(Out):
    auth_number: str
    code: str
    start_date: date
    end_date: date
    units: int
    units_used: int | None = Field(
        description="S9363: billable days of the ledger (through `through`) this authorization pays; "
        "null for other codes"
    )
    units_left: int | None = Field(description="S9363: units - units_used; null for other codes")
    history: list[StepOut] = Field(description="every version recorded; the one recorded last counts")


class AuthorizationsOut(Out):
    episode_id: str
    through: date = Field(description="the last day of the ledger that used the units")
    as_of: str | None
    authorizations: list[AuthorizationOut] = Field(
        description="S9363 authorizations by start date then number (rule 10's order)"
    )
    other_codes: list[AuthorizationOut] = Field(
        description="authorizations of other codes: no rule counts them"
    )


class ItemOut(Out):
    code: str
    description: str
    units: int


class DeliveryOut(Out):
    delivery_id: str
    state: Literal["scheduled", "completed", "failed", "voided"] = Field(
        description="voided if voided (whatever the order of arrival), else completed if completed "
        "(a failure does not undo it), else failed, else scheduled"
    )
    scheduled_for: date | None
    delivered_on: date | None = Field(description="of the completion recorded last (kept when voided)")
    days_supply: int | None
    covered_through: date | None = Field(description="delivered_on + days_supply - 1")
    items: list[ItemOut]
    failure_reason: str | None
    void_reason: str | None
    completion_event_id: str | None = Field(description="the completion that counts: the one recorded last")
    history: list[StepOut]


class DeliveriesOut(Out):
    episode_id: str
    as_of: str | None
    scheduled: list[DeliveryOut]
    completed: list[DeliveryOut]
    failed: list[DeliveryOut]
    voided: list[DeliveryOut]


class VisitOut(Out):
    visit_id: str
    state: Literal["scheduled", "completed", "missed", "voided"] = Field(
        description="voided if voided, else completed if completed (a miss does not undo it), "
        "else missed, else scheduled"
    )
    kind: str
    scheduled_for: date | None
    visit_date: date | None
    started_at: str | None
    ended_at: str | None
    minutes: int | None = Field(description="ended_at - started_at as instants, whole minutes")
    administered: bool | None
    nurse: str | None
    missed_reason: str | None
    void_reason: str | None
    completion_event_id: str | None
    history: list[StepOut]


class VisitsOut(Out):
    episode_id: str
    as_of: str | None
    scheduled: list[VisitOut]
    completed: list[VisitOut]
    missed: list[VisitOut]
    voided: list[VisitOut]


class ComplicationOut(Out):
    complication_id: str
    state: Literal["open", "resolved"]
    kind: str | None = Field(description="null when only a resolution was recorded")
    severity: str | None
    onset_on: date | None
    resolved_on: date | None
    history: list[StepOut]


class ComplicationsOut(Out):
    episode_id: str
    as_of: str | None
    open: list[ComplicationOut]
    resolved: list[ComplicationOut]


@contextmanager
def _read(
    request: Request, caller: Caller, rt: Runtime, episode_id: str, as_of: str | None
) -> Iterator[None]:
    """Around every episode read: its access-log entry (however it is answered), `as_of` for
    auditors only, catching up, and a nurse only on her care teams' episodes."""
    with _logged_read(rt, caller, request, [episode_id]):
        _check_as_of(caller, as_of)
        _fresh(rt)
        _may_read(rt, caller, episode_id)
        yield


def _events(rt: Runtime, episode_id: str, as_of: str | None) -> list[Event]:
    events = rt.read_side.episode_events(episode_id, _instant(as_of))
    if events is None:
        raise _unknown(episode_id, as_of)
    return events


@router.get(
    "/episodes/{episode_id}/authorizations",
    response_model=AuthorizationsOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One episode's authorizations: S9363 ones with units used by the ledger and left",
)
def get_authorizations(
    request: Request,
    episode_id: EpisodeId,
    caller: ReadEpisodes,
    rt: Fresh,
    through: Through = None,
    as_of: AsOf = None,
) -> Response:
    with _read(request, caller, rt, episode_id, as_of):
        end = through or rt.read_side.today()
        settled = rt.read_side.settle(episode_id, end, _instant(as_of))
        if settled is None:
            raise _unknown(episode_id, as_of)
        view, events = settled
        found = episode_records.authorizations(events, (day.authorization for day in view.days))
        return _answer(
            AuthorizationsOut(
                episode_id=episode_id,
                through=end,
                as_of=as_of,
                authorizations=[
                    AuthorizationOut.model_validate(a, from_attributes=True) for a in found.per_diem
                ],
                other_codes=[
                    AuthorizationOut.model_validate(a, from_attributes=True) for a in found.other_codes
                ],
            )
        )


@router.get(
    "/episodes/{episode_id}/deliveries",
    response_model=DeliveriesOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One episode's deliveries by state: scheduled, completed, failed, voided, each with its events",
)
def get_deliveries(
    request: Request, episode_id: EpisodeId, caller: ReadEpisodes, rt: Fresh, as_of: AsOf = None
) -> Response:
    with _read(request, caller, rt, episode_id, as_of):
        records = [
            DeliveryOut.model_validate(d, from_attributes=True)
            for d in episode_records.deliveries(_events(rt, episode_id, as_of))
        ]
        by_state = {
            state: [r for r in records if r.state == state] for state in episode_records.DELIVERY_STATES
        }
        return _answer(DeliveriesOut(episode_id=episode_id, as_of=as_of, **by_state))


@router.get(
    "/episodes/{episode_id}/visits",
    response_model=VisitsOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One episode's visits by state: scheduled, completed, missed, voided, each with its events",
)
def get_visits(
    request: Request, episode_id: EpisodeId, caller: ReadEpisodes, rt: Fresh, as_of: AsOf = None
) -> Response:
    with _read(request, caller, rt, episode_id, as_of):
        records = [
            VisitOut.model_validate(v, from_attributes=True)
            for v in episode_records.visits(_events(rt, episode_id, as_of))
        ]
        by_state = {state: [r for r in records if r.state == state] for state in episode_records.VISIT_STATES}
        return _answer(VisitsOut(episode_id=episode_id, as_of=as_of, **by_state))


@router.get(
    "/episodes/{episode_id}/complications",
    response_model=ComplicationsOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One episode's complications, open and resolved: kind, severity, onset, resolution",
)
def get_complications(
    request: Request, episode_id: EpisodeId, caller: ReadEpisodes, rt: Fresh, as_of: AsOf = None
) -> Response:
    with _read(request, caller, rt, episode_id, as_of):
        records = [
            ComplicationOut.model_validate(c, from_attributes=True)
            for c in episode_records.complications(_events(rt, episode_id, as_of))
        ]
        by_state = {
            state: [r for r in records if r.state == state] for state in episode_records.COMPLICATION_STATES
        }
        return _answer(ComplicationsOut(episode_id=episode_id, as_of=as_of, **by_state))


@router.get(
    "/episodes/{episode_id}/calendar.html",
    response_class=HTMLResponse,
    responses={
        **error_responses(401, 403, 404, 422),
        200: {"description": "the calendar page (HTML with inline SVG, no JavaScript; prints on A4)"},
    },
    summary="The auditor's calendar: a month grid per month, days coloured by reason, claim lines",
)
def get_calendar(
    request: Request,
    episode_id: EpisodeId,
    caller: ReadEpisodes,
    rt: Fresh,
    through: Through = None,
    as_of: AsOf = None,
) -> HTMLResponse:
    from carecoord.calendar_html import render_page  # Jinja2 is loaded by the first calendar asked for

    with _read(request, caller, rt, episode_id, as_of):
        end = through or rt.read_side.today()
        settled = rt.read_side.settle(episode_id, end, _instant(as_of))
        if settled is None:
            raise _unknown(episode_id, as_of)
        view, events = settled
        return HTMLResponse(render_page(episode_calendar(view, events, end), as_of=as_of))
