"""`GET /worklist`: the coordinator's worklist for a day (shared/worklist.md), from the item spans
the write path keeps with the ledger (projections/readmodels/sections.py), right for any `today`.

`as_of` (auditors only) recomputes it from the events recorded by then, as the ledger's does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from carecoord.api.auth import Caller
from carecoord.api.deps import require
from carecoord.api.guard import GuardedRoute
from carecoord.api.models import Day, error_responses
from carecoord.api.queries import (
    AsOf,
    Fresh,
    Limit,
    Offset,
    Out,
    _answer,
    _check_as_of,
    _fresh,
    _instant,
    _read,
)
from projections.core.worklist import ItemKind, WorklistItem
from services.common.actor import TEAM_BOUND_ROLES

router = APIRouter(route_class=GuardedRoute)


class WorklistItemOut(Out):
    episode_id: str
    patient_ref: str
    kind: ItemKind
    due: str
    key: str | None
    detail: str

    @classmethod
    def of(cls, item: WorklistItem) -> WorklistItemOut:
        return cls(
            episode_id=item.episode_id,
            patient_ref=item.patient_ref,
            kind=item.kind,
            due=item.due.isoformat(),
            key=item.key,
            detail=item.detail,
        )


class WorklistOut(Out):
    today: str
    as_of: str | None
    total: int
    limit: int
    offset: int
    items: list[WorklistItemOut]


@router.get(
    "/worklist",
    response_model=WorklistOut,
    tags=["queries"],
    responses=error_responses(401, 403, 422),
    summary="The worklist for a day: what needs doing, by due date (worklist.md's order), a page at a time",
)
def get_worklist(
    request: Request,
    caller: Annotated[Caller, Depends(require("read_worklist"))],
    rt: Fresh,
    today: Annotated[Day | None, Query(description="the day the worklist is for (default: today)")] = None,
    kind: Annotated[ItemKind | None, Query(description="only items of this kind")] = None,
    episode_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
    as_of: AsOf = None,
) -> Response:
    read: list[str | None] = []
    with _read(rt, caller, request, read):
        _check_as_of(caller, as_of)
        _fresh(rt)
        day = today or rt.read_side.today()
        # A nurse's worklist holds only the episodes whose care team she is on.
        among = rt.read_side.care_team_episodes(caller.sub) if caller.role in TEAM_BOUND_ROLES else None
        page = rt.read_side.worklist(
            day,
            kind=kind,
            episode_id=episode_id,
            limit=limit,
            offset=offset,
            as_of=_instant(as_of),
            among=among,
        )
        read += [item.episode_id for item in page.items] or [None]
    return _answer(
        WorklistOut(
            today=day.isoformat(),
            as_of=as_of,
            total=page.total,
            limit=limit,
            offset=offset,
            items=[WorklistItemOut.of(item) for item in page.items],
        )
    )
