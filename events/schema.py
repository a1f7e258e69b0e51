"""JSON Schema export of the contract: one document for the envelope and one per event type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events.models import DATA_MODELS, Event
from events.parsing import ENVELOPE_MODELS


def schemas() -> dict[str, dict[str, Any]]:
    """File name to JSON Schema, for the envelope and for each event type's full envelope."""
    documents: dict[str, dict[str, Any]] = {"Envelope.schema.json": Event.model_json_schema()}
    for event_type in DATA_MODELS:
        documents[f"{event_type}.schema.json"] = ENVELOPE_MODELS[event_type].model_json_schema()
    for name, document in documents.items():
        document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        document["$id"] = f"urn:carecoord:contract:v1:{name}"
    return documents


def write_schemas(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in schemas().items():
        path = outdir / name
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
