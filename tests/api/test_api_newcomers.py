"""Papercuts a newcomer meets: the README's command paths, tokens from another data folder, `as_of`."""

from __future__ import annotations

from pathlib import Path

import pytest

from carecoord.api.auth import AuthConfig, AuthenticationError, TokenVerifier, mint_local_token
from carecoord.api.command_catalog import COMMANDS
from carecoord.config import Settings
from tests.support.api import Api, open_episode

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_names_each_command_by_its_real_path() -> None:
    for spec in COMMANDS:
        assert f"`POST {spec.path}`" in README, spec.path
        assert f"`{spec.name}` ({spec.service})" not in README, spec.name


def test_a_token_minted_with_another_data_folder_says_so(tmp_path: Path) -> None:
    elsewhere = AuthConfig.from_env(Settings.embedded(tmp_path / "elsewhere"), environ={})
    server = TokenVerifier(AuthConfig.from_env(Settings.embedded(tmp_path / "server"), environ={}))
    token = mint_local_token(elsewhere, "nurse", "rn-1")
    with pytest.raises(AuthenticationError, match="not in the key set") as refused:
        server.verify(token)
    assert "CARECOORD_DATA" in str(refused.value) and "carecoord token" in str(refused.value)
    assert "CARECOORD_DATA" in README and "key id" in README


def test_as_of_takes_z_and_says_how_to_send_a_plus(api: Api) -> None:
    open_episode(api)
    auditor = api.headers("auditor")
    with_z = api.client.get(
        "/episodes/ep-1/ledger", params={"as_of": "2099-01-01T00:00:00Z"}, headers=auditor
    )
    assert with_z.status_code == 200
    encoded = api.client.get("/episodes/ep-1/ledger?as_of=2099-01-01T00:00:00%2B01:00", headers=auditor)
    assert encoded.status_code == 200
    raw_plus = api.client.get("/episodes/ep-1/ledger?as_of=2099-01-01T00:00:00+01:00", headers=auditor)
    assert raw_plus.status_code == 422
    assert "%2B" in raw_plus.json()["detail"][0]["msg"]
    assert "%2B" in README
