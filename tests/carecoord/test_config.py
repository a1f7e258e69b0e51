"""Configuration: the embedded default, the switch to PostgreSQL, the referrals cipher key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from carecoord.config import ConfigError, PostgresSettings, Settings, application_env


def test_no_configuration_means_sqlite_files_under_var() -> None:
    settings = Settings.from_env({})
    assert settings.data_dir == Path("./var") and settings.postgres is None and settings.store == "sqlite"


def test_the_embedded_default_keeps_one_sqlite_file_per_service(tmp_path: Path) -> None:
    settings = Settings.from_env({"CARECOORD_DATA": str(tmp_path / "data")})
    env = application_env("deliveries", settings)
    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "data" / "deliveries.sqlite3"),
    }


def test_referrals_are_encrypted_with_a_key_generated_once_and_private(tmp_path: Path) -> None:
    settings = Settings.embedded(tmp_path)
    env = application_env("referrals", settings)
    assert env["CIPHER_TOPIC"] == "eventsourcing.cipher:AESCipher"
    key_file = tmp_path / "cipher.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (
        application_env("referrals", settings)["CIPHER_KEY"]
        == env["CIPHER_KEY"]
        == key_file.read_text().strip()
    )


def test_a_given_cipher_key_is_used(tmp_path: Path) -> None:
    settings = Settings.from_env({"CARECOORD_DATA": str(tmp_path), "CARECOORD_CIPHER_KEY": "a2V5"})
    assert application_env("referrals", settings)["CIPHER_KEY"] == "a2V5"
    assert not (tmp_path / "cipher.key").exists()


def test_a_postgres_url_switches_every_store() -> None:
    settings = Settings.from_env(
        {
            "CARECOORD_POSTGRES_URL": "postgresql://care%40coord:s3cr%2Ft@db.example:6543/carecoord",
            "CARECOORD_POSTGRES_SCHEMA": "prod",
            "CARECOORD_POSTGRES_POOL_SIZE": "3",
            "CARECOORD_CIPHER_KEY": "a2V5",
        }
    )
    assert settings.postgres == PostgresSettings(
        "db.example", 6543, "carecoord", "care@coord", "s3cr/t", "prod", 3
    )
    for service in ("referrals", "assessments", "deliveries", "visits", "complications"):
        env = application_env(service, settings)
        assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
        assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
            "db.example",
            "6543",
            "carecoord",
        )
        assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("care@coord", "s3cr/t")
        assert (env["POSTGRES_SCHEMA"], env["POSTGRES_POOL_SIZE"]) == ("prod", "3")
        assert "SQLITE_DBNAME" not in env
    assert "s3cr" not in repr(settings) and "a2V5" not in repr(settings)


def test_postgres_needs_a_shared_cipher_key(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"CARECOORD_DATA": str(tmp_path), "CARECOORD_POSTGRES_URL": "postgresql://u:p@h/db"}
    )
    with pytest.raises(ConfigError, match="CARECOORD_CIPHER_KEY is not set"):
        application_env("referrals", settings)
    assert application_env("visits", settings)["POSTGRES_PORT"] == "5432"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:p@h/db", "expected a postgresql:// URL"),
        ("postgresql://u:p@h", "the URL has no database"),
        ("postgresql://h/db", "the URL has no user"),
        ("postgresql://u:p@h:port/db", "port is not a number"),
    ],
)
def test_bad_postgres_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"CARECOORD_POSTGRES_URL": url})


def test_the_process_environment_does_not_leak_into_the_applications(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carecoord.bootstrap import Services

    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.postgres")
    monkeypatch.setenv("CIPHER_TOPIC", "eventsourcing.cipher:AESCipher")
    with Services.from_config(Settings.embedded(tmp_path)) as services:
        assert services.deliveries.factory.__class__.__module__ == "eventsourcing.sqlite"
        assert services.deliveries.mapper.cipher is None
        assert services.referrals.mapper.cipher is not None


def test_an_event_store_waits_for_a_connection_two_seconds_unless_told(tmp_path: Path) -> None:
    """eventsourcing's own default (30 s a try, up to 10 tries) held a command for minutes while
    PostgreSQL was away; at 2 s a command gives up after about 16 s, and the API answers 503."""
    base = {"CARECOORD_POSTGRES_URL": "postgresql://u:p@h/db", "CARECOORD_CIPHER_KEY": "a2V5"}
    assert application_env("visits", Settings.from_env(base))["POSTGRES_CONNECT_TIMEOUT"] == "2"
    told = Settings.from_env({**base, "CARECOORD_POSTGRES_CONNECT_TIMEOUT": "1"})
    assert application_env("visits", told)["POSTGRES_CONNECT_TIMEOUT"] == "1"
    with pytest.raises(ConfigError, match="CARECOORD_POSTGRES_CONNECT_TIMEOUT"):
        Settings.from_env({**base, "CARECOORD_POSTGRES_CONNECT_TIMEOUT": "0.5"})
