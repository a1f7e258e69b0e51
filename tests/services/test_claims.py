"""The claims service: what was sent is recorded as the contract's ClaimSubmitted; what breaks the
contract or names a claim the episode never sent is refused, and nothing is stored."""

from __future__ import annotations

from datetime import date

import pytest

from carecoord.bootstrap import Services
from events import ClaimSubmitted
from projections.core.history import read_history
from services.common.errors import AlreadyRecorded, EpisodeUnknown, InvalidCommand, RuleViolated
from tests.support.services import assert_refused, event_types, open_episode

LINE = {
    "code": "S9363",
    "from": date(2026, 3, 2),
    "to": date(2026, 3, 31),
    "units": 30,
    "authorization": "A-1",
}


def submit(services: Services, claim_id: str = "CLM-1", **changes: object) -> None:
    arguments: dict[str, object] = {
        "claim_id": claim_id,
        "period": "2026-03",
        "frequency": "original",
        "submitted_on": date(2026, 4, 2),
        "lines": [LINE],
    }
    arguments.update(changes)
    services.claims.submit_claim("ep-1", **arguments)  # type: ignore[arg-type]


def test_an_original_then_a_replacement_then_a_void_are_recorded_as_the_contract_says(
    services: Services,
) -> None:
    open_episode(services, "ep-1")
    submit(services)
    replacement = {**LINE, "to": date(2026, 3, 14), "units": 13}
    submit(services, "CLM-2", frequency="replacement", replaces="CLM-1", lines=[replacement])
    submit(services, "CLM-3", frequency="void", replaces="CLM-2", lines=[])
    events = [event for _, event in services.claims.contract_events()]
    assert [e.event_type for e in events] == ["ClaimSubmitted"] * 3
    assert {e.source for e in events} == {"claims"}
    first, second, void = (e.data for e in events)
    assert isinstance(first, ClaimSubmitted) and isinstance(second, ClaimSubmitted)
    assert isinstance(void, ClaimSubmitted)
    assert (first.frequency, first.replaces, first.lines[0].units) == ("original", None, 30)
    assert (second.replaces, second.lines[0].to_date) == ("CLM-1", date(2026, 3, 14))
    assert (void.frequency, void.replaces, void.lines) == ("void", "CLM-2", [])
    # What a consumer reads off the wire is what a history file holds: it passes the contract.
    history = read_history([e.model_dump_json(by_alias=True) for e in events])
    assert not history.rejected


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"period": "2026-13"}, "period"),
        ({"lines": []}, "at least one line"),
        ({"lines": [{**LINE, "units": 0}]}, "units"),
        ({"lines": [{**LINE, "to": date(2026, 3, 1)}]}, "before from"),
        ({"lines": [{k: v for k, v in LINE.items() if k != "authorization"}]}, "authorization"),
        ({"frequency": "replacement"}, "replaces"),
        ({"replaces": "CLM-0"}, "original"),
        ({"frequency": "sideways"}, "frequency"),
        ({"claim_id": ""}, "claim_id"),
    ],
)
def test_a_claim_that_breaks_the_contract_is_refused(
    services: Services, changes: dict[str, object], match: str
) -> None:
    open_episode(services, "ep-1")
    assert_refused(services.claims, lambda: submit(services, **changes), InvalidCommand, match)


def test_a_claim_id_is_sent_once(services: Services) -> None:
    open_episode(services, "ep-1")
    submit(services)
    assert_refused(services.claims, lambda: submit(services), AlreadyRecorded, "already sent")


def test_a_replacement_or_void_names_a_claim_of_the_same_episode(services: Services) -> None:
    open_episode(services, "ep-1")
    assert_refused(
        services.claims,
        lambda: submit(services, "CLM-2", frequency="void", replaces="CLM-1", lines=[]),
        RuleViolated,
        "not a claim sent for episode ep-1",
    )


def test_a_claim_for_an_unknown_episode_is_refused(services: Services) -> None:
    assert_refused(services.claims, lambda: submit(services), EpisodeUnknown, "ep-1 is unknown")
    assert event_types(services.claims) == []
