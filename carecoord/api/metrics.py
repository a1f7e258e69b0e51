"""The API's Prometheus metrics: every answer by route template and status, how long it took, and
the commands refused (409) by the code of the rule they broke; served at `/metrics` (no token).

Labels are route templates (`/referrals/{episode_id}/accept-referral`), never the path as sent: an
episode id in a label would make one series per episode, and a path is whatever a caller typed. A
request that matched no route counts under the route `unmatched`. Nothing in a label comes from a
body but the 409's stable `error` code.

A plain ASGI middleware, like `PrivateAnswers`: it reads the route Starlette's router leaves in
the request's scope, and only a 409's body (a few hundred bytes) to find the rule's code.
"""

from __future__ import annotations

import json
import time

from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carecoord.metrics import exposition

REQUESTS = Counter(
    "carecoord_api_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "carecoord_api_request_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REFUSED = Counter(
    "carecoord_api_commands_refused",
    "Requests answered 409, by route template and the answer's error code (the rule broken)",
    ["route", "rule"],
)
UNMATCHED = "unmatched"
NOT_COUNTED = frozenset({"/metrics"})  # the scraper's own requests say nothing about the API


class RequestMetrics:
    """Counts and times every HTTP answer; for a 409, also its rule code."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in NOT_COUNTED:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler is answered 500 by the server
        conflict_body: list[bytes] = []

        async def measured_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and status == 409:
                conflict_body.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, measured_send)
        finally:
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
            if status == 409:
                REFUSED.labels(route, _error_code(b"".join(conflict_body))).inc()


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _error_code(body: bytes) -> str:
    """The stable `error` code of an error body (a fixed set: see carecoord/api/commands.py)."""
    try:
        code = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return "unknown"
    # Codes are short snake_case words; anything else is not put in a label.
    if isinstance(code, str) and len(code) <= 64 and code.replace("_", "").isalnum():
        return code
    return "unknown"


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`: the Prometheus text format (every worker's, with `serve --workers N`)."""
    body, content_type = exposition()
    return Response(content=body, media_type=content_type)
