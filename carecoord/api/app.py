"""The HTTP API: `create_app(settings)` builds it on the configured stores.

    uvicorn (via `carecoord serve`) -> create_app(Settings.from_env())

Commands go to the five services (commands.py), queries read the read models (queries.py);
every call is authenticated (auth.py) and checked against the role matrix (roles.py).
Whoever builds the app closes it with `app.state.close()` (services, stores, connections).
`CARECOORD_API_INLINE_PROJECTION=0` stops the API from projecting itself (when Kafka consumers keep
the read models); by default it follows the services' notification logs, as the embedded default does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carecoord.api import claims, commands, episode_reads, health, queries, worklist
from carecoord.api.access_log import AccessLog
from carecoord.api.auth import AuthConfig, TokenVerifier
from carecoord.api.db import api_database
from carecoord.api.deps import ApiError, Runtime
from carecoord.api.guard import GuardedRoute
from carecoord.api.idempotency import IdempotencyStore
from carecoord.api.metrics import RequestMetrics, metrics_endpoint
from carecoord.api.readmodel import ReadSide
from carecoord.billing import ControlNumbers
from carecoord.billing_config import BillingConfig, load_billing_config
from carecoord.bootstrap import Services
from carecoord.config import Settings, api_docs, billing_config_path, inline_projection
from services.common.kafka_episodes import EpisodeFeedUnavailable

TITLE = "carecoord"
DESCRIPTION = """Care coordination and S9363 per-diem billing for home infusion pharmacies.

