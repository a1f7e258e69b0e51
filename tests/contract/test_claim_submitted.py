"""`ClaimSubmitted` (shared/claims.md, "A sixth service: claims"): one test per rule of its
validation paragraph, each naming the event and the field, and a history line that breaks one is
rejected without losing anything else.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from events import ClaimSubmitted, ContractError, SubmittedLine, make_event, parse_event, to_json
from projections.core.history import read_history

LINE = {"code": "S9363", "from": "2026-03-02", "to": "2026-03-13", "units": 12, "authorization": "A-1"}
NURSING = {"code": "99601", "from": "2026-03-02", "to": "2026-03-02", "units": 1, "authorization": None}


def claim(**data: Any) -> dict[str, Any]:
    """An original claim's envelope; `data` replaces fields of its data (None deletes one)."""
    fields: dict[str, Any] = {
        "claim_id": "CLM-2026-03-ep-1",
        "period": "2026-03",
        "frequency": "original",
        "submitted_on": "2026-04-04",
        "lines": [copy.deepcopy(LINE), copy.deepcopy(NURSING)],
    }
    fields.update(data)
    return {
        "event_id": "c-1",
        "event_type": "ClaimSubmitted",
        "schema_version": 1,
        "source": "claims",
        "episode_id": "ep-1",
        "occurred_at": "2026-04-04T09:00:00-05:00",
        "recorded_at": "2026-04-04T14:00:00Z",
        "data": fields,
    }


def with_line(index: int, **fields: Any) -> dict[str, Any]:
    """The claim with fields of one line set; the value DELETE removes the field."""
    event = claim()
    line = event["data"]["lines"][index]
    for name, value in fields.items():
        if value is DELETE:
            del line[name]
        else:
            line[name] = value
    return event


DELETE = object()


def parsed(event: dict[str, Any]) -> ClaimSubmitted:
    data = parse_event(json.dumps(event)).data
    assert isinstance(data, ClaimSubmitted)
    return data


def refused(event: dict[str, Any], *names: str) -> str:
    """The line is rejected with a message naming the event type and each of `names`."""
    with pytest.raises(ContractError) as caught:
        parse_event(json.dumps(event))
    message = caught.value.message
    for name in ("ClaimSubmitted", *names):
        assert name in message, f"{message!r} does not name {name!r}"
    assert caught.value.event_id == "c-1"
    return message


# --- what fits --------------------------------------------------------------------------------


def test_an_original_parses_with_typed_lines_and_null_authorization() -> None:
    data = parsed(claim())
    assert (data.claim_id, data.period, data.frequency, data.replaces) == (
        "CLM-2026-03-ep-1",
        "2026-03",
        "original",
        None,
    )
    assert data.submitted_on == date(2026, 4, 4)
    assert data.lines[0] == SubmittedLine.of("S9363", date(2026, 3, 2), date(2026, 3, 13), 12, "A-1")
    assert data.lines[1].authorization is None


def test_written_back_every_line_has_its_five_fields_and_an_original_no_replaces() -> None:
    event = parse_event(json.dumps(claim()))
    written = json.loads(to_json(event))
    assert written["data"]["lines"] == [LINE, NURSING]  # authorization null is written, `from`/`to` named so
    assert "replaces" not in written["data"]
    assert parse_event(to_json(event)) == event


def test_make_event_with_python_values_gives_source_claims() -> None:
    data = ClaimSubmitted.model_validate(
        {
            "claim_id": "CLM-9",
            "period": "2026-03",
            "frequency": "void",
            "replaces": "CLM-8",
            "submitted_on": date(2026, 4, 12),
            "lines": [],
        }
    )
    event = make_event(
        event_id="e-9",
        episode_id="ep-9",
        occurred_at="2026-04-12T09:00:00Z",
        recorded_at="2026-04-12T09:00:00Z",
        data=data,
    )
    assert (event.event_type, event.source) == ("ClaimSubmitted", "claims")
    assert parse_event(to_json(event)) == event


def test_replacement_and_void_name_the_claim_they_replace() -> None:
    assert parsed(claim(frequency="replacement", replaces="CLM-0")).replaces == "CLM-0"
    assert parsed(claim(frequency="void", replaces="CLM-0", lines=[])).lines == []


def test_null_replaces_counts_as_absent_on_an_original() -> None:
    assert parsed(claim(replaces=None)).replaces is None


def test_a_one_day_line_and_lines_outside_the_period_fit() -> None:
    assert parsed(with_line(0, **{"to": "2026-03-02", "units": 1})).lines[0].to_date == date(2026, 3, 2)
    # The period says which month the claim is for; its lines are kept as sent (claims.md).
    assert parsed(with_line(0, **{"from": "2026-02-27", "to": "2026-02-28", "units": 2})).period == "2026-03"


def test_unknown_fields_are_ignored_in_the_claim_and_its_lines() -> None:
    event = claim(batch="B-7")
    event["data"]["lines"][0]["modifier"] = "KX"
    assert parsed(event) == parsed(claim())


