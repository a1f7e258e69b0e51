"""The base of every service's eventsourcing Application.

What it adds to the library's `Application`:
- configuration comes from `carecoord.config` (the `env=` argument), never from whatever happens to
  be in `os.environ`, so one process can hold five applications with different settings;
- dates are stored as dates (a transcoding for `datetime.date`);
- `contract_events()`: the application's notification log as typed contract envelopes, which the
  projections and the Kafka outbox relay read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import JSONTranscoder, Transcoding
from eventsourcing.utils import Environment

from carecoord.config import Settings, application_env
from events import Event
from events.models import Source
from services.common.contract import to_contract
from services.common.episodes import EpisodeDirectory, EpisodeSource, EpisodeStatus


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Application[UUID]):
    """An event-sourced carecoord service; `name` is the contract's `source` and the table prefix."""

    name: ClassVar[Source]  # type: ignore[misc]
    log_section_size = 1000

    def __init__(self, env: Mapping[str, str] | None = None, *, settings: Settings | None = None) -> None:
        """`env` as eventsourcing expects it; by default built from `settings` (or the environment)."""
        if env is None:
            env = application_env(self.name, settings or Settings.from_env())
        super().__init__(env=dict(env))

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # Unlike the library's default, ignore os.environ: carecoord.config is the one place settings
        # are read, and a stray CIPHER_KEY or PERSISTENCE_MODULE must not change one service silently.
        return Environment(name, {**type(self).env, **(env or {})})

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def contract_events(self, start: int = 1, limit: int | None = None) -> list[tuple[int, Event]]:
        """(notification id, contract envelope) pairs from notification `start` on, in stored order.

        At most `limit` pairs (all when None). Stored events that are not in the contract (an
        aggregate's bookkeeping `Opened`, the private `PatientRegistered`) are skipped and do not
        count against the limit, so an empty answer always means: nothing more after `start`.
        """
        result: list[tuple[int, Event]] = []
        position = max(1, start)
        while limit is None or len(result) < limit:
            notifications = self.notification_log.select(position, self.log_section_size)
            for notification in notifications:
                contract_event = to_contract(self.mapper.to_domain_event(notification), self.name)
                if contract_event is not None:
                    result.append((notification.id, contract_event))
                    if limit is not None and len(result) == limit:
                        return result
            if len(notifications) < self.log_section_size:
                break
            position = notifications[-1].id + 1
        return result

    def max_position(self) -> int:
        """The notification id of the last stored event (0 when none)."""
        return self.recorder.max_notification_id() or 0

    def _get_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None


class EpisodeFollowingApplication(ServiceApplication):
    """A service that needs to know the episodes: it follows the referrals stream (never its state)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        episode_source: EpisodeSource,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(env, settings=settings)
        self.episodes = EpisodeDirectory(episode_source)

    def episode(self, episode_id: str) -> EpisodeStatus:
        """The episode as the referrals stream describes it; refused when it is unknown."""
        return self.episodes.get(episode_id)
