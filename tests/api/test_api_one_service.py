"""A command handler process per service: `carecoord serve --service NAME --no-queries`."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from carecoord.api.app import create_app
from carecoord.config import Settings


def test_a_service_process_serves_only_its_own_commands(tmp_path: Path) -> None:
    app = create_app(Settings.embedded(tmp_path), command_services={"deliveries"}, queries_served=False)
    try:
        paths = set(TestClient(app).get("/openapi.json").json()["paths"])
    finally:
        app.state.close()
    assert any(path.startswith("/deliveries/") for path in paths)
    assert not any(path.startswith(("/referrals/", "/visits/", "/episodes", "/claims")) for path in paths)
