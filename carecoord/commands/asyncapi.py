"""`carecoord asyncapi`: the AsyncAPI document of every topic and message, for consumers outside the project.

Built with FastStream: a KafkaBroker (never connected) with one publisher per topic; a service
topic's payload is the discriminated union (by `event_type`) of that service's envelope models from
`events` (the contract's own types, so the document cannot drift from the parser). The committed
copy is docs/asyncapi.json; a test checks it equals what this command generates.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "127.0.0.1:9092"
TITLE = "carecoord events"
CONTRACT_VERSION = "1"  # the topics' `.v1` and every event's schema_version

DESCRIPTION = """\
The public event contract of carecoord (shared/contract.md) on Kafka. One topic per service, \
`carecoord.<service>.v1`, 6 partitions, kept forever; each record is one event envelope as JSON \
(UTF-8), **key = episode_id** (so an episode's events share a partition and keep their stored order), \
headers `event_type` and `event_id`. Delivery is at least once: an event may arrive more than once \
(after a relay restart); `event_id` is the idempotency key, a consumer counts each event_id once. \
Unknown fields must be ignored; new fields and event types may be added without a new version."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, help="write here (default: standard output)")
    parser.add_argument(
        "--format",
        choices=["json", "yaml"],
        default=None,
        help="json (default) or yaml; by default from the output file's extension",
    )
    parser.add_argument(
        "--server", default=DEFAULT_SERVER, help=f"the Kafka server named in the document ({DEFAULT_SERVER})"
    )


def build_document(server: str = DEFAULT_SERVER) -> Any:
    """The AsyncAPI 3.0 specification object (FastStream's)."""
    from typing import Annotated, Union

    from faststream.kafka import KafkaBroker
    from faststream.specification import AsyncAPI
    from pydantic import Field

    from carecoord.topics import deadletter_topic, topic_for
    from events import DATA_MODELS, ENVELOPE_MODELS, SERVICE_NAMES, SOURCE_OF

    broker = KafkaBroker(server)
    for service in SERVICE_NAMES:
        names = [name for name in ENVELOPE_MODELS if SOURCE_OF[DATA_MODELS[name]] == service]
        models = tuple(ENVELOPE_MODELS[name] for name in names)
        payload = Annotated[Union[models], Field(discriminator="event_type")]  # type: ignore[valid-type]  # noqa: UP007
        topic = topic_for(service, "")
        broker.publisher(
            topic,
            title=topic,
            description=(
                f"Every event of the {service} service ({', '.join(names)}), "
                "published by the outbox relay. Key: episode_id. Headers: event_type, event_id."
            ),
            schema=payload,
        )
    letters = deadletter_topic("")
    broker.publisher(
        letters,
        title=letters,
        description=(
            "Records a projection consumer could not accept (bad JSON, unknown type, a field that does "
            "not fit the contract). The value and key are the original record's bytes, unchanged; headers: "
            "carecoord-error (what does not fit, naming the field), carecoord-source-topic, "
            "carecoord-source-partition, carecoord-source-offset, and carecoord-event-id when known."
        ),
        schema=bytes,
    )
    return AsyncAPI(broker, title=TITLE, version=CONTRACT_VERSION, description=DESCRIPTION).to_specification()


def render(server: str = DEFAULT_SERVER, fmt: str = "json") -> str:
    import json

    spec = build_document(server)
    if fmt == "yaml":
        return str(spec.to_yaml())
    return json.dumps(json.loads(spec.to_json()), indent=2, sort_keys=True) + "\n"


def run(args: argparse.Namespace) -> int:
    fmt = args.format
    if fmt is None:
        fmt = "yaml" if args.output is not None and args.output.suffix in (".yaml", ".yml") else "json"
    text = render(args.server, fmt)
    if args.output is None:
        print(text, end="")
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"carecoord asyncapi: wrote {args.output}")
    return 0
