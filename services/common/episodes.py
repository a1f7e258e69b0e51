"""Which episodes exist, learnt from the referrals service's event stream as any consumer would.

Services other than referrals never import its aggregates or query its state: they follow its
public events. An `EpisodeDirectory` is given an *episode source*, a callable that returns the
referrals contract events after a position; on the embedded default that is the referrals
application's notification log (`ReferralsApplication.contract_events`), later a Kafka consumer.
Before a command is validated the directory catches up, so it knows every referral stored so far
(reading the source only when its version says something was stored; on PostgreSQL a command may
instead check in its own transaction that nothing was: referrals_fence.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from events import (
    CareTeamAssigned,
    CareTeamReleased,
    Event,
    ReferralAccepted,
    ReferralDeclined,
    ReferralReceived,
    TherapyDiscontinued,
)
from services.common.errors import EpisodeClosed, EpisodeUnknown

# start position (inclusive) -> (position, event) pairs after it, in order; positions increase.
EpisodeSource = Callable[[int], Sequence[tuple[int, Event]]]


@dataclass(frozen=True)
class EpisodeStatus:
    """What the other services need to know about an episode to accept a command for it."""

    episode_id: str
    patient_ref: str
    accepted_on: date | None = None
    declined: bool = False
    discontinued_on: date | None = None
    care_team: frozenset[str] = frozenset()  # the members on its care team now

    def require_open(self, on: date, what: str) -> None:
        """Refuse to record `what` on date `on` for a declined episode, or after discontinuation."""
        if self.declined:
            raise EpisodeClosed(f"episode {self.episode_id} was declined: cannot record {what}")
        if self.discontinued_on is not None and on > self.discontinued_on:
            raise EpisodeClosed(
                f"episode {self.episode_id} was discontinued on {self.discontinued_on}: "
                f"cannot record {what} on {on}"
            )

    def require_not_declined(self, what: str) -> None:
        if self.declined:
            raise EpisodeClosed(f"episode {self.episode_id} was declined: cannot record {what}")


class EpisodeDirectory:
    """A small read model of the episodes (known, declined, discontinued), fed by the referrals stream."""

    def __init__(self, source: EpisodeSource, source_version: Callable[[], int] | None = None) -> None:
        """`source_version`, when the source has one, changes whenever something is stored in it
        (sqlite_version.py): catching up reads the source only when it changed since last time."""
        self._source = source
        self._source_version = source_version
        self._caught_up_at: int | None = None  # the source's version when last caught up
        self._episodes: dict[str, EpisodeStatus] = {}
        self._position = 0
        self._lock = threading.Lock()

    @property
    def position(self) -> int:
        """The position of the last referrals event seen."""
        return self._position

    def catch_up(self) -> None:
        with self._lock:
            # The version before the reads: whatever is stored after this moment changes it again.
            version = self._source_version() if self._source_version is not None else None
            if version is not None and version == self._caught_up_at:
                return
            while True:
                batch = self._source(self._position + 1)
                if not batch:
                    break
                for position, event in batch:
                    self._apply(event)
                    self._position = position
            self._caught_up_at = version  # only once read to the end: a failed read reads again

    def get(self, episode_id: str, *, catch_up: bool = True) -> EpisodeStatus:
        """The episode's status, after catching up (unless told not to: a fenced command checks
        later, see referrals_fence.py); refused when no referral was received."""
        if catch_up:
            self.catch_up()
        try:
            return self._episodes[episode_id]
        except KeyError:
            raise EpisodeUnknown(f"episode {episode_id} is unknown: no referral received") from None

    def __contains__(self, episode_id: object) -> bool:
        self.catch_up()
        return episode_id in self._episodes

    def _apply(self, event: Event) -> None:
        data = event.data
        if isinstance(data, ReferralReceived):
            # The first referral counts for the episode's frame (domain.md); a repeat changes nothing.
            self._episodes.setdefault(event.episode_id, EpisodeStatus(event.episode_id, data.patient_ref))
            return
        status = self._episodes.get(event.episode_id)
        if status is None:
            return  # in the referrals service's own stream a referral always comes first
        if isinstance(data, ReferralAccepted):
            accepted_on = min(filter(None, (status.accepted_on, data.accepted_on)))
            self._episodes[event.episode_id] = replace(status, accepted_on=accepted_on)
        elif isinstance(data, ReferralDeclined):
            self._episodes[event.episode_id] = replace(status, declined=True)
        elif isinstance(data, TherapyDiscontinued):
            discontinued_on = min(filter(None, (status.discontinued_on, data.discontinued_on)))
            self._episodes[event.episode_id] = replace(status, discontinued_on=discontinued_on)
        elif isinstance(data, CareTeamAssigned):
            # In the referrals stream's own order, which the referrals service checked them in.
            self._episodes[event.episode_id] = replace(status, care_team=status.care_team | {data.member})
        elif isinstance(data, CareTeamReleased):
            self._episodes[event.episode_id] = replace(status, care_team=status.care_team - {data.member})
