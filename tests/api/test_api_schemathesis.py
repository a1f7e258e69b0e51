"""Property-based: schemathesis drives every operation of the served OpenAPI document with valid tokens.

No answer may be a 5xx, and every answer must match the document's schema for its status (400 and
413 included). Stateless: each generated call is made with a token of a role that may use it (the
matrix, so the calls reach the services and the read models), then again with a coordinator's, a
nurse's and an auditor's (so refusals and the nurse's care-team view are exercised too); half the
generated episode ids are replaced by an episode that exists (the nurse on its care team), so
commands meet real domain rules. Stateful: sequences that follow the document's links, from a
referral received to the commands and reads of its episode. Both bounded
(CARECOORD_SCHEMATHESIS_EXAMPLES, CARECOORD_SCHEMATHESIS_STEPS).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from carecoord.api.app import create_app
from carecoord.api.auth import AuthConfig, mint_local_token
from carecoord.api.command_catalog import COMMAND_BY_NAME
from carecoord.api.roles import ROLES
from carecoord.billing_config import load_billing_config
from carecoord.config import Settings
from tests.support.api import BILLING_EXAMPLE, referral_body

with __import__("warnings").catch_warnings():
    __import__("warnings").simplefilter("ignore")
    from fastapi.testclient import TestClient

_folder = Path(tempfile.mkdtemp(prefix="carecoord-schemathesis-"))
atexit.register(shutil.rmtree, _folder, ignore_errors=True)
_settings = Settings.embedded(_folder / "var")
_auth = AuthConfig.from_env(_settings, environ={})
app = create_app(
    _settings, auth=_auth, inline_projection=True, billing=load_billing_config(BILLING_EXAMPLE)
)
TOKENS = {
    role: mint_local_token(_auth, role, f"schemathesis-{role}", ttl=24 * 3600)
    for role in ROLES
}

atexit.register(app.state.close)
with TestClient(app) as _client:  # an episode that exists, for the cases that name it
    _coordinator = {"Authorization": f"Bearer {TOKENS['coordinator']}"}
    assert _client.post(
        "/referrals/ep-1/receive-referral", json=referral_body(), headers=_coordinator
    ).is_success
    assert _client.post(
        "/referrals/ep-1/accept-referral", json={"accepted_on": "2026-03-02"}, headers=_coordinator
    ).is_success
    assert _client.post(
        "/referrals/ep-1/assign-care-team",
        json={"member": "schemathesis-nurse", "role": "nurse", "assigned_on": "2026-03-02"},
        headers=_coordinator,
    ).is_success

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.hook
def before_generate_path_parameters(context: Any, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just({"episode_id": "ep-1"}), strategy)


def role_for(operation_id: str | None) -> str:
    if operation_id in COMMAND_BY_NAME:
        return next(iter(COMMAND_BY_NAME[operation_id].roles))
    if operation_id == "claims_837p":
        return "biller"  # the one role that may write it
    return "auditor"  # reads everything, as_of and the access log


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("CARECOORD_SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_no_server_error_and_every_answer_fits_the_document(case: Any) -> None:
    role = role_for(case.operation.definition.raw.get("operationId"))
    for caller in dict.fromkeys((role, "coordinator", "nurse", "auditor")):
        case.call_and_validate(
            headers={"Authorization": f"Bearer {TOKENS[caller]}"},
            checks=[not_a_server_error, response_schema_conformance],
        )


class Workflows(schema.as_state_machine()):  # type: ignore[misc]
    """Sequences along the document's links: a referral received, then commands and reads of it."""

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        role = role_for(case.operation.definition.raw.get("operationId"))
        return {"headers": {"Authorization": f"Bearer {TOKENS[role]}"}}

    def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


TestWorkflows = Workflows.TestCase
TestWorkflows.settings = settings(
    max_examples=int(os.environ.get("CARECOORD_SCHEMATHESIS_WORKFLOWS", "15")),
    stateful_step_count=int(os.environ.get("CARECOORD_SCHEMATHESIS_STEPS", "6")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
