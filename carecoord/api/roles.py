"""The role matrix: which role may do what. Every endpoint names its permission here; the commands'
roles come from their one table (command_catalog.py), the queries' are listed below.

Roles come from the bearer token's `role` claim. The matrix is published as docs/roles.md
(`markdown()` renders it; a test keeps the two equal).
"""

from __future__ import annotations

from typing import Literal, get_args

from carecoord.api.command_catalog import COMMANDS

Role = Literal["coordinator", "pharmacist", "nurse", "auditor", "biller"]
ROLES: tuple[Role, ...] = get_args(Role)

# The care team and the auditors; the biller reads and submits claims, nothing else.
EPISODE_READERS: frozenset[Role] = frozenset({"coordinator", "pharmacist", "nurse", "auditor"})
EVERYTHING_READERS: frozenset[Role] = frozenset({"coordinator", "auditor"})
AUDITOR: frozenset[Role] = frozenset({"auditor"})
CLAIM_READERS: frozenset[Role] = frozenset({"coordinator", "auditor", "biller"})
BILLER: frozenset[Role] = frozenset({"biller"})

# query permission -> (what it covers, roles)
QUERIES: dict[str, tuple[str, frozenset[Role]]] = {
    "read_episodes": (
        "episodes (list, one episode, its timeline, its daily ledger)",
        EPISODE_READERS,
    ),
    "read_worklist": ("the worklist for a day (`GET /worklist`)", EPISODE_READERS),
    "read_as_of": (
        "`as_of` on the ledger, timeline, worklist and a period's claims: what was known at a past instant",
        AUDITOR,
    ),
    "read_claims": (
        "claims: claim lines for a date range, a period's claims with their actions and corrections "
        "(JSON or CSV)",
        CLAIM_READERS,
    ),
    "read_837p": ("a period's 837P (it carries the patients' names, birth dates and addresses)", BILLER),
    "read_dead_letters": ("dead letters (events that did not fit the contract)", EVERYTHING_READERS),
    "read_access_log": ("the access log (who read which episode, when; refused requests)", AUDITOR),
    "read_events": ("the events of every service, in one order (`GET /events`)", AUDITOR),
}

PERMISSIONS: dict[str, frozenset[Role]] = {
    **{spec.name: spec.roles for spec in COMMANDS},
    **{name: roles for name, (_, roles) in QUERIES.items()},
}


def allowed(permission: str, role: str) -> bool:
    return role in PERMISSIONS[permission]


def markdown() -> str:
    """The matrix as the Markdown table published in docs/roles.md."""
    header = "| | " + " | ".join(ROLES) + " |"
    rule = "| --- |" + " :---: |" * len(ROLES)

    def row(label: str, roles: frozenset[Role]) -> str:
        return f"| {label} | " + " | ".join("yes" if role in roles else "-" for role in ROLES) + " |"

    lines = [
        "# Roles: who may do what through the HTTP API",
        "",
        "Generated from `carecoord/api/roles.py` (the one place the matrix lives); "
        "`tests/api/test_api_docs.py` keeps this file equal to it.",
        "Every call needs a bearer token whose `role` claim is one of the columns. "
        "No token or a bad one: 401; a role without a `yes` in the row: 403.",
        "",
        "## Commands (POST /{service}/{episode_id}/{command})",
        "",
        header,
        rule,
    ]
    lines += [row(f"`POST {spec.path}`", spec.roles) for spec in COMMANDS]
    lines += ["", "## Queries", "", header, rule]
    lines += [row(f"{what}", roles) for _, (what, roles) in QUERIES.items()]
    lines += [
        "",
        "Notes:",
        "- Every query that returns an episode's data (or the dead letters, or the access log) is "
        "written to the append-only access log: who (`sub`), role, when, which episode, which endpoint.",
        '- "Reads episodes" (pharmacist, nurse) covers everything under `/episodes` and the worklist; '
        '"reads everything" (coordinator, auditor) adds claims and dead letters.',
        "- A nurse reads and writes only the episodes whose care team she is on (a coordinator's "
        "`assign-care-team`); any other episode is a 404 to her, as an unknown one, and the refusal is "
        "logged. Coordinators, pharmacists and auditors reach every episode.",
        "- Refused requests (401, 403, and those 404s) are written to the access log too, with the reason.",
        "- The biller reads claims, writes the period's 837P and submits the claims the actions call for "
        "(`POST /claims/{episode_id}/submit`); nothing else.",
        "- Only the auditor may ask for `as_of` and read the access log; the auditor writes nothing.",
        "- `GET /health`, `/health/live`, `/health/ready`, `/metrics` and the OpenAPI document need no "
        "token.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m carecoord.api.roles > docs/roles.md
    print(markdown(), end="")
