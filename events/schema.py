"""JSON Schema export of the contract: one document for the envelope and one per event type.

As strict as parsing (events/parsing.py), so that a consumer validating with a JSON Schema tool
rejects what the contract rejects and accepts what it accepts:
- the envelope is a discriminated union on `event_type` (`oneOf` one document per type, each with
  `const` event_type and `const` source: a source is tied to its type);
- whole numbers are `integer` (a validator that keeps numbers as written, `7.0` a decimal, refuses
  `7.0`; JSON Schema itself counts `7.0` as the integer 7);
- dates carry the pattern of a real calendar date (`format: date` alone is only an annotation),
  timestamps the RFC 3339 pattern;
- `recorded_by`, when present, is an object (never null); `counting_basis` may be null (read as
  `access`), as the parser allows (both said by the models themselves, so the AsyncAPI document
  says it too).
Cross-field checks (an end before its start) are beyond a JSON Schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from events.models import DATA_MODELS, DATE_PATTERN, Event
from events.parsing import ENVELOPE_MODELS

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schemas() -> dict[str, dict[str, Any]]:
    """File name to JSON Schema, for the envelope and for each event type's full envelope."""
    documents: dict[str, dict[str, Any]] = {"Envelope.schema.json": envelope_schema()}
    for event_type in DATA_MODELS:
        documents[f"{event_type}.schema.json"] = _strict(ENVELOPE_MODELS[event_type].model_json_schema())
    for name, document in documents.items():
        document["$schema"] = DRAFT
        document["$id"] = f"urn:carecoord:contract:v1:{name}"
    return documents


def envelope_schema() -> dict[str, Any]:
    """Any event: the envelope's fields, and exactly one of the event types' envelopes."""
    models = tuple(ENVELOPE_MODELS.values())
    union = Annotated[Union[models], Field(discriminator="event_type")]  # type: ignore[valid-type]  # noqa: UP007
    document = _strict(TypeAdapter(union).json_schema())
    common = _strict(Event.model_json_schema())
    document["$defs"] = {**common.pop("$defs", {}), **document.get("$defs", {})}
    common["properties"]["event_type"] = {"enum": sorted(ENVELOPE_MODELS), "type": "string"}
    common["properties"]["data"] = {"type": "object"}
    document.update(
        title="Envelope",
        type="object",
        properties=common["properties"],
        required=common["required"],
    )
    return document


def _strict(document: dict[str, Any]) -> dict[str, Any]:
    _walk(document)
    return document


def _walk(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("format") == "date" and node.get("type") == "string":
        node["pattern"] = DATE_PATTERN
    for value in node.values():
        _walk(value)


def write_schemas(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in schemas().items():
        path = outdir / name
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
