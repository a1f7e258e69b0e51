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

    def __init__(self, status: int, error: str, detail: str, caller: Caller | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.caller = caller  # who was refused, when known (the access log records it)


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
    except (ValueError, TypeError, KeyError, AttributeError):
        # A token the verifier did not foresee (a header of an odd shape): still a 401, never a 500.
        raise ApiError(401, "invalid_token", "the token is not valid") from None
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
        # Checked already, before the body was read (guard.py); checked here when it was not.
        found: Caller | None = getattr(request.state, "caller", None)
        return found if found is not None else await self.authorize(request)

    async def authorize(self, request: Request) -> Caller:
        """The caller, when the token is good (else 401) and its role holds the permission (else 403)."""
        caller = _caller(request.app.state.runtime, await HTTPBearer.__call__(self, request))
        if not allowed(self.permission, caller.role):
            raise ApiError(
                403,
                "forbidden",
                f"role {caller.role!r} may not {self.permission} (allowed: {self.roles})",
                caller,
            )
        return caller


def require(permission: str) -> RoleBearer:
    """A dependency: the caller, when their role holds `permission` (roles.py); else 401 or 403."""
    return RoleBearer(permission)
