"""The base of every service's eventsourcing Application.

What it adds to the library's `Application`:
- configuration is given (the `env=` argument, built by the composition root, carecoord/bootstrap.py),
  never read from whatever happens to be in `os.environ`, so one process can hold every service's
  application with different settings, and the write side never reads the environment itself;
- dates are stored as dates (a transcoding for `datetime.date`);
- `contract_events()`: the application's notification log as typed contract envelopes, which the
  projections and the Kafka outbox relay read.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    PersistenceError,
    Recording,
    StoredEvent,
    Transcoding,
)
from eventsourcing.utils import Environment, get_topic

from events import Event
from events.models import Source
from services.common import actor
from services.common.contract import to_contract
from services.common.episodes import EpisodeDirectory, EpisodeSource, EpisodeStatus
from services.common.errors import DomainError, NotOnCareTeam
from services.common.referrals_fence import ReferralsFencedRecorder, ReferralsMoved, is_referrals_moved

P = ParamSpec("P")
R = TypeVar("R")


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ActorRecordingMapper(Mapper[UUID]):
    """The library's mapper, which also stores who caused each event: the person the command runs
    for (services/common/actor.py), else the service itself. Kept beside the event's own state, so
    the aggregates never see it (the library hands a method only the attributes it names)."""

    service_identity: actor.Actor

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if "recorded_by" not in vars(domain_event):
            by = actor.current() or self.service_identity
            object.__setattr__(domain_event, "recorded_by", by.as_record())
        return super().to_stored_event(domain_event)


class ServiceApplication(Application[UUID]):
    """An event-sourced carecoord service; `name` is the contract's `source` and the table prefix."""

    name: ClassVar[Source]  # type: ignore[misc]
    log_section_size = 1000

    def __init__(self, env: Mapping[str, str]) -> None:
        """`env` as eventsourcing expects it (PERSISTENCE_MODULE, SQLITE_DBNAME or POSTGRES_*, ...)."""
        super().__init__(env=dict(env))

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # Unlike the library's default, ignore os.environ: carecoord.config is the one place settings
        # are read (the composition root passes them in), and a stray CIPHER_KEY or
        # PERSISTENCE_MODULE must not change one service silently.
        return Environment(name, {**type(self).env, **(env or {})})

    def construct_mapper(self) -> Mapper[UUID]:
        mapper = self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=ActorRecordingMapper
        )
        assert isinstance(mapper, ActorRecordingMapper)
        mapper.service_identity = actor.Actor(self.name, actor.SERVICE_ROLE)
        return mapper

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
    """A service that needs to know the episodes: it follows the referrals stream (never its state).

    `referrals_fence=True` says that the episode source reads the referrals table of this
    application's own PostgreSQL database (services/common/referrals_fence.py): a command marked
    `@command` then runs first on what the directory already knows, its save checking in the same
    transaction that the referrals stream has not moved since, and again after catching up when it
    has (after which commands catch up first until a catch-up finds the stream quiet again).
    Ignored on SQLite, where each service has its own file: there `episode_source_version` (the
    referrals store's `PRAGMA data_version`) spares the read when nothing was stored.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        episode_source: EpisodeSource,
        referrals_fence: bool = False,
        episode_source_version: Callable[[], int] | None = None,
    ) -> None:
        env = dict(env)
        if referrals_fence and env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            env["APPLICATION_RECORDER_TOPIC"] = get_topic(ReferralsFencedRecorder)
        super().__init__(env)
        self.episodes = EpisodeDirectory(episode_source, episode_source_version)
        self._fenced = isinstance(self.recorder, ReferralsFencedRecorder)
        # The directory position a fenced command of this thread decided on (None: not in one).
        self._fence = threading.local()
        # False after the fence refused a save: commands then catch up first, as unfenced ones do,
        # until a catch-up finds nothing new. While referrals keep arriving, a refused save (a whole
        # transaction, then the command again) costs more than the read it spares.
        self._referrals_quiet = True

    def episode(self, episode_id: str) -> EpisodeStatus:
        """The episode as the referrals stream describes it; refused when it is unknown, and, for a
        nurse, when she is not on its care team (in the same words: she may not know it exists)."""
        # In a fenced command, what the directory knows: the save checks that nothing came since.
        status = self.episodes.get(episode_id, catch_up=self._fenced_after() is None)
        by = actor.current()
        if by is not None and by.role in actor.TEAM_BOUND_ROLES and by.subject not in status.care_team:
            raise NotOnCareTeam(f"episode {episode_id} is unknown: no referral received")
        return status

    def save(
        self, *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None, **kwargs: Any
    ) -> list[Recording[UUID]]:
        after = self._fenced_after()
        if after is None:
            return super().save(*objs, **kwargs)
        try:
            return super().save(*objs, referrals_after=after, **kwargs)
        except PersistenceError as error:
            if is_referrals_moved(error):
                raise ReferralsMoved(str(error)) from None
            raise

    def _fenced_after(self) -> int | None:
        after: int | None = getattr(self._fence, "after", None)
        return after

    def _run_command(self, run: Callable[[], R]) -> R:
        if not self._fenced or self._fenced_after() is not None:
            return run()
        if not self._referrals_quiet:
            before = self.episodes.position
            try:
                return run()
            finally:
                self._referrals_quiet = self.episodes.position == before
        # The position first, then the statuses: they are at least as new as the position, so the
        # fence errs only towards running again.
        self._fence.after = self.episodes.position
        try:
            return run()
        except ReferralsMoved:
            self._referrals_quiet = False
        except DomainError:
            # Decided on what the directory knew, which may be behind (an unknown episode, a decline
            # stored since): nothing was stored. Decide again as every command did before the fence.
            pass
        finally:
            self._fence.after = None
        return run()


A = TypeVar("A", bound=EpisodeFollowingApplication)


def command(method: Callable[Concatenate[A, P], R]) -> Callable[Concatenate[A, P], R]:
    """Marks a command method of an episode-following service: it may run fenced (see above).

    A command must look up its episode with `self.episode()` and store with one `self.save()` as its
    last step; a refusal (`DomainError`) stores nothing. Unmarked methods catch up before each command.
    """

    def run(self: A, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run_command(functools.partial(method, self, *args, **kwargs))

    functools.update_wrapper(run, method)  # the API documents a command by its method's docstring
    return run
