"""Bad input never reaches a 500 or the store: tokens, findings, path ids, bodies, CSV cells, filters."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from collections.abc import Iterator

import pytest

from tests.support.api import Api, open_episode, referral_body

ASSESS = "/assessments/ep-1/complete-assessment"


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def forged(header: object, payload: object | None = None) -> dict[str, str]:
    """A token whose header is whatever we like (unsigned: it must fail before any key is used)."""
    claims = payload if payload is not None else {"sub": "x", "role": "coordinator", "exp": 9999999999}
    token = ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(b"sig")])
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256", "kid": ["a", "b"]},
        {"alg": "ES256", "kid": {"k": 1}},
        {"alg": "ES256", "kid": 7},
        {"alg": ["ES256"], "kid": "a"},
        {"alg": {"x": 1}},
        ["not", "an", "object"],
        "text",
        {"alg": "ES256", "typ": ["JWT"]},
        {"alg": "none"},
    ],
    ids=str,
)
def test_any_token_error_is_a_401_without_a_traceback(
    api: Api, header: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = api.client.get("/episodes", headers=forged(header))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert not [r for r in caplog.records if r.exc_info], "a refused token logged a traceback"


def _nested(depth: int) -> dict[str, object]:
    value: object = "leaf"
    for _ in range(depth - 1):
        value = {"n": value}
    return {"n": value}


def _assessment(findings: object) -> dict[str, object]:
    return {
        "assessment_id": "a-1",
        "kind": "initial",
        "assessed_on": "2026-03-02",
        "eligible": True,
        "clinician": "RN Zelda Marker",
        "findings": findings,
    }


@pytest.mark.parametrize("depth", [33, 200, 255, 600])
def test_deeply_nested_findings_are_a_422_naming_the_field_without_echo(api: Api, depth: int) -> None:
    open_episode(api)
    before = api.stored_events()
    response = api.client.post(ASSESS, json=_assessment(_nested(depth)), headers=api.headers("nurse"))
    assert response.status_code == 422, response.text[:300]
    body = response.json()
    assert body["error"] == "invalid_request"
    assert any(entry["msg"].startswith("findings: ") for entry in body["detail"])
    assert "Zelda" not in response.text and '"n"' not in response.text and "leaf" not in response.text
    assert len(response.text) < 2000
    assert api.stored_events() == before


def test_findings_within_the_limits_are_stored(api: Api) -> None:
    open_episode(api)
    response = api.client.post(ASSESS, json=_assessment(_nested(32)), headers=api.headers("nurse"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "raw",
    [
        '{"x": NaN}',
        '{"x": Infinity}',
        '{"x": [1, -Infinity]}',
        '{"x": "a\\u0000b"}',
        '{"a\\u0000": 1}',
        '{"x": {"y": ["\\u0000"]}}',
        '{"x": "\\ud800"}',
    ],
)
def test_findings_refuse_nan_infinity_and_nul(api: Api, raw: str) -> None:
    open_episode(api)
    before = api.stored_events()
    body = json.dumps(_assessment(None)).replace('"findings": null', f'"findings": {raw}')
    headers = {**api.headers("nurse"), "Content-Type": "application/json"}
    response = api.client.post(ASSESS, content=body.encode(), headers=headers)
    assert response.status_code == 422, response.text
    assert any(entry["msg"].startswith("findings") for entry in response.json()["detail"])
    assert api.stored_events() == before


@pytest.mark.parametrize(
    "raw_id",
    [
        "EP%00",
        "ep%0D%0A1",
        "ep%0A",
        "ep%091",
        "ep..1",
        "..",
        "ep%E2%80%AE1",
        "EP%FF",
        "EP%EF%BF%BD",
        "ep%201",
        "%20",
        ".ep",
        "ep.",
        "ep%2F1",
        "x" * 101,
    ],
)
def test_path_episode_ids_follow_the_id_rules(api: Api, raw_id: str) -> None:
    before = api.stored_events()
    response = api.client.post(
        f"/referrals/{raw_id}/receive-referral",
        json=referral_body("pt-9"),
        headers=api.headers("coordinator"),
    )
    assert response.status_code in (404, 422), response.text
    if response.status_code == 422:
        assert response.json()["detail"][0]["loc"][:2] == ["path", "episode_id"]
    assert api.stored_events() == before
    read = api.client.get(f"/episodes/{raw_id}", headers=api.headers("auditor"))
    assert read.status_code in (404, 422)


def test_plain_episode_ids_are_accepted(api: Api) -> None:
    for episode_id in ("ep-1", "EP_2026-03.a", "ep:1001", "1"):
        response = api.client.post(
            f"/referrals/{episode_id}/receive-referral",
            json=referral_body(f"pt-{episode_id}"),
            headers=api.headers("coordinator"),
        )
        assert response.status_code == 200, (episode_id, response.text)


def test_the_token_is_checked_before_the_body_is_read(api: Api) -> None:
    open_episode(api)
    junk = {"Content-Type": "application/json"}
    assert api.client.post("/visits/ep-1/log-dose", content=b"{not json", headers=junk).status_code == 401
    auditor = {**api.headers("auditor"), **junk}
    assert api.client.post("/visits/ep-1/log-dose", content=b"{not json", headers=auditor).status_code == 403
    big = b'{"administered_on": "2026-03-04", "by": "nurse", "pad": "' + b"x" * (2 << 20) + b'"}'
    assert api.client.post("/visits/ep-1/log-dose", content=big, headers=junk).status_code == 401
    assert api.client.post("/visits/ep-1/log-dose", content=big, headers=auditor).status_code == 403


def test_bodies_over_one_mebibyte_are_413(api: Api) -> None:
    open_episode(api)
    nurse = {**api.headers("nurse"), "Content-Type": "application/json"}
    big = b'{"administered_on": "2026-03-04", "by": "nurse", "pad": "' + b"x" * (1 << 20) + b'"}'
    response = api.client.post("/visits/ep-1/log-dose", content=big, headers=nurse)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield big[: 1 << 19]
        yield big[1 << 19 :]

    streamed = api.client.post("/visits/ep-1/log-dose", content=chunks(), headers=nurse)
    assert streamed.status_code == 413


def test_400_and_413_are_in_the_openapi_document(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "post":
                assert {"400", "413"} <= set(operation["responses"]), (method, path)


def test_claims_csv_neutralises_formulas_and_is_an_attachment(api: Api) -> None:
    body = referral_body('=HYPERLINK("http://evil")')
    body["payer"]["payer_id"] = "@SUM(1+1)"
    coordinator = api.headers("coordinator")
    assert api.client.post("/referrals/ep-1/receive-referral", json=body, headers=coordinator).is_success
    accepted = {"accepted_on": "2026-03-02"}
    assert api.client.post("/referrals/ep-1/accept-referral", json=accepted, headers=coordinator).is_success
    visit = {
        "visit_id": "v-1",
        "kind": "start_of_care",
        "started_at": "2026-03-03T09:00:00-05:00",
        "ended_at": "2026-03-03T10:00:00-05:00",
        "administered": True,
        "nurse": "RN Lee",
    }
    team = {"member": "nurse-1", "role": "nurse", "assigned_on": "2026-03-02"}
    api.client.post("/referrals/ep-1/assign-care-team", json=team, headers=coordinator)
    assert api.client.post("/visits/ep-1/complete-visit", json=visit, headers=api.headers("nurse")).is_success
    response = api.client.get(
        "/claims", params={"from": "2026-03-01", "to": "2026-03-31", "format": "csv"}, headers=coordinator
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    import csv
    import io

    cells = [cell for row in csv.reader(io.StringIO(response.text)) for cell in row]
    assert cells and not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert '\'=HYPERLINK("http://evil")' in cells and "'@SUM(1+1)" in cells


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"])
def test_every_formula_start_is_neutralised(value: str) -> None:
    from carecoord.api.queries import _cell

    assert _cell(value) == "'" + value and _cell(7) == 7 and _cell("ep-1") == "ep-1"


def test_422_bodies_carry_a_stable_error_code(api: Api) -> None:
    open_episode(api)
    nurse = api.headers("nurse")
    response = api.client.post("/visits/ep-1/log-dose", json={"by": "dog"}, headers=nurse)
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    query = api.client.get(
        "/episodes/ep-1/ledger", params={"through": "soon"}, headers=api.headers("auditor")
    )
    assert query.status_code == 422 and query.json()["error"] == "invalid_request"


def test_an_unknown_filter_value_is_a_422(api: Api) -> None:
    open_episode(api)
    coordinator = api.headers("coordinator")
    response = api.client.get("/episodes", params={"status": "bogus"}, headers=coordinator)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "status"]
    good = api.client.get("/episodes", params={"status": "accepted"}, headers=coordinator)
    assert good.status_code == 200


def test_answers_are_not_cached_or_sniffed(api: Api) -> None:
    open_episode(api)
    for path in (
        "/episodes",
        "/episodes/ep-1",
        "/episodes/ep-1/timeline",
        "/episodes/ep-1/ledger",
        "/episodes/ep-9",
    ):
        response = api.client.get(path, headers=api.headers("auditor"))
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-content-type-options"] == "nosniff", path
    refused = api.client.get("/episodes")
    assert refused.headers["cache-control"] == "no-store"


def test_the_docs_page_loads_no_script_from_elsewhere(api: Api) -> None:
    for path in ("/docs", "/redoc"):
        response = api.client.get(path)
        if response.status_code == 200:
            assert "https://" not in response.text and "http://" not in response.text, path
        else:
            assert response.status_code == 404
    assert api.client.get("/openapi.json").status_code == 200


def test_data_files_and_folders_are_private(api: Api) -> None:
    open_episode(api)
    api.client.get("/episodes/ep-1", headers=api.headers("nurse"))
    root = api.settings.data_dir
    found = []
    for folder, _dirs, files in os.walk(root):
        found.append((folder, stat.S_IMODE(os.stat(folder).st_mode), 0o700))
        found += [
            (os.path.join(folder, f), stat.S_IMODE(os.stat(os.path.join(folder, f)).st_mode), 0o600)
            for f in files
        ]
    assert len(found) > 5
    wrong = [(path, oct(mode)) for path, mode, want in found if mode & ~want]
    assert not wrong, wrong
