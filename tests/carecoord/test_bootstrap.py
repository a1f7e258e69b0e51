"""The Services container, and what stays true across processes and restarts."""

from __future__ import annotations

from datetime import date

from carecoord.bootstrap import SERVICE_NAMES, Services
from carecoord.config import Settings, application_env
from events import parse_event, to_json
from services.deliveries.application import DeliveriesApplication
from services.deliveries.domainmodel import Item
from tests.support.services import open_episode


def test_all_five_services_are_built_from_one_configuration(services: Services) -> None:
    assert [app.name for app in services] == list(SERVICE_NAMES)
    assert services.by_name()["visits"] is services.visits


def test_event_ids_survive_a_restart(settings: Settings) -> None:
    with Services.from_config(settings) as first:
        open_episode(first, "ep-1")
        first.deliveries.complete_delivery(
            "ep-1", delivery_id="d-1", delivered_on=date(2026, 3, 2), days_supply=7, items=[Item("J0475", 4)]
        )
        before = first.contract_events()
    with Services.from_config(settings) as second:
        after = second.contract_events()
    assert after == before and len(before) == 3
    # Every envelope survives the wire unchanged.
    assert [parse_event(to_json(e)) for e in after] == after


def test_a_service_in_another_process_learns_episodes_from_the_referrals_stream(settings: Settings) -> None:
    with Services.from_config(settings) as coordinator_side:
        referrals = coordinator_side.referrals
        # Another process: its own deliveries application, fed only by the referrals events.
        deliveries = DeliveriesApplication(
            env=application_env("deliveries", settings), episode_source=referrals.contract_events
        )
        try:
            open_episode(coordinator_side, "ep-5")  # after the deliveries app was built
            deliveries.complete_delivery(
                "ep-5",
                delivery_id="d-1",
                delivered_on=date(2026, 3, 2),
                days_supply=7,
                items=[Item("A4221", 1)],
            )
            assert [e.event_type for _, e in coordinator_side.deliveries.contract_events()] == [
                "DeliveryCompleted"
            ]
        finally:
            deliveries.close()


def test_contract_events_pages_and_limits(services: Services) -> None:
    open_episode(services, "ep-1")
    for n in range(5):
        services.visits.log_dose("ep-1", administered_on=date(2026, 3, 2 + n), by="patient")
    services.visits.log_section_size = 2  # force paging
    everything = services.visits.contract_events()
    assert [p for p, _ in everything] == [2, 3, 4, 5, 6]  # notification 1 is the aggregate's bookkeeping
    assert services.visits.contract_events(start=4) == everything[2:]
    assert services.visits.contract_events(start=1, limit=3) == everything[:3]
    assert services.visits.contract_events(start=1, limit=1) == everything[:1]  # skips the bookkeeping
    assert services.visits.contract_events(start=7) == []
    assert services.visits.max_position() == 6
