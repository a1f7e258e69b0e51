"""The AsyncAPI document: every topic and every event type, and the committed copy is current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from carecoord.commands.asyncapi import render
from carecoord.topics import DEADLETTER_TOPIC, TOPICS
from events import DATA_MODELS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"


def test_the_committed_document_is_what_the_command_generates_now(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    result = subprocess.run(
        [sys.executable, "-m", "carecoord.cli", "asyncapi", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_text() == COMMITTED.read_text(), (
        "docs/asyncapi.json is stale: regenerate it with `carecoord asyncapi -o docs/asyncapi.json`"
    )


def _by_address(document: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {channel["address"]: channel for channel in document["channels"].values()}


def _message(document: dict, channel: dict) -> dict:  # type: ignore[type-arg]
    (ref,) = channel["messages"].values()
    return document["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]


def test_every_topic_and_every_event_type_is_described() -> None:
    document = json.loads(render())
    assert document["asyncapi"].startswith("3.")
    channels = _by_address(document)
    assert set(channels) == {*TOPICS, DEADLETTER_TOPIC}
    schemas = document["components"]["schemas"]
    for event_type in DATA_MODELS:
        envelope = schemas[f"{event_type}Event"]
        assert envelope["properties"]["event_type"]["const"] == event_type
        assert envelope["properties"]["data"] == {"$ref": f"#/components/schemas/{event_type}"}
    for topic in TOPICS:
        ref = _message(document, channels[topic])["payload"]["$ref"]
        payload = schemas[ref.rsplit("/", 1)[1]]
        service = topic.split(".")[1]
        if "oneOf" in payload:  # several event types: discriminated by event_type
            assert payload["discriminator"] == "event_type"
            listed = {item["$ref"].rsplit("/", 1)[1] for item in payload["oneOf"]}
        else:  # a service with one event type (assessments): that envelope itself
            listed = {ref.rsplit("/", 1)[1]}
        owned = {f"{name}Event" for name, model in DATA_MODELS.items() if _source(name) == service}
        assert listed == owned, topic
        description = channels[topic]["description"]
        assert "Key: episode_id. Headers: event_type, event_id." in description
        assert all(name.removesuffix("Event") in description for name in owned)
    letters = _message(document, channels[DEADLETTER_TOPIC])
    assert schemas[letters["payload"]["$ref"].rsplit("/", 1)[1]]["format"] == "binary"
    assert "carecoord-error" in channels[DEADLETTER_TOPIC]["description"]


def test_the_document_is_that_of_the_running_consumer() -> None:
    """The projection consumer's own FastStream app: it receives from the topics its subscriber
    reads, and sends to the dead-letter topic of the publisher it publishes dead letters with."""
    from carecoord.topics import deadletter_topic, service_topics
    from projections.kafka.app import ConsumerSettings, ProjectionApp

    settings = ConsumerSettings(
        bootstrap="127.0.0.1:1",  # never connected
        postgres_url="",
        topics=service_topics(""),
        deadletter_topic=deadletter_topic(""),
    )
    project = ProjectionApp(settings)
    assert project.subscriber.topic_names == list(TOPICS)
    assert project.deadletters.topic == DEADLETTER_TOPIC
    assert list(project.broker.subscribers) == [project.subscriber]
    assert list(project.broker.publishers) == [project.deadletters]

    document = json.loads(render())
    actions = {}
    for operation in document["operations"].values():
        channel = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        actions[channel["address"]] = operation["action"]
    assert actions == {**dict.fromkeys(TOPICS, "receive"), DEADLETTER_TOPIC: "send"}


def test_yaml_output_has_the_same_channels() -> None:
    text = render(fmt="yaml")
    assert all(f"{topic}:" in text for topic in TOPICS)


def _source(event_type: str) -> str:
    from events import SOURCE_OF

    return SOURCE_OF[DATA_MODELS[event_type]]