Every call but `/health`, `/health/live`, `/health/ready` and `/metrics` (Prometheus) needs a bearer
JWT whose `role` claim is coordinator, pharmacist, nurse, auditor or biller (the matrix:
docs/roles.md); the token is checked before the body is read. Errors:
400 a body that cannot be read as JSON, 401 no or bad token, 403 wrong role, 404 unknown episode, 409
a broken domain rule (named), 413 a body over 1 MiB, 422 a request that does not fit (each field
named), 503 the database or the episode feed away for the moment (with `Retry-After`; a command
answered 503 is stored only if its commit was under way as the database went away, and its retry is
then refused as already done). Every error body has a stable `error` code. Commands accept an
`Idempotency-Key` header. Every read of an episode is recorded in the access log. A `+` in a query
value (an `as_of` offset) must be sent URL-encoded as `%2B`; `Z` needs no encoding.
"""

log = logging.getLogger("carecoord.api")


def create_app(
    settings: Settings | None = None,
    *,
    auth: AuthConfig | None = None,
    inline_projection: bool | None = None,
    today: Callable[[], date] = date.today,
    services: Services | None = None,
    command_services: Collection[str] | None = None,
    queries_served: bool = True,
    close_on_shutdown: bool = False,
    billing: BillingConfig | None = None,
) -> FastAPI:
    """The API. `command_services` limits the commands to those services' (a command handler
    process per service, as in production); `queries_served=False` leaves the queries out.
    `close_on_shutdown` closes it when the server's lifespan ends (a worker process's app).
    `billing`: the 837P's configuration; by default the file CARECOORD_BILLING_CONFIG names (read
    at start, so that a broken file stops the server rather than a biller's request)."""
    settings = settings or Settings.from_env()
    if inline_projection is None:
        inline_projection = inline_projection_from_env()
    verifier = TokenVerifier(auth or AuthConfig.from_env(settings))
    services = services or Services.from_config(settings)
    db = api_database(settings)
    access_log = AccessLog(db)
    access_log.create_tables()
    idempotency = IdempotencyStore(db)
    idempotency.create_tables()
    read_side = ReadSide(settings, list(services), inline=inline_projection, today=today)
    if billing is None and (path := billing_config_path()) is not None:
        billing = load_billing_config(path)
    rt = Runtime(
        services,
        read_side,
        access_log,
        idempotency,
        verifier,
        commands_on_loop=not settings.kafka_mode,
        billing=billing,
        control_numbers=ControlNumbers(db),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The server's lifespan runs the background projector; the stores stay open (a test client
        # may run the lifespan more than once) until the owner calls `app.state.close()`.
        read_side.start()
        try:
            yield
        finally:
            read_side.stop()
            if close_on_shutdown:
                close()

    def close() -> None:
        read_side.close()
        db.close()
        services.close()

    # The interactive pages load their scripts from a CDN: served only in development.
    docs = api_docs()
    app = FastAPI(
        title=TITLE,
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.router.route_class = GuardedRoute
    app.add_middleware(PrivateAnswers)
    app.add_middleware(RequestMetrics)  # added last, so outermost: it sees every answer
    app.state.runtime = rt
    app.state.readiness = health.Readiness(db, settings.kafka_bootstrap if settings.kafka_mode else None)
    app.state.close = close
    app.include_router(health.router)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    commands.add_routes(app.router, command_services, queries_served)
    if queries_served:
        app.include_router(queries.router)
        app.include_router(episode_reads.router)
        app.include_router(worklist.router)
        app.include_router(claims.router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _unavailable)
    return app


def inline_projection_from_env() -> bool:
    """Whether the API projects the read models itself (the default), from the environment."""
    return inline_projection()


async def _api_error(request: Request, error: Any) -> JSONResponse:
    assert isinstance(error, ApiError)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if error.status == 401 else None
    return JSONResponse(
        status_code=error.status, content={"detail": error.detail, "error": error.error}, headers=headers
    )


# What a request may meet while PostgreSQL restarts or fails over (psycopg's OperationalError, the
# pool's timeout, and the event store's wrappers of them: eventsourcing retries its own queries for
# about two seconds first) or while Kafka cannot say which episodes exist (a partition leader
# moving): the request could not be served now, and will be later. Not a 500: nothing is broken.
# A command refused this way was not half-written: its events are saved in one transaction. It stored
# nothing, except in one window no client of any database escapes: the commit reached the disk but
# its acknowledgement was lost with the connection (PostgreSQL stopping right then). The answer
# therefore does not claim "nothing stored"; a retry of such a command is refused as already done
# (409: the delivery was already completed, the referral already received), which tells the client
# (tests/cluster/test_postgres_restart.py counts these).
def _unavailable_errors() -> tuple[type[Exception], ...]:
    import psycopg
    import psycopg_pool
    from eventsourcing import persistence

    return (
        psycopg.OperationalError,
        psycopg_pool.PoolTimeout,
        persistence.OperationalError,
        persistence.InterfaceError,
        EpisodeFeedUnavailable,
    )


UNAVAILABLE = _unavailable_errors()
RETRY_AFTER_SECONDS = 3


async def _unavailable(request: Request, error: Exception) -> JSONResponse:
    """503 with Retry-After: PostgreSQL or the episode feed is away for the moment."""
    feed = isinstance(error, EpisodeFeedUnavailable)
    what = "the episode feed (Kafka)" if feed else "the database"
    log.warning("%s %s: 503, %s unavailable: %s: %s", request.method, request.url.path, what,
                type(error).__name__, error)  # fmt: skip
    return JSONResponse(
        status_code=503,
        content={
            "detail": f"{what} is unavailable for the moment; retry later (a command whose commit was "
            "under way when it went away may have been stored: its retry is then refused as done)",
            "error": "episode_feed_unavailable" if feed else "database_unavailable",
        },
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _http_error(request: Request, error: Any) -> JSONResponse:
    """Starlette's own answers (no such path, wrong method) in the API's error shape."""
    assert isinstance(error, StarletteHTTPException)
    code = {
        400: "bad_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }.get(error.status_code, "http_error")
    return JSONResponse(
        status_code=error.status_code,
        content={"detail": str(error.detail), "error": code},
        headers=getattr(error, "headers", None),
    )


async def _validation_error(request: Request, error: Any) -> JSONResponse:
    """422 with each field named in its message; the offending value is never echoed (it may be a
    patient's details)."""
    assert isinstance(error, RequestValidationError)
    detail = []
    for item in error.errors():
        loc = [part if isinstance(part, int) else str(part) for part in item.get("loc", ())]
        field = ".".join(str(part) for part in loc[1:]) or (loc[0] if loc else "request")
        where = f"{loc[0]} " if loc and loc[0] in ("query", "path", "header") else ""
        message = str(item.get("msg", "invalid"))
        sent = item.get("input")
        if "patient" in loc and isinstance(sent, str) and sent and sent in message:
            message = "does not fit (the value is not shown: it identifies a patient)"
        detail.append(
            {"loc": loc, "msg": f"{where}{field}: {message}", "type": str(item.get("type", "invalid"))}
        )
    return JSONResponse(status_code=422, content={"detail": detail, "error": "invalid_request"})


class PrivateAnswers:
    """Every answer may carry patient data (a patient_ref, a ledger): no cache keeps it
    (`Cache-Control: no-store`) and no browser guesses its type (`X-Content-Type-Options: nosniff`).
    A plain ASGI middleware: two headers cost less than a BaseHTTPMiddleware's task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Cache-Control", "no-store")
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_private)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (the same whatever the configuration), built on a throwaway folder."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.embedded(folder)
        app = create_app(settings, auth=AuthConfig.from_env(settings, environ={}), inline_projection=False)
        try:
            return app.openapi()
        finally:
            app.state.close()
