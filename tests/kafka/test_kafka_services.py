"""In Kafka mode the services learn the episodes from the referrals topic, like any other consumer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from carecoord.bootstrap import Services
from carecoord.config import TOPIC_PREFIX_ENV as PREFIX_ENV
from services.common.errors import EpisodeUnknown
from services.common.kafka_episodes import KafkaEpisodeSource
from services.deliveries.domainmodel import Item
from tests.support.postgres import private_schema, settings_for
from tests.support.relay import relay_env, run_relay
from tests.support.services import open_episode

pytestmark = pytest.mark.kafka


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with private_schema(pg_url) as name:
        yield name


def deliver(services: Services, episode_id: str) -> None:
    services.deliveries.complete_delivery(
        episode_id, delivery_id="d-1", delivered_on=date(2026, 3, 2), days_supply=7, items=[Item("J0475", 4)]
    )


def test_a_relayed_referral_opens_the_episode_for_the_other_services(
    pg_url: str,
    schema: str,
    bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PREFIX_ENV, topic_prefix)
    settings = settings_for(pg_url, schema, tmp_path / "var", bootstrap=bootstrap)
    assert settings.kafka_mode
    with Services.from_config(settings) as services:
        assert isinstance(services.deliveries.episodes._source, KafkaEpisodeSource)
        open_episode(services, "ep-1")  # stored by the referrals service, not yet relayed
        with pytest.raises(EpisodeUnknown):
            deliver(services, "ep-1")  # the deliveries service knows only what reached Kafka

        result = run_relay(relay_env(pg_url, schema, bootstrap, topic_prefix), "referrals", "--once")
        assert result.returncode == 0, result.stdout + result.stderr

        deliver(services, "ep-1")  # caught up from the topic: accepted
        assert [e.event_type for _, e in services.deliveries.contract_events()] == ["DeliveryCompleted"]
        with pytest.raises(EpisodeUnknown, match="ep-404"):
            deliver(services, "ep-404")
        assert [e.event_type for _, e in services.deliveries.contract_events()] == ["DeliveryCompleted"]

    # A service process started later reads the topic from offset zero and knows the episode too.
    with Services.from_config(settings) as restarted:
        restarted.visits.log_dose("ep-1", administered_on=date(2026, 3, 3), by="patient")
        assert "ep-1" in restarted.complications.episodes


def test_without_a_broker_setting_the_services_follow_the_referrals_store(
    pg_url: str, schema: str, tmp_path: Path
) -> None:
    settings = settings_for(pg_url, schema, tmp_path / "var")
    assert not settings.kafka_mode
    with Services.from_config(settings) as services:
        open_episode(services, "ep-1")
        deliver(services, "ep-1")  # no relay needed: the embedded path reads the store directly
