"""`carecoord worklist --today D` and `carecoord claims --period P [--x12 OUT]` without a history file
answer from the live stores (the configured read models), as the running API does, on SQLite and
on PostgreSQL: the same items and claims as the commands over a history file of the same events,
and an 837P that pyx12's validator accepts."""

from __future__ import annotations

import io
import json
import os
import stat
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from carecoord import config
from carecoord.cli import main
from carecoord.config import Settings
from carecoord.demo import run_demo
from events import to_json
from tests.support.api import BILLING_EXAMPLE
from tests.support.x12 import parse_claims, x12_errors


@pytest.fixture
def live(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo month in the stores `settings` name, the environment naming them; its history file."""
    services = run_demo(tmp_path / "demo", settings=settings)
    try:
        history = tmp_path / "history.jsonl"
        history.write_text("".join(to_json(e) + "\n" for e in services.contract_events()))
    finally:
        services.close()
    for name in (config.POSTGRES_URL_ENV, config.POSTGRES_SCHEMA_ENV, config.KAFKA_BOOTSTRAP_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(config.DATA_ENV, str(settings.data_dir))
    if settings.postgres is not None:
        pg = settings.postgres
        monkeypatch.setenv(
            config.POSTGRES_URL_ENV, f"postgresql://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{pg.dbname}"
        )
        monkeypatch.setenv(config.POSTGRES_SCHEMA_ENV, pg.schema)
        assert settings.cipher_key is not None
        monkeypatch.setenv(config.CIPHER_KEY_ENV, settings.cipher_key)
    return history


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def document(*argv: str) -> dict[str, Any]:
    status, out, err = run(*argv)
    assert status == 0, err
    found: dict[str, Any] = json.loads(out)
    return found


def test_the_worklist_without_a_history_file_is_the_live_stores(live: Path) -> None:
    for today in ("2026-03-04", "2026-03-17", "2026-03-29", "2026-04-06"):
        from_history = document("worklist", str(live), "--today", today, "--json")
        from_stores = document("worklist", "--today", today, "--json")
        assert from_stores["items"] == from_history["items"] and from_history["items"], today
    status, out, _ = run("worklist", "--today", "2026-03-17")
    assert status == 0 and out.startswith("Worklist for 2026-03-17")


def test_the_claims_without_a_history_file_are_the_live_stores(live: Path) -> None:
    for period in ("2026-02", "2026-03"):
        from_history = document("claims", str(live), "--period", period, "--json")
        assert document("claims", "--period", period, "--json")["claims"] == from_history["claims"]
    earlier = document("claims", str(live), "--period", "2026-03", "--through", "2026-03-15", "--json")
    assert (
        document("claims", "--period", "2026-03", "--through", "2026-03-15", "--json")["claims"]
        == earlier["claims"]
    )
    status, out, _ = run("claims", "--period", "2026-03")
    assert status == 0 and "NEW" in out


def test_the_837p_of_the_live_stores(live: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "march.x12"
    status, _, err = run("claims", "--period", "2026-03", "--x12", str(out))
    assert status == 2 and config.BILLING_CONFIG_ENV in err  # no configuration: a usage error
    monkeypatch.setenv(config.BILLING_CONFIG_ENV, str(BILLING_EXAMPLE))
    assert run("claims", str(live), "--period", "2026-03", "--x12", str(out))[0] == 2  # live stores only

    status, _, err = run("claims", "--period", "2026-03", "--x12", str(out))
    assert status == 0, err
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # it holds names, birth dates and addresses
    text = out.read_text()
    assert x12_errors(text) == []
    claims = document("claims", "--period", "2026-03", "--json")["claims"]
    assert [c.claim_id for c in parse_claims(text)] == [f"CLM-2026-03-{c['episode_id']}" for c in claims]
    # A second file is a second interchange: its control number is the next one.
    second = tmp_path / "again.x12"
    assert run("claims", "--period", "2026-03", "--x12", str(second))[0] == 0
    assert int(text.split("*")[13]) + 1 == int(second.read_text().split("*")[13])
    assert run("claims", "--period", "2031-01", "--x12", str(second))[0] == 1  # nothing to send


def test_an_embedded_folder_where_nothing_was_recorded_is_refused_and_left_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped CARECOORD_DATA used to create empty stores there and answer "0 items"."""
    for name in (config.POSTGRES_URL_ENV, config.POSTGRES_SCHEMA_ENV, config.KAFKA_BOOTSTRAP_ENV):
        monkeypatch.delenv(name, raising=False)
    nowhere = tmp_path / "no-such-data"
    monkeypatch.setenv(config.DATA_ENV, str(nowhere))
    monkeypatch.setenv(config.BILLING_CONFIG_ENV, str(BILLING_EXAMPLE))
    for argv in (
        ("worklist", "--today", "2026-03-20"),
        ("claims", "--period", "2026-03"),
        ("claims", "--period", "2026-03", "--x12", str(tmp_path / "out.x12")),
    ):
        status, out, err = run(*argv)
        assert (status, out) == (2, ""), argv
        assert f"no stores in {nowhere}" in err, argv
    assert not nowhere.exists() and not (tmp_path / "out.x12").exists()
