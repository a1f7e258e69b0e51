"""Liveness and readiness, for whatever starts and routes to API processes (no token needed).

- `/health/live`: the process answers HTTP. Restart it when this fails.
- `/health/ready`: it can serve: its database answers a query and, in Kafka mode, a broker of the
  bootstrap list answers a metadata request. 503 (with `Retry-After`) when not: send it no traffic
  for the moment. Both checks have short timeouts, so a probe never hangs.
- `/health`: kept as it was (liveness), for the callers that already use it.

The checks' answers name what failed and the kind of error, never a connection string.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from projections.readmodels.datastore import Datastore

CHECK_TIMEOUT_S = 2.0
RETRY_AFTER_SECONDS = 3


class Live(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        description="each dependency checked (`database`, and `kafka` in Kafka mode): `ok`, or what failed"
    )


class Readiness:
    """The checks behind `/health/ready`: the API's database and, in Kafka mode, the brokers."""

    def __init__(self, db: Datastore, kafka_bootstrap: str | None) -> None:
        self.db = db
        self.kafka_bootstrap = kafka_bootstrap

    def check(self) -> dict[str, str]:
        checks = {"database": _outcome(self._database)}
        if self.kafka_bootstrap:
            checks["kafka"] = _outcome(self._kafka)
        return checks

    def _database(self) -> None:
        with self.db.transaction() as cursor:
            cursor.execute("SELECT 1").fetchall()

    def _kafka(self) -> None:
        from kafka.admin import KafkaAdminClient

        timeout_ms = int(CHECK_TIMEOUT_S * 1000)
        admin = KafkaAdminClient(
            bootstrap_servers=self.kafka_bootstrap,
            client_id="carecoord-api-ready",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
        try:
            cluster = admin.describe_cluster()
            if not cluster.get("brokers"):
                raise RuntimeError("no broker in the cluster's metadata")
        finally:
            admin.close()


def _outcome(check: Any) -> str:
    try:
        check()
    except Exception as error:
        return f"unavailable ({type(error).__name__})"
    return "ok"


router = APIRouter(tags=["health"])


def _readiness(request: Request) -> Readiness:
    readiness: Readiness = request.app.state.readiness
    return readiness


@router.get(
    "/health/live",
    response_model=Live,
    summary="Liveness: the process answers (no token needed)",
    operation_id="health_live",
)
def live() -> Live:
    return Live()


@router.get(
    "/health/ready",
    response_model=Ready,
    summary="Readiness: the database and, in Kafka mode, the brokers reachable; 503 when not (no token)",
    operation_id="health_ready",
    responses={503: {"model": Ready, "description": "a dependency is unreachable (see `checks`)"}},
)
def ready(readiness: Annotated[Readiness, Depends(_readiness)]) -> JSONResponse:
    checks = readiness.check()
    ok = all(outcome == "ok" for outcome in checks.values())
    answer = Ready(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(
        status_code=200 if ok else 503,
        content=answer.model_dump(),
        headers=None if ok else {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
