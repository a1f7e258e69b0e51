"""The example histories of shared/examples (beside the repository, as CI lays it out), as events."""

from __future__ import annotations

from pathlib import Path

import pytest

from events import Event, parse_event

# The `shared` folder beside the repository, as CI lays it out.
EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"


def example_events() -> list[Event]:
    """Every event of every example history that fits the contract (some lines deliberately do not)."""
    if not EXAMPLES.is_dir():
        pytest.fail(f"shared examples not found at {EXAMPLES}")
    events = []
    for history in sorted(EXAMPLES.glob("*.jsonl")):
        for line in history.read_text().splitlines():
            try:
                events.append(parse_event(line))
            except ValueError:
                continue
    return events
