"""Serving fast, not wrongly: remembered tokens still expire; workers need the read models kept elsewhere."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from carecoord.api.auth import AuthConfig, AuthenticationError, TokenVerifier, mint_local_token
from carecoord.cli import main
from carecoord.config import Settings
from tests.support.api import Api, open_episode


def _verifier(tmp_path: Path) -> tuple[TokenVerifier, AuthConfig]:
    config = AuthConfig.from_env(Settings.embedded(tmp_path), environ={})
    return TokenVerifier(config), config


def test_a_verified_token_is_not_checked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    verifier, config = _verifier(tmp_path)
    token = mint_local_token(config, "nurse", "rn-1", ttl=600)
    assert verifier.verify(token).sub == "rn-1"

    def no_second_check(*args: object, **kwargs: object) -> None:
        raise AssertionError("the signature was checked again")

    monkeypatch.setattr(jwt, "decode", no_second_check)
    assert verifier.verify(token).role == "nurse"


def test_a_remembered_token_is_refused_once_it_has_expired(tmp_path: Path) -> None:
    verifier, config = _verifier(tmp_path)
    # Expired 9 s ago: still inside the 10 s leeway for about a second.
    token = mint_local_token(config, "nurse", "rn-1", ttl=-9)
    assert verifier.verify(token).sub == "rn-1"
    time.sleep(1.5)
    with pytest.raises(AuthenticationError, match="the token has expired"):
        verifier.verify(token)


def test_a_refused_token_is_not_remembered(tmp_path: Path) -> None:
    verifier, config = _verifier(tmp_path)
    token = mint_local_token(config, "nurse", "rn-1", ttl=600)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            verifier.verify(tampered)


def test_several_workers_need_the_read_models_kept_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARECOORD_DATA", str(tmp_path))
    monkeypatch.delenv("CARECOORD_POSTGRES_URL", raising=False)
    monkeypatch.delenv("CARECOORD_API_INLINE_PROJECTION", raising=False)
    assert main(["serve", "--workers", "2"]) == 2
    assert "CARECOORD_API_INLINE_PROJECTION=0" in capsys.readouterr().out


@pytest.mark.parametrize("on_loop", [True, False])
def test_commands_run_on_the_loop_or_on_the_thread_pool_alike(api: Api, on_loop: bool) -> None:
    # On the thread pool in Kafka mode (a command may wait for the broker), on the loop otherwise.
    api.client.app.state.runtime.commands_on_loop = on_loop  # type: ignore[attr-defined]
    open_episode(api)
    body = {"assessment_id": "as-1", "kind": "initial", "assessed_on": "2026-03-02"}
    body |= {"eligible": True, "clinician": "RN A"}
    path = "/assessments/ep-1/complete-assessment"
    first = api.client.post(path, json=body, headers=api.headers("nurse"))
    again = api.client.post(path, json=body, headers=api.headers("nurse"))
    assert first.status_code == 200 and first.json()["status"] == "recorded"
    assert again.status_code == 409 and again.json()["error"] == "already_recorded"
