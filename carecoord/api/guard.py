"""Every route checks its caller before it reads a byte of the body, and reads at most 1 MiB of it.

FastAPI reads and parses a request's body before it resolves the endpoint's dependencies, the
bearer check among them: a malformed body without a token got 422 instead of 401, an auditor's
422 instead of 403, and a 50 MB body was parsed before anyone asked who sent it. `GuardedRoute`
runs the route's `RoleBearer` first (401, 403), then reads the body with a ceiling (413), and only
then hands the request to FastAPI, which parses the body it finds already read. The bearer
dependency then returns the caller found here instead of checking the token again.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from carecoord.api.access_log import REFUSED
from carecoord.api.deps import ApiError, RoleBearer, Runtime
from carecoord.api.models import EPISODE_ID

MAX_BODY_BYTES = 1 << 20  # 1 MiB: a command's body is a few hundred bytes; findings at most 10 kB


class GuardedRoute(APIRoute):
    """An APIRoute whose caller is authenticated and authorized before its body is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        bearer = _bearer_of(self.dependant)
        reads_body = self.body_field is not None

        endpoint = f"{'/'.join(sorted(self.methods or ()))} {self.path}"

        async def guarded(request: Request) -> Response:
            if bearer is not None:
                try:
                    request.state.caller = await bearer.authorize(request)
                except ApiError as error:
                    record_refusal(request, endpoint, error)
                    raise
            if reads_body:
                await read_body(request, MAX_BODY_BYTES)
            return await handler(request)

        return guarded


def record_refusal(request: Request, endpoint: str, error: ApiError) -> None:
    """A refused request in the access log: who (when known), where, why, with its query."""
    rt: Runtime = request.app.state.runtime
    episode_id = request.path_params.get("episode_id")
    if not isinstance(episode_id, str) or len(episode_id) > 100 or not EPISODE_ID.fullmatch(episode_id):
        episode_id = None  # not an id at all: the refusal is logged without it
    caller = error.caller
    rt.access_log.record(
        caller.sub if caller else "",
        caller.role if caller else "",
        endpoint,
        [episode_id],
        status=error.status,
        outcome=REFUSED,
        reason=error.detail,
        query=dict(request.query_params),
    )


def _bearer_of(dependant: Dependant) -> RoleBearer | None:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RoleBearer):
            return dependency.call
        found = _bearer_of(dependency)
        if found is not None:
            return found
    return None


async def read_body(request: Request, limit: int) -> None:
    """Read the body into the request (where FastAPI finds it), refusing it past `limit` bytes:
    at once when `Content-Length` says so, else as soon as the bytes received pass it."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes (1 MiB)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes (1 MiB)")
        chunks.append(chunk)
    request._body = b"".join(chunks)
