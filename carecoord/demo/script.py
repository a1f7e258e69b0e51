"""The demo's clock-driven script: commands queued at the time they are recorded, run in that order."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import partial
from zoneinfo import ZoneInfo

from carecoord.bootstrap import Services
from services.common.clock import use_clock
from services.common.errors import DomainError

EASTERN = ZoneInfo("America/New_York")
PACIFIC = ZoneInfo("America/Los_Angeles")
MONTH_END = date(2026, 3, 31)


def d(day: int, month: int = 3) -> date:
    """A date in 2026 (March unless told)."""
    return date(2026, month, day)


@dataclass(order=True)
class Step:
    recorded_at: datetime
    seq: int
    label: str = field(compare=False)
    action: Callable[[], object] = field(compare=False)
    refusal_expected: bool = field(default=False, compare=False)


class Script:
    """Commands queued at the time they are recorded, then run in that order under a moving clock."""

    def __init__(self, services: Services, rng: random.Random) -> None:
        self.services = services
        self.rng = rng
        self.steps: list[Step] = []

    def at(
        self, recorded_at: datetime, label: str, action: Callable[[], object], refused: bool = False
    ) -> None:
        self.steps.append(Step(recorded_at, len(self.steps), label, action, refused))

    def soon(self, occurred: datetime, label: str, action: Callable[[], object]) -> None:
        """Recorded a few minutes to an hour after it happened, as most things are."""
        self.at(occurred + timedelta(minutes=self.rng.randint(3, 60)), label, action)

    def run(self, on_refusal: Callable[[str, str], None] | None = None) -> None:
        for step in sorted(self.steps):
            with use_clock(partial(_fixed, step.recorded_at)):
                if not step.refusal_expected:
                    step.action()
                    continue
                try:
                    step.action()
                except DomainError as error:
                    if on_refusal:
                        on_refusal(step.label, str(error))
                else:
                    raise AssertionError(f"demo: {step.label} should have been refused")


def _fixed(moment: datetime) -> datetime:
    return moment


def local(day: date, hour: int, minute: int = 0, tz: tzinfo = EASTERN) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz)
