"""What every endpoint needs: the runtime (services, read side, stores) and an authorized caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from carecoord.api.access_log import AccessLog
from carecoord.api.auth import AuthenticationError, Caller, RoleError, TokenVerifier
from carecoord.api.idempotency import IdempotencyStore
from carecoord.api.readmodel import ReadSide
from carecoord.api.roles import PERMISSIONS, allowed
from services.registry import Services


class ApiError(Exception):
    """An error answer: status, a stable code and a message (never a patient's details)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


@dataclass
class Runtime:
    services: Services
    read_side: ReadSide
    access_log: AccessLog
    idempotency: IdempotencyStore
    verifier: TokenVerifier
    # Commands run on the event loop unless they may wait for a broker (commands.py).
    commands_on_loop: bool = True


# The dependencies below are `async def` although they do no I/O: FastAPI runs a plain `def`
# dependency on its thread pool, and each hop there costs more than the work itself.


async def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A JWT (RS256 or ES256) with `sub` and `role` (coordinator, pharmacist, nurse, auditor)",
)


def _caller(rt: Runtime, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None:
        raise ApiError(401, "unauthenticated", "a bearer token is required: Authorization: Bearer <JWT>")
    try:
        return rt.verifier.verify(credentials.credentials)
    except AuthenticationError as error:
        raise ApiError(401, "invalid_token", str(error)) from None
    except RoleError as error:
        raise ApiError(403, "forbidden", str(error)) from None


def require(permission: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller, when their role holds `permission` (roles.py); else 403."""
    roles = ", ".join(sorted(PERMISSIONS[permission]))

    # One dependency that authenticates (`_caller`) and authorizes, not a chain of two: FastAPI
    # spends more on resolving each extra dependency than on what it does.
    async def authorized(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        caller = _caller(request.app.state.runtime, credentials)
        if not allowed(permission, caller.role):
            raise ApiError(403, "forbidden", f"role {caller.role!r} may not {permission} (allowed: {roles})")
        return caller

    return authorized
