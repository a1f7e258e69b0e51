"""The committed OpenAPI document and role matrix equal what the code serves; `carecoord token` works."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from carecoord.api.app import openapi_document
from carecoord.api.auth import AuthConfig, TokenVerifier
from carecoord.api.roles import markdown
from carecoord.cli import main
from carecoord.config import Settings
from tests.support.api import Api

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_committed_openapi_document_is_the_served_one(api: Api) -> None:
    committed = json.loads((DOCS / "openapi.json").read_text())
    assert committed == openapi_document(), (
        "docs/openapi.json is out of date: regenerate it with "
        "`.venv/bin/carecoord serve --write-openapi docs/openapi.json`"
    )
    assert api.client.get("/openapi.json").json() == committed


def test_the_committed_role_matrix_is_the_enforced_one() -> None:
    assert (DOCS / "roles.md").read_text() == markdown(), (
        "docs/roles.md is out of date: regenerate it with "
        "`.venv/bin/python -m carecoord.api.roles > docs/roles.md`"
    )


def test_carecoord_token_mints_a_token_the_api_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARECOORD_DATA", str(tmp_path / "var"))
    monkeypatch.delenv("CARECOORD_JWKS", raising=False)
    monkeypatch.delenv("CARECOORD_POSTGRES_URL", raising=False)
    assert main(["token", "--role", "pharmacist", "--sub", "pharm-ann", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    settings = Settings.embedded(tmp_path / "var")
    caller = TokenVerifier(AuthConfig.from_env(settings, environ={})).verify(token)
    assert (caller.sub, caller.role) == ("pharm-ann", "pharmacist")
    private_key = tmp_path / "var" / "jwt" / "private-key.pem"
    assert stat.S_IMODE(os.stat(private_key).st_mode) == 0o600
    public = json.loads((tmp_path / "var" / "jwt" / "jwks.json").read_text())
    assert [key["kty"] for key in public["keys"]] == ["EC"] and "d" not in public["keys"][0]


def test_carecoord_token_refuses_when_keys_come_from_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARECOORD_DATA", str(tmp_path / "var"))
    monkeypatch.setenv("CARECOORD_JWKS", "https://idp.example/jwks.json")
    assert main(["token", "--role", "nurse", "--sub", "rn"]) == 2
    assert "identity provider" in capsys.readouterr().out


def test_rs256_tokens_from_a_configured_jwks_file(tmp_path: Path) -> None:
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from carecoord.api.auth import AuthenticationError

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**public, "kid": "idp-1", "alg": "RS256"}]}))
    settings = Settings.embedded(tmp_path / "var")
    environ = {"CARECOORD_JWKS": str(tmp_path / "jwks.json"), "CARECOORD_JWT_ISSUER": "https://idp.example"}
    verifier = TokenVerifier(AuthConfig.from_env(settings, environ=environ))
    claims = {"iss": "https://idp.example", "aud": "carecoord-api", "sub": "dr-who", "role": "auditor"}
    token = jwt.encode(
        {**claims, "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "idp-1"}
    )
    assert verifier.verify(token).role == "auditor"
    assert not (tmp_path / "var" / "jwt").exists()  # no local key pair when a key set is configured
    wrong_kid = jwt.encode(
        {**claims, "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "x"}
    )
    with pytest.raises(AuthenticationError, match="not in the key set"):
        verifier.verify(wrong_kid)


def test_the_readme_publishes_the_enforced_role_matrix() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    table_rows = [line for line in markdown().splitlines() if line.startswith("|")]
    assert table_rows
    missing = [row for row in table_rows if row not in readme]
    assert not missing, f"README.md's role matrix is out of date (copy it from docs/roles.md): {missing[:3]}"
