"""From a stored domain event to the public contract's envelope, one to one.

A domain event whose class is named like a contract event type (`DeliveryCompleted`, ...) carries
`episode_id`, `occurred_at` (RFC 3339 text, from the command) and the type's data fields under
their contract names. The envelope's `event_id` is derived from the stored event's identity
(service, originator id, originator version), so the same stored event always maps to the same
`event_id`; `recorded_at` is the stored event's timestamp. Domain events with other names (an
aggregate's bookkeeping `Opened`, the referrals service's private `PatientRegistered`) are not part
of the contract and map to nothing.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from events import DATA_MODELS, Event, parse_event
from events.models import Source
from services.common.values import contract_json

# Fixed forever: changing it would change every event_id already published.
EVENT_ID_NAMESPACE = UUID("6f1c3a52-5d8e-4c47-9f0e-2b7a1d9e4c30")


def event_id(source: str, originator_id: UUID | str, originator_version: int) -> str:
    """The stable contract `event_id` of a stored domain event."""
    return str(uuid5(EVENT_ID_NAMESPACE, f"{source}/{originator_id}/{originator_version}"))


# Each contract type's data field names, looked up once (the relay maps every stored event).
_DATA_FIELDS = {event_type: tuple(model.model_fields) for event_type, model in DATA_MODELS.items()}


def to_contract(domain_event: Any, source: Source) -> Event | None:
    """The contract envelope of a stored domain event, or None for one that is not in the contract."""
    event_type = type(domain_event).__name__
    model = DATA_MODELS.get(event_type)
    if model is None:
        return None
    values = ((name, getattr(domain_event, name, None)) for name in _DATA_FIELDS[event_type])
    data = {name: value for name, value in values if value is not None}
    envelope = {
        "event_id": event_id(source, domain_event.originator_id, domain_event.originator_version),
        "event_type": event_type,
        "schema_version": 1,
        "source": source,
        "episode_id": domain_event.episode_id,
        "occurred_at": domain_event.occurred_at,
        "recorded_at": domain_event.timestamp.isoformat(),
        "data": data,
    }
    recorded_by = getattr(domain_event, "recorded_by", None)  # absent from events stored before it
    if recorded_by is not None:
        envelope["recorded_by"] = recorded_by
    # Through the contract's own parser, exactly as a consumer reading the wire would.
    return parse_event(contract_json(envelope))
