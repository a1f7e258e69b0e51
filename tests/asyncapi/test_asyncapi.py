"""The AsyncAPI document: every topic and every event type, and the committed copy is current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from carecoord.commands.asyncapi import render
from carecoord.topics import DEADLETTER_TOPIC, SERVICE_NAMES, TOPICS
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


def test_every_topic_and_every_event_type_is_described() -> None:
    document = json.loads(render())
    assert document["asyncapi"].startswith("3.")
    assert set(document["channels"]) == {*TOPICS, DEADLETTER_TOPIC}
    schemas = document["components"]["schemas"]
    # A service's event types are described with its topic. `claims` has no topic until its
    # service is deployed (SERVICE_NAMES lists five); then ClaimSubmitted is described like the rest.
    published = [event_type for event_type in DATA_MODELS if _source(event_type) in SERVICE_NAMES]
    assert set(DATA_MODELS) - set(published) <= {"ClaimSubmitted"}
    for event_type in published:
        envelope = schemas[f"{event_type}Event"]
        assert envelope["properties"]["event_type"]["const"] == event_type
        assert envelope["properties"]["data"] == {"$ref": f"#/components/schemas/{event_type}"}
    for topic in TOPICS:
        ref = document["components"]["messages"][f"{topic}:Message"]["payload"]["$ref"]
        payload = schemas[ref.rsplit("/", 1)[1]]
        service = topic.split(".")[1]
        if "oneOf" in payload:  # several event types: discriminated by event_type
            assert payload["discriminator"] == "event_type"
            listed = {item["$ref"].rsplit("/", 1)[1] for item in payload["oneOf"]}
        else:  # a service with one event type (assessments): that envelope itself
            listed = {ref.rsplit("/", 1)[1]}
        owned = {f"{name}Event" for name, model in DATA_MODELS.items() if _source(name) == service}
        assert listed == owned, topic


def test_yaml_output_has_the_same_channels() -> None:
    text = render(fmt="yaml")
    assert all(f"{topic}:" in text for topic in TOPICS)


def _source(event_type: str) -> str:
    from events import SOURCE_OF

    return SOURCE_OF[DATA_MODELS[event_type]]