@pytest.mark.parametrize("period", ["2026-01", "2026-12", "0001-01", "9999-12"])
def test_every_real_month_fits(period: str) -> None:
    assert parsed(claim(period=period)).period == period


# --- what does not fit: each rule of the validation paragraph --------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("claim_id", 17),
        ("claim_id", None),
        ("period", 202603),
        ("frequency", None),
        ("submitted_on", "2026-04-31"),
        ("submitted_on", "2026-04-04T10:00:00Z"),
        ("submitted_on", 20260404),
        ("lines", {"code": "S9363"}),
        ("lines", None),
    ],
)
def test_strict_types(field: str, value: Any) -> None:
    refused(claim(**{field: value}), field)


@pytest.mark.parametrize(
    ("field", "value"), [("units", "12"), ("units", 12.0), ("units", True), ("units", 1.5)]
)
def test_line_units_are_a_whole_number(field: str, value: Any) -> None:
    refused(with_line(0, **{field: value}), "lines", field)


@pytest.mark.parametrize("units", [0, -1])
def test_line_units_are_more_than_zero(units: int) -> None:
    refused(with_line(0, units=units), "lines", "units")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", 9363),
        ("from", "2026-03-32"),
        ("from", "03/02/2026"),
        ("to", "2026-02-29"),
        ("authorization", 1),
    ],
)
def test_line_fields_have_their_types(field: str, value: Any) -> None:
    refused(with_line(0, **{field: value}), "lines", field)


def test_a_line_is_an_object() -> None:
    refused(claim(lines=["S9363"]), "lines")


@pytest.mark.parametrize(
    "period",
    ["2026-13", "2026-00", "2026-3", "2026-03-01", "26-03", "0000-01", "2026-0\u0663", "2026-03\n", ""],
)
def test_period_is_a_real_month(period: str) -> None:
    refused(claim(period=period), "period")


def test_to_is_not_before_from() -> None:
    message = refused(with_line(0, **{"from": "2026-03-13", "to": "2026-03-02"}), "lines", "to")
    assert "2026-03-02" in message


@pytest.mark.parametrize("field", ["claim_id", "replaces"])
def test_claim_id_and_replaces_are_non_empty_strings(field: str) -> None:
    for value in ("", 7):
        refused(claim(**{"frequency": "replacement", "replaces": "CLM-0", field: value}), field)


@pytest.mark.parametrize("frequency", ["replacement", "void"])
def test_replaces_is_required_on_a_replacement_and_a_void(frequency: str) -> None:
    lines = [] if frequency == "void" else [LINE]
    refused(claim(frequency=frequency, lines=lines), "replaces")
    refused(claim(frequency=frequency, lines=lines, replaces=None), "replaces")  # null counts as absent


def test_replaces_is_absent_on_an_original() -> None:
    refused(claim(replaces="CLM-0"), "replaces")


@pytest.mark.parametrize("field", ["code", "from", "to", "units", "authorization"])
def test_every_line_has_all_five_fields(field: str) -> None:
    refused(with_line(1, **{field: DELETE}), "lines", field)


@pytest.mark.parametrize("field", ["code", "authorization"])
def test_line_strings_are_never_empty(field: str) -> None:
    refused(with_line(0, **{field: ""}), "lines", field)


@pytest.mark.parametrize("frequency", ["original", "replacement"])
def test_an_original_or_replacement_has_at_least_one_line(frequency: str) -> None:
    replaces = "CLM-0" if frequency == "replacement" else None
    refused(claim(frequency=frequency, replaces=replaces, lines=[]), "lines")


def test_a_void_has_no_line() -> None:
    refused(claim(frequency="void", replaces="CLM-0"), "lines")


@pytest.mark.parametrize("frequency", ["Original", "corrected", "7", ""])
def test_frequency_is_one_of_the_listed_set(frequency: str) -> None:
    refused(claim(frequency=frequency), "frequency")


@pytest.mark.parametrize("field", ["claim_id", "period", "frequency", "submitted_on", "lines"])
def test_required_fields(field: str) -> None:
    event = claim()
    del event["data"][field]
    refused(event, field)


def test_source_is_claims() -> None:
    refused(claim() | {"source": "referrals"}, "source")


def test_a_history_line_that_breaks_a_rule_is_rejected_and_nothing_else_is_lost() -> None:
    good = claim()
    bad = claim(period="2026-13") | {"event_id": "c-2"}
    other = claim(claim_id="CLM-2") | {"event_id": "c-3"}
    history = read_history([json.dumps(good), json.dumps(bad), "", json.dumps(other)])
    assert [(r.line, r.event_id) for r in history.rejected] == [(2, "c-2")]
    assert "ClaimSubmitted" in history.rejected[0].error and "period" in history.rejected[0].error
    assert len(history.episodes["ep-1"]) == 2
