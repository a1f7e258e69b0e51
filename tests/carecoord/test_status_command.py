"""`carecoord status` without a deployment to look at: a configuration error (exit 2), never a
traceback; with one, see tests/kafka/test_status.py."""

from __future__ import annotations

import pytest

from carecoord.cli import main


def test_status_without_postgres_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CARECOORD_POSTGRES_URL", "CARECOORD_READ_MODEL_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["status", "--max-lag", "0"]) == 2
    assert "needs CARECOORD_POSTGRES_URL" in capsys.readouterr().out


def test_status_is_listed_with_its_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    text = capsys.readouterr().out
    assert "--max-lag" in text and "--max-dead-letters" in text and "--json" in text
