"""The five services, built from one configuration: for the demo, the HTTP API, the relay, projections."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from carecoord.config import Settings, application_env
from events import Event
from services.assessments.application import AssessmentsApplication
from services.common.application import ServiceApplication
from services.common.episodes import EpisodeSource
from services.complications.application import ComplicationsApplication
from services.deliveries.application import DeliveriesApplication
from services.referrals.application import ReferralsApplication
from services.visits.application import VisitsApplication

SERVICE_NAMES = ("referrals", "assessments", "deliveries", "visits", "complications")


@dataclass
class Services:
    referrals: ReferralsApplication
    assessments: AssessmentsApplication
    deliveries: DeliveriesApplication
    visits: VisitsApplication
    complications: ComplicationsApplication

    @classmethod
    def from_config(
        cls, settings: Settings | None = None, episode_source: EpisodeSource | None = None
    ) -> Services:
        """All five applications on the configured stores (SQLite under the data folder, or PostgreSQL).

        The other services learn the episodes from `episode_source`; by default they follow the
        referrals application's notification log in this process, as the embedded default does.
        """
        settings = settings or Settings.from_env()
        referrals = ReferralsApplication(env=application_env("referrals", settings))
        source = episode_source or referrals.contract_events
        return cls(
            referrals=referrals,
            assessments=AssessmentsApplication(
                env=application_env("assessments", settings), episode_source=source
            ),
            deliveries=DeliveriesApplication(
                env=application_env("deliveries", settings), episode_source=source
            ),
            visits=VisitsApplication(env=application_env("visits", settings), episode_source=source),
            complications=ComplicationsApplication(
                env=application_env("complications", settings), episode_source=source
            ),
        )

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

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
