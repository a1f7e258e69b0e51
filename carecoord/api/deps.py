"""What every endpoint needs: the runtime (services, read side, stores) and an authorized caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from carecoord.api.access_log import AccessLog
from carecoord.api.auth import AuthenticationError, Caller, RoleError, TokenVerifier
from carecoord.api.idempotency import IdempotencyStore
from carecoord.api.readmodel import ReadSide
from carecoord.api.roles import PERMISSIONS, allowed
from carecoord.bootstrap import Services

if TYPE_CHECKING:
    from carecoord.billing import ControlNumbers
    from carecoord.billing_config import BillingConfig


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
    # The 837P's: the billing configuration (None: not configured) and the control numbers.
    billing: BillingConfig | None = None
    control_numbers: ControlNumbers | None = None


# The dependencies below are `async def` although they do no I/O: FastAPI runs a plain `def`
# dependency on its thread pool, and each hop there costs more than the work itself.


async def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


BEARER_DESCRIPTION = (
    "A JWT (RS256 or ES256) with `sub` and `role` (coordinator, pharmacist, nurse, auditor, biller)"
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


class RoleBearer(HTTPBearer):
    """FastAPI's bearer scheme, authenticating (`_caller`) and authorizing in the same call.

    One dependency that is itself the security scheme, not a dependency on `HTTPBearer`: FastAPI
    spends more on resolving each level of dependencies than on what it does (the chain of two
    measured ~8 us more per request). The OpenAPI document is the same: the scheme keeps
    `HTTPBearer`'s name and model.
    """

    def __init__(self, permission: str) -> None:
        super().__init__(
            auto_error=False, bearerFormat="JWT", description=BEARER_DESCRIPTION, scheme_name="HTTPBearer"
        )
        self.permission = permission
        self.roles = ", ".join(sorted(PERMISSIONS[permission]))

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        caller = _caller(request.app.state.runtime, await super().__call__(request))
        if not allowed(self.permission, caller.role):
            raise ApiError(
                403, "forbidden", f"role {caller.role!r} may not {self.permission} (allowed: {self.roles})"
            )
        return caller


def require(permission: str) -> RoleBearer:
    """A dependency: the caller, when their role holds `permission` (roles.py); else 401 or 403."""
    return RoleBearer(permission)
