"""Who a command is run for: a person (a token's subject and role) or, when nobody is named, the
service itself. Every event a command stores records it (the contract's `recorded_by`).

The HTTP API names the caller around each command (`acting_as`), as `services.common.clock` lets a
demo move the clock: a context variable, so the write side never imports the API and each request,
thread or task sees its own caller. Commands run without one (the demo, a relay, a test) record the
service's own identity, `{subject: <service>, role: service}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

SERVICE_ROLE = "service"
# Roles whose members act only on the episodes whose care team they are on (contract.md's
# CareTeamAssigned): a nurse. Pharmacists are assigned too, but keep their reach over every episode.
TEAM_BOUND_ROLES = frozenset({"nurse"})


@dataclass(frozen=True)
class Actor:
    subject: str
    role: str

    def as_record(self) -> dict[str, str]:
        return {"subject": self.subject, "role": self.role}


_actor: ContextVar[Actor | None] = ContextVar("carecoord_actor", default=None)


def current() -> Actor | None:
    """The person a command runs for, or None (the service acts on its own)."""
    return _actor.get()


@contextmanager
def acting_as(subject: str, role: str) -> Iterator[Actor]:
    """Within the block, commands are run for `subject` in `role`."""
    actor = Actor(subject, role)
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)
