"""Upcasters: read an event written under an older `schema_version` as the current one.

The contract may only rename or remove a field with a new `schema_version` and an upcaster
for the old one. Each upcaster takes the decoded envelope at version N and returns it at N+1;
`upcast` chains them up to the current version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from events.models import CURRENT_SCHEMA_VERSION

Envelope = dict[str, Any]
Upcaster = Callable[[Envelope], Envelope]


class UpcastError(ValueError):
    pass


class Upcasters:
    """A registry of upcasters keyed by (event type, version they read)."""

    def __init__(self, current_version: int = CURRENT_SCHEMA_VERSION) -> None:
        self.current_version = current_version
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def decorator(step: Upcaster) -> Upcaster:
            self._steps[(event_type, from_version)] = step
            return step

        return decorator

    def upcast(self, event_type: str, version: int, raw: Mapping[str, Any]) -> Envelope:
        if version > self.current_version:
            raise UpcastError(f"version {version} is newer than this reader ({self.current_version})")
        envelope = dict(raw)
        while version < self.current_version:
            step = self._steps.get((event_type, version))
            if step is None:
                raise UpcastError(f"no upcaster reads version {version}")
            envelope = step(envelope)
            version += 1
            envelope["schema_version"] = version
        return envelope


# Version 1 is the first published version: nothing older exists in production yet.
DEFAULT_UPCASTERS = Upcasters()
