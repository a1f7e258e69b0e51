"""The composition root: every part of carecoord built from one `Settings`.

Entrypoints (the CLI commands, the HTTP API, the relay, the demo) ask here for what they need;
nothing below this layer reads the environment or chooses a store. The services are the contract's
(`events.SERVICE_NAMES`), each an eventsourcing Application given its settings as `env`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from carecoord.config import Settings, application_env
from events import SERVICE_NAMES, Event
from services.assessments.application import AssessmentsApplication
from services.claims.application import ClaimsApplication
from services.common.application import EpisodeFollowingApplication, ServiceApplication
from services.common.episodes import EpisodeSource
from services.common.sqlite_version import DataVersion
from services.complications.application import ComplicationsApplication
from services.deliveries.application import DeliveriesApplication
from services.referrals.application import ReferralsApplication
from services.visits.application import VisitsApplication

APPLICATION_CLASSES: dict[str, type[ServiceApplication]] = {
    "referrals": ReferralsApplication,
    "assessments": AssessmentsApplication,
    "deliveries": DeliveriesApplication,
    "visits": VisitsApplication,
    "complications": ComplicationsApplication,
    "claims": ClaimsApplication,
}
if tuple(APPLICATION_CLASSES) != SERVICE_NAMES:
    raise RuntimeError(f"one application per service of the contract ({SERVICE_NAMES}), in its order")


@dataclass
class Services:
    referrals: ReferralsApplication
    assessments: AssessmentsApplication
    deliveries: DeliveriesApplication
    visits: VisitsApplication
    complications: ComplicationsApplication
    claims: ClaimsApplication
    # Closed with the applications (the Kafka consumers of the episode sources in Kafka mode).
    resources: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def from_config(
        cls, settings: Settings | None = None, episode_source: EpisodeSource | None = None
    ) -> Services:
        """Every service's application on the configured stores (SQLite under the data folder, or PostgreSQL).

        The other services learn the episodes from `episode_source`. By default they follow the
        referrals application's notification log in this process, as the embedded default does; in
        Kafka mode (`settings.kafka_mode`) each reads the referrals topic with its own consumer.
        """
        settings = settings or Settings.from_env()
        referrals = ReferralsApplication(env=application_env("referrals", settings))
        resources: list[Callable[[], None]] = []

        def source() -> EpisodeSource:
            if episode_source is not None:
                return episode_source
            if settings.kafka_mode:
                from carecoord.topics import topic_for
                from services.common.kafka_episodes import KafkaEpisodeSource

                assert settings.kafka_bootstrap is not None
                kafka_source = KafkaEpisodeSource(settings.kafka_bootstrap, topic_for("referrals"))
                resources.append(kafka_source.close)
                return kafka_source
            return referrals.contract_events

        # Following the referrals log of the same database, a command's look at it can ride in its
        # own transaction (services/common/referrals_fence.py; PostgreSQL only, ignored on SQLite).
        fence = episode_source is None and not settings.kafka_mode

        def source_version() -> DataVersion | None:
            """On SQLite, the referrals store's data_version (sqlite_version.py), one per service."""
            if episode_source is not None or settings.postgres is not None:
                return None
            version = DataVersion(application_env("referrals", settings)["SQLITE_DBNAME"])
            resources.append(version.close)
            return version

        def following(name: str) -> dict[str, Any]:
            return {
                "env": application_env(name, settings),
                "episode_source": source(),
                "referrals_fence": fence,
                "episode_source_version": source_version(),
            }

        followers = {
            name: app_class(**following(name))
            for name, app_class in APPLICATION_CLASSES.items()
            if name != "referrals"
        }
        return cls(referrals=referrals, **followers, resources=resources)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[ServiceApplication]:
        return iter(self.by_name().values())

    def by_name(self) -> dict[str, ServiceApplication]:
        return {name: getattr(self, name) for name in SERVICE_NAMES}

    def contract_events(self) -> list[Event]:
        """Every service's contract events (each service's own order; no order across services)."""
        return [event for app in self for _, event in app.contract_events()]

    def close(self) -> None:
        for app in self:
            app.close()
        for close in self.resources:
            close()

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def outbox_application(name: str, settings: Settings) -> ServiceApplication:
    """One service's application, only to read its notification log (the outbox relay's): it never
    runs a command, so it follows no episode source."""
    if name not in APPLICATION_CLASSES:
        raise ValueError(f"unknown service {name!r}; one of: {', '.join(SERVICE_NAMES)}")
    env = application_env(name, settings)
    cls = APPLICATION_CLASSES[name]
    if issubclass(cls, EpisodeFollowingApplication):
        return cls(env, episode_source=lambda start: ())
    return cls(env)


def referrals_application(settings: Settings) -> ReferralsApplication:
    """The referrals service alone, on the configured store: what decrypts a patient's details for
    the 837P's subscriber (`carecoord claims --x12`), without the other services."""
    return ReferralsApplication(env=application_env("referrals", settings))
