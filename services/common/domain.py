"""The base of every service's aggregates: events recorded at the service clock's time."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate

from services.common import clock


class ServiceAggregate(Aggregate):
    """An eventsourcing Aggregate whose events take their timestamp from `services.common.clock`."""

    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()

    class Created(Event, Aggregate.Created):
        pass
