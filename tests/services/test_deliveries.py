"""The deliveries service: a delivery's life, and the commands it refuses."""

from __future__ import annotations

from datetime import date

import pytest

from carecoord.bootstrap import Services
from events import DeliveryCompleted
from services.common.errors import (
    AlreadyRecorded,
    EpisodeClosed,
    EpisodeUnknown,
    InvalidCommand,
    NotFound,
    RuleViolated,
)
from services.deliveries.domainmodel import Item
from tests.support.services import assert_refused, at, event_types, open_episode, receive

ITEMS = [Item("J0475", 4, "baclofen 10 mg"), Item("A4221", 7, "supplies, per week")]


def test_schedule_complete_fail_and_void(services: Services) -> None:
    open_episode(services, "ep-1")
    deliveries = services.deliveries
    deliveries.schedule_delivery("ep-1", delivery_id="d-1", scheduled_for=date(2026, 3, 2))
    deliveries.complete_delivery(
        "ep-1",
        delivery_id="d-1",
        delivered_on=date(2026, 3, 2),
        days_supply=7,
        items=[*ITEMS, {"code": "E0781", "units": 1, "description": "ambulatory infusion pump"}],
        occurred_at=at("2026-03-02", 14, 5),
    )
    deliveries.schedule_delivery("ep-1", delivery_id="d-2", scheduled_for=date(2026, 3, 9))
    deliveries.fail_delivery("ep-1", delivery_id="d-2", reason="nobody home")
    deliveries.complete_delivery(
        "ep-1", delivery_id="d-3", delivered_on=date(2026, 3, 10), days_supply=7, items=ITEMS
    )  # an unscheduled delivery
    deliveries.void_delivery("ep-1", delivery_id="d-3", reason="entered twice")

    assert event_types(deliveries) == [
        "DeliveryScheduled",
        "DeliveryCompleted",
        "DeliveryScheduled",
        "DeliveryFailed",
        "DeliveryCompleted",
        "DeliveryVoided",
    ]
    completed = deliveries.contract_events()[1][1]
    assert isinstance(completed.data, DeliveryCompleted)
    assert completed.occurred_at == "2026-03-02T14:05:00-05:00" and completed.source == "deliveries"
    assert [(i.code, i.units) for i in completed.data.items] == [("J0475", 4), ("A4221", 7), ("E0781", 1)]
    states = {d.delivery_id: d.state for d in deliveries.get_deliveries("ep-1").deliveries.values()}
    assert states == {"d-1": "completed", "d-2": "failed", "d-3": "voided"}


def test_refused_for_an_unknown_episode(services: Services) -> None:
    for command in (
        lambda: services.deliveries.schedule_delivery(
            "ep-9", delivery_id="d-1", scheduled_for=date(2026, 3, 2)
        ),
        lambda: _complete(services, "ep-9"),
        lambda: services.deliveries.fail_delivery("ep-9", delivery_id="d-1", reason="x"),
        lambda: services.deliveries.void_delivery("ep-9", delivery_id="d-1", reason="x"),
    ):
        assert_refused(
            services.deliveries, command, EpisodeUnknown, "episode ep-9 is unknown: no referral received"
        )


def test_refused_for_a_declined_episode(services: Services) -> None:
    receive(services, "ep-1")
    services.referrals.decline_referral("ep-1", "no coverage")
    assert_refused(
        services.deliveries,
        lambda: _complete(services, "ep-1"),
        EpisodeClosed,
        r"episode ep-1 was declined: cannot record a delivery \(d-1\)",
    )


