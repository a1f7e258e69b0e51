"""The JSON Schemas of `carecoord schema` are as strict as parsing, checked with a third-party validator.

Every line of the shared examples (and of variations on them that break one field) is given to the
contract's parser and to the `jsonschema` package's validator with the written schemas: a line the
parser rejects for a type or value reason must fail the schema too, and every event the parser
accepts must pass it. Cross-field checks (an end before a start) are beyond a JSON Schema and left out.

JSON Schema's data model has one kind of number, in which `7.0` equals `7`; the validator is given
numbers as they are written (`parse_float=Decimal`), so `7.0` is a number and not an integer, as the
contract says.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from events import ContractError, parse_event
from events.schema import schemas

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"
CROSS_FIELD = ("is before",)


def example_lines() -> list[tuple[str, str]]:
    lines = []
    for path in sorted(EXAMPLES.rglob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                lines.append((f"{path.relative_to(EXAMPLES)}:{number}", line))
    return lines


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema.Draft202012Validator]:
    documents = schemas()
    for document in documents.values():
        jsonschema.Draft202012Validator.check_schema(document)
    return {name: jsonschema.Draft202012Validator(document) for name, document in documents.items()}


def parser_verdict(line: str) -> str:
    """accepted, rejected, or skip (not JSON at all, or a cross-field check)."""
    try:
        parse_event(line)
    except ContractError as error:
        if error.message.startswith("bad json") or any(word in error.message for word in CROSS_FIELD):
            return "skip"
        return "rejected"
    return "accepted"


def schema_accepts(validators: dict[str, jsonschema.Draft202012Validator], line: str) -> bool:
    instance = json.loads(line, parse_float=Decimal)
    envelope_ok = validators["Envelope.schema.json"].is_valid(instance)
    own = validators.get(f"{instance.get('event_type')}.schema.json") if isinstance(instance, dict) else None
    if own is not None:
        assert own.is_valid(instance) == envelope_ok, "the type's schema and the envelope's disagree"
    return envelope_ok


def test_the_examples_are_there() -> None:
    assert len(example_lines()) > 200


def test_every_example_line_gets_the_same_verdict_from_the_schema(validators: Any) -> None:
    disagreements = []
    for where, line in example_lines():
        verdict = parser_verdict(line)
        if verdict != "skip" and schema_accepts(validators, line) != (verdict == "accepted"):
            disagreements.append((where, verdict))
    assert not disagreements


def _mutations(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """One field broken (or changed) at a time, everywhere in the event."""

    def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield (*prefix, key)
                yield from paths(value, (*prefix, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield (*prefix, index)
                yield from paths(value, (*prefix, index))

    replacements: list[Any] = [7.0, "7", True, -1, None, "", "2026-02-30", "2026-3-2", [], {}, "x", 1.5, 0]
    for path in list(paths(event)):
        for value in replacements:
            mutated = copy.deepcopy(event)
            target: Any = mutated
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
            yield f"{'.'.join(map(str, path))}={value!r}", mutated
        mutated = copy.deepcopy(event)
        target = mutated
        for part in path[:-1]:
            target = target[part]
        if isinstance(target, dict):
            del target[path[-1]]
            yield f"{'.'.join(map(str, path))} removed", mutated
    for extra in (
        {"recorded_by": {"subject": "alice", "role": "coordinator"}},
        {"recorded_by": {"subject": "", "role": "coordinator"}},
        {"recorded_by": None},
        {"unknown_field": 1},
        {"schema_version": 2},
        {"event_type": "Nope"},
        {"source": "claims"},
    ):
        yield f"with {extra}", {**copy.deepcopy(event), **extra}


def one_of_each_type() -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for _, line in example_lines():
        if parser_verdict(line) == "accepted":
            event = json.loads(line)
            seen.setdefault(event["event_type"], event)
    from tests.contract.test_events import SAMPLES, envelope

    for event_type in SAMPLES:
        seen.setdefault(event_type, envelope(event_type))
    return list(seen.values())


@pytest.mark.parametrize("event", one_of_each_type(), ids=lambda e: e["event_type"])
def test_a_broken_field_fails_the_schema_exactly_when_it_fails_parsing(
    validators: Any, event: dict[str, Any]
) -> None:
    disagreements = []
    for what, mutated in _mutations(event):
        line = json.dumps(mutated)
        verdict = parser_verdict(line)
        if verdict != "skip" and schema_accepts(validators, line) != (verdict == "accepted"):
            disagreements.append((what, verdict))
    assert not disagreements


def test_the_envelope_is_a_discriminated_union_with_sources_tied_to_types() -> None:
    envelope = schemas()["Envelope.schema.json"]
    assert envelope["discriminator"]["propertyName"] == "event_type"
    assert len(envelope["oneOf"]) == len(envelope["discriminator"]["mapping"])
    document = schemas()["DeliveryCompleted.schema.json"]
    assert document["properties"]["source"]["const"] == "deliveries"
