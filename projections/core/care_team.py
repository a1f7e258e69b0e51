"""An episode's care team: who is on it now, from its CareTeamAssigned and CareTeamReleased events.

In the order they were recorded (the order the referrals service checked them in), so the result
depends only on the set of events.
"""

from __future__ import annotations

from collections.abc import Iterable

from events import CareTeamAssigned, CareTeamReleased, Event
from projections.core.facts import record_key

CARE_TEAM_EVENT_TYPES = ("CareTeamAssigned", "CareTeamReleased")


def care_team(events: Iterable[Event]) -> dict[str, str]:
    """Member (a staff subject) -> role, of those on the care team after these events."""
    team: dict[str, str] = {}
    changes = [e for e in events if isinstance(e.data, CareTeamAssigned | CareTeamReleased)]
    for event in sorted(changes, key=record_key):
        if isinstance(event.data, CareTeamAssigned):
            team[event.data.member] = event.data.role
        else:
            assert isinstance(event.data, CareTeamReleased)
            team.pop(event.data.member, None)
    return team
