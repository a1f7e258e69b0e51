"""The biller's endpoints (shared/claims.md, "In the live system").

- `GET /claims?period=YYYY-MM[&action=]` (queries.py routes it here): every episode's claim for the
  period from the claims read model, shaped as `carecoord claims --json` prints them, and beside
  each REPLACE or VOID the corrections: what changed since the claim was sent and the events that
  changed it (projections/core/claim_changes.py, computed on read: too costly to keep).
- `POST /claims/{episode_id}/submit`: records, through the claims service, the ClaimSubmitted
  the period's action calls for (`claim_to_submit`), computed now from the stored events; NONE is
  refused (409).
- `GET /claims/837p?period=`: the period's 837P (carecoord.billing.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from carecoord.api.auth import Caller
from carecoord.api.claims_models import SubmittedOut
from carecoord.api.command_catalog import SubmitClaim
from carecoord.api.commands import IDEMPOTENCY_KEY_PATTERN, idempotent, refusal
from carecoord.api.deps import ApiError, Runtime, require
from carecoord.api.guard import GuardedRoute
from carecoord.api.models import EpisodeId, ErrorBody, Period, error_responses
from carecoord.api.queries import Fresh, _cell, _fresh, _instant, _read
from carecoord.billing import TO_SEND, ClaimsFileError, period_837p, submit_period_claim
from projections.core.claim_actions import (
    Action,
    Month,
    NothingToSubmit,
    PeriodClaim,
    claim_document,
    claim_line,
    line_document,
)
from projections.core.claim_changes import changes_document
from projections.core.x12_837p import NoClaimToSend
from runtime.clock import utc_datetime
from services.common.actor import acting_as
from services.common.errors import DomainError

router = APIRouter(route_class=GuardedRoute)

PeriodQuery = Annotated[Period, Query(description="the calendar month billed, YYYY-MM")]
X12_MEDIA_TYPE = "application/edi-x12"
CLAIM_CSV_COLUMNS = (
    "episode_id",
    "patient_ref",
    "payer_id",
    "action",
    "replaces",
    "lines",
    "code",
    "from",
    "to",
    "units",
    "authorization",
)


def period_claims_answer(
    request: Request,
    caller: Caller,
    rt: Runtime,
    period: str,
    action: Action | None,
    as_of: str | None,
    changes: bool,
    format: Literal["json", "csv"],
) -> Response:
    """The answer of `GET /claims?period=`: JSON {period, as_of, claims} or CSV, one row per line."""
    month = Month.parse(period)
    moment = _instant(as_of)
    read: list[str | None] = []
    with _read(rt, caller, request, read):
        _fresh(rt)
        claims = rt.read_side.period_claims(month, None if action is None else [str(action)], moment)
        read += [c.episode_id for c in claims] or [None]
    if format == "csv":
        return Response(
            _claims_csv(claims),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="claims-{month}.csv"'},
        )
    explained = rt.read_side.claim_changes(claims, moment) if changes else {}
    documents = []
    for claim in claims:
        document: dict[str, Any] = claim_document(claim)
        if claim.action in (Action.REPLACE, Action.VOID) and changes:
            found = explained.get(claim.episode_id)
            document["changes"] = changes_document(found) if found is not None else None
        documents.append(document)
    return JSONResponse({"period": str(month), "as_of": as_of, "claims": documents})


def _claims_csv(claims: Sequence[PeriodClaim]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CLAIM_CSV_COLUMNS)
    for claim in claims:
        head = [claim.episode_id, claim.patient_ref, claim.payer_id, str(claim.action), claim.replaces or ""]
        lines = [("current", line) for line in claim.lines] + [
            ("submitted", line) for line in claim.submitted_lines
        ]
        if not lines:
            writer.writerow([*head, "", "", "", "", "", ""])
        for which, line in lines:
            document = line_document(line)
            row = [
                *head,
                which,
                *(document[key] or "" for key in ("code", "from", "to", "units", "authorization")),
            ]
            # A cell a spreadsheet would read as a formula is sent as text (see queries._cell).
            writer.writerow([_cell(value) for value in row])
    return out.getvalue()


# --- submitting ----------------------------------------------------------------------------------


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Retrying with the same key returns the first response and records nothing new.",
    ),
]


def _submit(rt: Runtime, caller: Caller, episode_id: str, body: SubmitClaim) -> JSONResponse:
    try:
        # The ClaimSubmitted records the biller who sent it (services/common/actor.py).
        with acting_as(caller.sub, caller.role):
            claim, data = submit_period_claim(
                rt.read_side,
                rt.services.claims,
                episode_id,
                Month.parse(body.period),
                body.submitted_on,
                body.occurred_at,
            )
    except LookupError:
        raise ApiError(404, "episode_unknown", f"episode {episode_id} is unknown") from None
    except NothingToSubmit as error:
        return JSONResponse(status_code=409, content={"detail": str(error), "error": "nothing_to_submit"})
    except DomainError as error:
        answer = refusal(error)
        if isinstance(answer, ApiError):
            return JSONResponse(
                status_code=answer.status, content={"detail": answer.detail, "error": answer.error}
            )
        return answer
    recorded = {
        "episode_id": episode_id,
        "period": data.period,
        "action": str(claim.action),
        "claim_id": data.claim_id,
        "frequency": data.frequency,
        "replaces": data.replaces,
        "submitted_on": data.submitted_on.isoformat(),
        "lines": [line_document(claim_line(line)) for line in data.lines],
    }
    return JSONResponse(status_code=200, content=recorded)


@router.post(
    "/claims/{episode_id}/submit",
    response_model=SubmittedOut,
    tags=["claims"],
    responses=error_responses(400, 401, 403, 404, 409, 413, 422),
    summary="Record the claim the period's action calls for (original, replacement or void); NONE: 409",
    operation_id="submit",
)
def submit_claim(
    request: Request,
    episode_id: EpisodeId,
    body: SubmitClaim,
    caller: Annotated[Caller, Depends(require("submit"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    return idempotent(
        rt, request, caller, idempotency_key, body, lambda: _submit(rt, caller, episode_id, body)
    )


# --- the 837P ------------------------------------------------------------------------------------


@router.get(
    "/claims/837p",
    tags=["claims"],
    response_class=Response,
    responses={
        **error_responses(401, 403, 409, 422),
        200: {
            "description": "one ASC X12 837P interchange",
            "content": {X12_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        503: {
            "model": ErrorBody,
            "description": "no billing configuration (CARECOORD_BILLING_CONFIG), or the database "
            "unavailable for the moment (with `Retry-After`)",
        },
    },
    summary="The period's 837P (005010X222A1) for its NEW, REPLACE and VOID claims",
    operation_id="claims_837p",
)
def get_837p(
    request: Request,
    caller: Annotated[Caller, Depends(require("read_837p"))],
    rt: Fresh,
    period: PeriodQuery,
) -> Response:
    if rt.billing is None or rt.control_numbers is None:
        raise ApiError(
            503, "billing_not_configured", "no billing configuration: set CARECOORD_BILLING_CONFIG"
        )
    read: list[str | None] = []
    with _read(rt, caller, request, read):
        _fresh(rt)
        claims = rt.read_side.period_claims(Month.parse(period), TO_SEND)
        read += [c.episode_id for c in claims] or [None]
    try:
        text = period_837p(
            claims,
            rt.read_side.referral_events(c.episode_id for c in claims),
            rt.services.referrals,
            rt.billing,
            rt.control_numbers,
            utc_datetime(),
        )
    except NoClaimToSend:
        raise ApiError(409, "no_claim_to_send", f"no NEW, REPLACE or VOID claim for {period}") from None
    except ClaimsFileError as error:
        raise ApiError(409, "cannot_write_837p", str(error)) from None
    return Response(
        text,
        media_type=X12_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="837p-{period}.x12"',
            "Cache-Control": "no-store",
        },
    )