def test_refused_after_discontinuation(services: Services) -> None:
    open_episode(services, "ep-1")
    services.referrals.discontinue_therapy("ep-1", discontinued_on=date(2026, 3, 20), reason="completed")
    _complete(services, "ep-1", "d-1", date(2026, 3, 20))
    assert_refused(
        services.deliveries,
        lambda: _complete(services, "ep-1", "d-2", date(2026, 3, 21)),
        EpisodeClosed,
        "episode ep-1 was discontinued on 2026-03-20: cannot record a delivery "
        r"\(d-2\) on 2026-03-21",
    )
    assert_refused(
        services.deliveries,
        lambda: services.deliveries.schedule_delivery(
            "ep-1", delivery_id="d-3", scheduled_for=date(2026, 3, 27)
        ),
        EpisodeClosed,
        "was discontinued on 2026-03-20",
    )
    # Correcting the past is still possible.
    services.deliveries.void_delivery("ep-1", delivery_id="d-1", reason="wrong patient")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"days_supply": 0}, "delivery d-1: days_supply must be more than 0, got 0"),
        ({"days_supply": -7}, "days_supply must be 0 or more, got -7"),
        ({"days_supply": "7"}, "days_supply must be a whole number"),
        ({"items": []}, "delivery d-1: a completed delivery needs at least one item"),
        ({"items": [Item("", 4)]}, "delivery d-1: item 1 has no code"),
        (
            {"items": [Item("J0475", 4), Item("A4221", -1)]},
            r"delivery d-1: item 2 \(A4221\) units must be 0 or more",
        ),
        ({"items": [Item("J0475", 0)]}, r"delivery d-1: item 1 \(J0475\) units must be more than 0, got 0"),
        ({"items": [{"units": 3}]}, "delivery d-1: item 1 has no code"),
        ({"delivered_on": "2026-03-02"}, "delivered_on must be a calendar date"),
        ({"delivery_id": ""}, "delivery_id is required"),
    ],
)
def test_bad_completions_are_refused(services: Services, change: dict[str, object], message: str) -> None:
    open_episode(services, "ep-1")
    values: dict[str, object] = dict(
        delivery_id="d-1", delivered_on=date(2026, 3, 2), days_supply=7, items=ITEMS
    )
    values.update(change)
    assert_refused(
        services.deliveries,
        lambda: services.deliveries.complete_delivery("ep-1", **values),  # type: ignore[arg-type]
        InvalidCommand,
        message,
    )


def test_a_delivery_lives_once(services: Services) -> None:
    open_episode(services, "ep-1")
    deliveries = services.deliveries
    deliveries.schedule_delivery("ep-1", delivery_id="d-1", scheduled_for=date(2026, 3, 2))
    assert_refused(
        deliveries,
        lambda: deliveries.schedule_delivery("ep-1", delivery_id="d-1", scheduled_for=date(2026, 3, 3)),
        AlreadyRecorded,
        r"delivery d-1 of episode ep-1 already exists \(scheduled\)",
    )
    assert_refused(
        deliveries,
        lambda: deliveries.void_delivery("ep-1", delivery_id="d-1", reason="x"),
        RuleViolated,
        "delivery d-1 of episode ep-1 is scheduled: only a completed delivery can be voided",
    )
    _complete(services, "ep-1", "d-1")
    assert_refused(
        deliveries,
        lambda: _complete(services, "ep-1", "d-1"),
        RuleViolated,
        r"delivery d-1 of episode ep-1 is completed: only a scheduled \(or new\) delivery can be completed",
    )
    assert_refused(
        deliveries,
        lambda: deliveries.fail_delivery("ep-1", delivery_id="d-1", reason="x"),
        RuleViolated,
        "delivery d-1 of episode ep-1 is completed: only a scheduled delivery can fail",
    )
    deliveries.void_delivery("ep-1", delivery_id="d-1", reason="duplicate")
    assert_refused(
        deliveries,
        lambda: deliveries.void_delivery("ep-1", delivery_id="d-1", reason="again"),
        AlreadyRecorded,
        "delivery d-1 of episode ep-1 was already voided",
    )


def test_a_failed_delivery_cannot_be_completed(services: Services) -> None:
    open_episode(services, "ep-1")
    services.deliveries.schedule_delivery("ep-1", delivery_id="d-1", scheduled_for=date(2026, 3, 2))
    services.deliveries.fail_delivery("ep-1", delivery_id="d-1", reason="road closed")
    assert_refused(
        services.deliveries,
        lambda: _complete(services, "ep-1", "d-1"),
        RuleViolated,
        "delivery d-1 of episode ep-1 is failed",
    )


def test_unknown_deliveries_are_refused(services: Services) -> None:
    open_episode(services, "ep-1")
    assert_refused(
        services.deliveries,
        lambda: services.deliveries.fail_delivery("ep-1", delivery_id="d-7", reason="x"),
        NotFound,
        "delivery d-7 of episode ep-1 is unknown",
    )
    assert_refused(
        services.deliveries,
        lambda: services.deliveries.void_delivery("ep-1", delivery_id="d-7", reason="x"),
        NotFound,
        "delivery d-7 of episode ep-1 is unknown",
    )
    assert_refused(
        services.deliveries,
        lambda: services.deliveries.void_delivery("ep-1", delivery_id="d-7", reason=""),
        InvalidCommand,
        "reason is required",
    )


def _complete(
    services: Services, episode_id: str, delivery_id: str = "d-1", delivered_on: date = date(2026, 3, 2)
) -> None:
    services.deliveries.complete_delivery(
        episode_id, delivery_id=delivery_id, delivered_on=delivered_on, days_supply=7, items=ITEMS
    )
