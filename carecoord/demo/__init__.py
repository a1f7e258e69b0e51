"""A realistic month (March 2026) of a home infusion pharmacy, driven through the services' commands.

About twenty episodes of intrathecal baclofen therapy: referrals accepted and declined,
authorizations (some with too few units), assessments (one not eligible), weekly deliveries,
start-of-care and follow-up visits, patient-logged doses, a complication with a hold and a resume,
a hospital stay reported days late, a voided delivery, a failed delivery, discontinuations, and a
patient with two episodes. Everything goes through the applications' command methods; nothing
writes events directly. It is deterministic: the same seed gives the same history.

The month runs in a second, so the services' clock (`recorded_at`) is moved along with it: each
command is recorded a little after it happened, and the late reports days after.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from carecoord.bootstrap import Services
from carecoord.config import Settings
from carecoord.demo.episodes import PLANS, plan_episode
from carecoord.demo.incidents import refusals, special_cases
from carecoord.demo.script import Script
from events import Event

DEFAULT_SEED = 2026


def run_demo(
    data_dir: Path | str,
    seed: int = DEFAULT_SEED,
    on_refusal: Callable[[str, str], None] | None = None,
    settings: Settings | None = None,
) -> Services:
    """Build the services on the embedded default in `data_dir` (or on `settings`' stores) and
    drive the month through them.

    `data_dir` should be empty (the command line wipes it first). The commands the demo tries on
    purpose to show a refusal are reported to `on_refusal(what, message)`.
    """
    services = Services.from_config(settings or Settings.embedded(data_dir))
    script = Script(services, random.Random(seed))
    for plan in PLANS:
        plan_episode(script, plan)
    special_cases(script)
    refusals(script)
    script.run(on_refusal)
    return services


def summarize(services: Services, examples: int = 3) -> list[str]:
    """Per service: how many events of each type it recorded, and a few of them. No patient names."""
    lines: list[str] = []
    late: list[str] = []
    for app in services:
        events = [event for _, event in app.contract_events()]
        counts = Counter(event.event_type for event in events)
        lines.append(f"{app.name}: {len(events)} events")
        lines.extend(f"  {count:4d}  {event_type}" for event_type, count in counts.items())
        lines.extend(f"        {_one_line(event)}" for event in events[:examples])
        late.extend(
            f"  {_one_line(event)}  (recorded {event.recorded_instant:%Y-%m-%d %H:%M} UTC)"
            for event in events
            if event.recorded_instant - event.occurred_instant > timedelta(days=1)
        )
    if late:
        lines.append("reported late (recorded days after they occurred):")
        lines.extend(late)
    return lines


def _one_line(event: Event) -> str:
    fields = event.data.model_dump(mode="json", exclude_none=True)
    shown = ", ".join(f"{k}={v}" for k, v in fields.items() if not isinstance(v, dict | list))
    if len(shown) > 72:
        shown = shown[:69] + "..."
    return f"{event.occurred_at[:16]}  {event.episode_id}  {event.event_type}: {shown}"
