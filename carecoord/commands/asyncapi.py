"""`carecoord asyncapi`: the AsyncAPI document of every topic and message, for consumers outside the project.

Rendered from the FastStream application that `carecoord project` runs (projections.kafka.app
.ProjectionApp, built without connecting): its batch subscriber on the service topics, whose message
is the contract's envelope (the `events` models themselves, so the document cannot drift from the
parser), and its dead-letter publisher. The committed copy is docs/asyncapi.json; a test checks it
equals what this command generates.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "127.0.0.1:9092"


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


def build_document(server: str = DEFAULT_SERVER) -> dict[str, Any]:
    """The AsyncAPI 3.0 document (as JSON data) of the projection consumers' FastStream app."""
    from carecoord.topics import deadletter_topic, service_topics, topic_for
    from events import SERVICE_NAMES
    from projections.kafka.app import ConsumerSettings, ProjectionApp

    project = ProjectionApp(
        # declared only, never connected: no database, no broker
        ConsumerSettings(
            bootstrap=server,
            postgres_url="",
            topics=service_topics(""),
            deadletter_topic=deadletter_topic(""),
        )
    )
    document: dict[str, Any] = project.app.schema.to_specification().to_jsonable()
    for service in SERVICE_NAMES:
        narrow_to_service(document, topic_for(service, ""), service)
    return document


def narrow_to_service(document: dict[str, Any], topic: str, service: str) -> None:
    """Give a service topic's channel the message of that service's own event types.

    FastStream gives every topic of one subscriber the same message, here the envelope of any
    event type (what the consumer accepts). The projections need that one subscriber (one Kafka
    consumer per process, partitions assigned in ranges over all topics), while each service
    topic carries only its own service's events (`events.SOURCE_OF`): the document says so.
    """
    from events import DATA_MODELS, ENVELOPE_MODELS, SOURCE_OF

    names = [name for name in ENVELOPE_MODELS if SOURCE_OF[DATA_MODELS[name]] == service]
    schemas = document["components"]["schemas"]
    refs = [{"$ref": f"#/components/schemas/{ENVELOPE_MODELS[name].__name__}"} for name in names]
    payload = f"{topic}:Message:Payload"
    if len(refs) == 1:
        narrowed = refs[0]
    else:
        schemas[payload] = {"discriminator": "event_type", "oneOf": refs, "title": payload}
        narrowed = {"$ref": f"#/components/schemas/{payload}"}
    for channel in document["channels"].values():
        if channel["address"] != topic:
            continue
        channel["description"] = (
            f"Every event of the {service} service ({', '.join(names)}), published by the outbox relay. "
            + channel["description"]
        )
        for ref in channel["messages"].values():
            message = document["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            shared = message["payload"]["$ref"].rsplit("/", 1)[1]
            message["payload"] = narrowed
    if not _referenced(document, shared):
        del schemas[shared]  # every channel narrowed: the shared message is no one's any more


def _referenced(document: dict[str, Any], schema: str) -> bool:
    import json

    return f'"#/components/schemas/{schema}"' in json.dumps(document)


def render(server: str = DEFAULT_SERVER, fmt: str = "json") -> str:
    import json

    document = build_document(server)
    if fmt == "yaml":
        import yaml

        return str(yaml.dump(document, sort_keys=False))
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


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
