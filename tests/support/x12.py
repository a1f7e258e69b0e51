"""pyx12 around the 837P tests: its X12 validator, every error it reports, and its reader to parse
a file back claim by claim."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyx12.params
import pyx12.x12file
import pyx12.x12n_document


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _pyx12_errors() -> Iterator[list[str]]:
    logger = logging.getLogger("pyx12")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _errors_in(node: Any) -> list[str]:
    """Every error of pyx12's JSON error document, at any level (interchange to element)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "errors" and value:
                found += [json.dumps(item, default=str) for item in value]
            else:
                found += _errors_in(value)
    elif isinstance(node, list):
        for item in node:
            found += _errors_in(item)
    return found


def x12_errors(text: str) -> list[str]:
    """What pyx12's validator (x12n_document, with the 005010X222A1 map) finds wrong: its
    verdict, its JSON error report, its 999 acknowledgement and what it logs as an error."""
    report, acknowledgement = io.StringIO(), io.StringIO()
    with _pyx12_errors() as logged:
        valid = pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(),
            src_file=io.StringIO(text),
            fd_997=acknowledgement,
            fd_html=None,
            fd_json=report,
        )
    errors = list(logged) + _errors_in(json.loads(report.getvalue() or "{}"))
    ack = acknowledgement.getvalue()
    if "IK5*A~" not in ack or "AK9*A*" not in ack:
        errors.append(f"999 does not accept the transaction: {ack}")
    if not valid and not errors:
        errors.append("x12n_document says invalid")
    return errors


@dataclass
class ParsedLine:
    code: str
    charge: str
    units: int
    dates: str
    authorization: str | None = None
    ordering_npi: str | None = None


@dataclass
class ParsedClaim:
    claim_id: str
    total: str
    place: str
    frequency: str
    member_id: str
    payer_id: str
    original_reference: str | None = None
    diagnoses: list[str] = field(default_factory=list)
    referring_npi: str | None = None
    lines: list[ParsedLine] = field(default_factory=list)

    def units(self, code: str) -> int:
        return sum(line.units for line in self.lines if line.code == code)


def parse_claims(text: str) -> list[ParsedClaim]:
    """The claims of an 837P, read back with pyx12's own reader."""
    claims: list[ParsedClaim] = []
    member = payer = ""
    for segment in pyx12.x12file.X12Reader(io.StringIO(text)):
        seg_id = segment.get_seg_id()
        value = segment.get_value
        if seg_id == "NM1" and value("NM101") == "IL":
            member = value("NM109") or ""
        elif seg_id == "NM1" and value("NM101") == "PR":
            payer = value("NM109") or ""
        elif seg_id == "CLM":
            claims.append(
                ParsedClaim(
                    claim_id=value("CLM01") or "",
                    total=value("CLM02") or "",
                    place=value("CLM05-01") or "",
                    frequency=value("CLM05-03") or "",
                    member_id=member,
                    payer_id=payer,
                )
            )
        elif seg_id == "REF" and value("REF01") == "F8" and not claims[-1].lines:
            claims[-1].original_reference = value("REF02")
        elif seg_id == "HI":
            claims[-1].diagnoses = [
                value(f"HI{n:02d}-02") or "" for n in range(1, 13) if value(f"HI{n:02d}-02")
            ]
        elif seg_id == "NM1" and value("NM101") == "DN":
            claims[-1].referring_npi = value("NM109")
        elif seg_id == "SV1":
            claims[-1].lines.append(
                ParsedLine(
                    code=value("SV101-02") or "",
                    charge=value("SV102") or "",
                    units=int(value("SV104") or 0),
                    dates="",
                )
            )
            assert value("SV103") == "UN" and value("SV105") == "12" and value("SV107-01") == "1"
        elif seg_id == "DTP" and value("DTP01") == "472":
            assert value("DTP02") == "RD8"
            claims[-1].lines[-1].dates = value("DTP03") or ""
        elif seg_id == "REF" and value("REF01") == "G1":
            claims[-1].lines[-1].authorization = value("REF02")
        elif seg_id == "NM1" and value("NM101") == "DK":
            claims[-1].lines[-1].ordering_npi = value("NM109")
    return claims
