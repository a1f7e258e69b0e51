"""The episode directory follows a referrals event source; any source will do (later, Kafka)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pytest

from events import (
    Event,
    ReferralAccepted,
    ReferralDeclined,
    ReferralReceived,
    TherapyDiscontinued,
    make_event,
)
from services.common.episodes import EpisodeDirectory
from services.common.errors import EpisodeClosed, EpisodeUnknown
from tests.support.services import sample_order


def _event(n: int, episode_id: str, data: object) -> Event:
    return make_event(
        event_id=f"e-{n}",
        episode_id=episode_id,
        occurred_at="2026-03-01T09:00:00-05:00",
        recorded_at="2026-03-01T14:00:00+00:00",
        data=data,
    )


def _received(n: int, episode_id: str) -> Event:
    from events import Payer, Prescriber

    return _event(
        n,
        episode_id,
        ReferralReceived(
            patient_ref="pt-1",
            payer=Payer(payer_id="p"),
            prescriber=Prescriber(npi="1", name="Dr"),
            diagnosis_codes=["G35"],
            order=sample_order(),
        ),
    )


class FakeStream:
    """A referrals stream that grows, read from a position as a consumer would."""

    def __init__(self) -> None:
        self.events: list[tuple[int, Event]] = []
        self.reads = 0

    def append(self, event: Event) -> None:
        self.events.append((len(self.events) + 1, event))

    def __call__(self, start: int) -> Sequence[tuple[int, Event]]:
        self.reads += 1
        return [(p, e) for p, e in self.events if p >= start][:2]  # small pages


def test_the_directory_catches_up_before_answering() -> None:
    stream = FakeStream()
    directory = EpisodeDirectory(stream)
    with pytest.raises(EpisodeUnknown, match="episode ep-1 is unknown: no referral received"):
        directory.get("ep-1")
    stream.append(_received(1, "ep-1"))
    stream.append(_event(2, "ep-1", ReferralAccepted(accepted_on=date(2026, 3, 2))))
    stream.append(_received(3, "ep-2"))
    stream.append(_event(4, "ep-2", ReferralDeclined(reason="no")))
    stream.append(
        _event(5, "ep-1", TherapyDiscontinued(discontinued_on=date(2026, 3, 20), reason="completed"))
    )
    status = directory.get("ep-1")
    assert (status.accepted_on, status.discontinued_on, status.declined) == (
        date(2026, 3, 2),
        date(2026, 3, 20),
        False,
    )
    assert directory.position == 5 and "ep-2" in directory
    status.require_open(date(2026, 3, 20), "a delivery")
    with pytest.raises(
        EpisodeClosed, match="discontinued on 2026-03-20: cannot record a delivery on 2026-03-21"
    ):
        status.require_open(date(2026, 3, 21), "a delivery")
    with pytest.raises(EpisodeClosed, match="episode ep-2 was declined: cannot record a visit"):
        directory.get("ep-2").require_open(date(2026, 3, 2), "a visit")


def test_the_earliest_discontinuation_counts() -> None:
    stream = FakeStream()
    stream.append(_received(1, "ep-1"))
    stream.append(
        _event(2, "ep-1", TherapyDiscontinued(discontinued_on=date(2026, 3, 20), reason="completed"))
    )
    stream.append(_event(3, "ep-1", TherapyDiscontinued(discontinued_on=date(2026, 3, 18), reason="other")))
    assert EpisodeDirectory(stream).get("ep-1").discontinued_on == date(2026, 3, 18)


def test_a_source_with_a_version_is_read_only_when_it_changed() -> None:
    stream = FakeStream()
    version = [7]
    directory = EpisodeDirectory(stream, lambda: version[0])
    stream.append(_received(1, "ep-1"))
    assert "ep-1" in directory and stream.reads == 2  # the event, then the empty page
    assert "ep-1" in directory and stream.reads == 2  # same version: not read
    stream.append(_received(2, "ep-2"))
    version[0] = 8
    assert "ep-2" in directory and stream.reads == 4


def test_a_failed_read_is_read_again_though_the_version_did_not_change() -> None:
    stream = FakeStream()
    stream.append(_received(1, "ep-1"))

    def failing(start: int) -> Sequence[tuple[int, Event]]:
        raise OSError("the store went away")

    directory = EpisodeDirectory(failing, lambda: 7)
    with pytest.raises(OSError):
        directory.catch_up()
    directory._source = stream
    assert "ep-1" in directory
