"""Commands: one endpoint per command method of the five services, POST /{service}/{episode_id}/{command}.

The path's last part is the application method's name (`complete_delivery` -> `complete-delivery`)
and the body holds its keyword arguments, so "where is a delivery completed?" has one answer:
`DeliveriesApplication.complete_delivery`. Endpoints are thin: check the role, call the method,
map a refusal to its status (unknown episode 404, a broken rule 409 naming it, a command whose own
values are wrong 422), and wake the projector.
"""
# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at runtime,
# and the endpoints are made in a loop over the commands.

import json
import logging
from collections.abc import Collection
from typing import Annotated, Any, Literal, get_type_hints

from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from carecoord.api.auth import Caller
from carecoord.api.command_catalog import COMMANDS, Command
from carecoord.api.deps import ApiError, Runtime, require
from carecoord.api.idempotency import KeyInProgress, KeyReused, fingerprint
from carecoord.api.models import error_responses
from carecoord.bootstrap import Services
from services.common.errors import (
    AlreadyRecorded,
    DomainError,
    EpisodeClosed,
    EpisodeUnknown,
    InvalidCommand,
    NotFound,
)

APPLICATIONS: dict[str, type] = get_type_hints(Services)

log = logging.getLogger("carecoord.api")

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"
CONFLICT_RETRIES = 5


class CommandAccepted(BaseModel):
    """The command was stored. Queries made after this answer see it."""

    episode_id: str
    service: str
    command: str
    status: Literal["recorded"] = "recorded"


# --- running a command -----------------------------------------------------------------------------

EpisodeId = Annotated[str, Path(min_length=1, max_length=100, description="the care episode")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Retrying with the same key returns the first response and stores nothing new "
        "(keys are per caller; 1-200 visible ASCII characters).",
    ),
]


def refusal(error: DomainError) -> ApiError | JSONResponse:
    """The answer to a command that the service refused (it stored nothing)."""
    message = str(error)
    if isinstance(error, EpisodeUnknown):
        return ApiError(404, "episode_unknown", message)
    if isinstance(error, InvalidCommand):
        return JSONResponse(
            status_code=422,
            content={"detail": [{"loc": ["body"], "msg": message, "type": "invalid_command"}]},
        )
    code = (
        "already_recorded"
        if isinstance(error, AlreadyRecorded)
        else "episode_closed"
        if isinstance(error, EpisodeClosed)
        else "not_recorded"
        if isinstance(error, NotFound)
        else "rule_violated"
    )
    return ApiError(409, code, message)


def execute(rt: Runtime, service: str, command: str, episode_id: str, body: Command) -> JSONResponse:
    method = getattr(getattr(rt.services, service), command)
    for attempt in range(CONFLICT_RETRIES):
        try:
            method(episode_id=episode_id, **body.arguments())
            break
        except DomainError as error:
            answer = refusal(error)
            if isinstance(answer, ApiError):
                return JSONResponse(
                    status_code=answer.status, content={"detail": answer.detail, "error": answer.error}
                )
            return answer
        except IntegrityError:  # another request saved the same aggregate first: load it again
            if attempt == CONFLICT_RETRIES - 1:
                return JSONResponse(
                    status_code=409,
                    content={
                        "detail": "the episode changed concurrently; retry",
                        "error": "concurrent_update",
                    },
                )
    rt.read_side.notify()
    accepted = CommandAccepted(episode_id=episode_id, service=service, command=command)
    return JSONResponse(status_code=200, content=accepted.model_dump())


def idempotent(
    rt: Runtime, request: Request, caller: Caller, key: str | None, body: Command, run: Any
) -> JSONResponse:
    if key is None:
        response: JSONResponse = run()
        return response
    print_ = fingerprint(request.method, request.url.path, body.model_dump(mode="json"))
    try:
        stored = rt.idempotency.claim(caller.sub, key, print_)
    except KeyReused as error:
        return JSONResponse(
            status_code=422,
            content={
                "detail": [{"loc": ["header", "Idempotency-Key"], "msg": str(error), "type": "key_reused"}]
            },
        )
    except KeyInProgress as error:
        return JSONResponse(
            status_code=409, content={"detail": str(error), "error": "idempotency_in_progress"}
        )
    if stored is not None:
        return JSONResponse(
            status_code=stored.status, content=stored.body, headers={"Idempotent-Replayed": "true"}
        )
    try:
        response = run()
    except BaseException:
        rt.idempotency.release(caller.sub, key)
        raise
    rt.idempotency.finish(caller.sub, key, response.status_code, _json_body(response))
    return response


def _json_body(response: JSONResponse) -> Any:
    return json.loads(bytes(response.body))


def _endpoint(service: str, command: str, model: type[Command]) -> Any:
    # `async def` although the command is synchronous: on the stores alone it runs on the event loop
    # itself. A command is then one short transaction (a fraction of a millisecond), less than
    # FastAPI's hop to its thread pool and back; a server that must overlap commands runs several
    # worker processes (`carecoord serve --workers N`). In Kafka mode a command first reads the
    # referrals topic, which can wait for the broker (up to its timeout): there it runs on the thread
    # pool, so that a slow broker holds up that command and not every request of the process.
    async def endpoint(
        request: Request,
        episode_id: EpisodeId,
        body: model,  # type: ignore[valid-type]
        caller: Annotated[Caller, Depends(require(command))],
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        rt: Runtime = request.app.state.runtime

        def run() -> JSONResponse:
            return idempotent(
                rt,
                request,
                caller,
                idempotency_key,
                body,
                lambda: execute(rt, service, command, episode_id, body),
            )

        return run() if rt.commands_on_loop else await run_in_threadpool(run)

    endpoint.__name__ = command
    return endpoint


def add_routes(api: APIRouter, services: Collection[str] | None = None) -> None:
    """Adds the command endpoints to `api` (the app's own router); only those of `services` when
    given (one process per service).

    Added to the app's router itself rather than through `include_router`: FastAPI matches an
    included router's routes through a nested router per request, which measured ~37 us of CPU per
    command (a quarter of what the API adds to the service call)."""
    for spec in COMMANDS:
        service, command, roles = spec.service, spec.name, spec.roles
        if services is not None and service not in services:
            continue
        doc = (getattr(APPLICATIONS[service], command).__doc__ or "").strip()
        api.add_api_route(
            spec.path,
            _endpoint(service, command, spec.body),
            methods=["POST"],
            operation_id=command,
            summary=command.replace("_", " ").capitalize(),
            description=f"{doc}\n\nRoles: {', '.join(sorted(roles))}.".strip(),
            tags=[service],
            response_model=CommandAccepted,
            responses=error_responses(401, 403, 404, 409, 422, 503),
        )
