"""Configuration: the one module that reads the environment (everything else is given settings).

Where the services keep their events: the embedded default, or PostgreSQL.

With no configuration every service stores its events in a SQLite file under one data folder
(`CARECOORD_DATA`, default `./var`). Setting `CARECOORD_POSTGRES_URL` switches every store to
PostgreSQL (each service its own `<service>_events` table); nothing else changes. Optional:
`CARECOORD_POSTGRES_SCHEMA` (default `public`), `CARECOORD_POSTGRES_POOL_SIZE` (connections each
service keeps open; the library's default is 5), `CARECOORD_POSTGRES_CONNECT_TIMEOUT` (whole seconds
an event store waits for a connection, default 2; see `DEFAULT_CONNECT_TIMEOUT`).

The referrals service encrypts its stored events (they hold patient demographics) with
eventsourcing's AES-GCM cipher. The key comes from `CARECOORD_CIPHER_KEY`; on the embedded default,
when it is not set, one is generated once into `<data>/cipher.key` (mode 0600). With PostgreSQL the
key must be given: a key that lives only on one machine would make the shared store unreadable.

Kafka mode: with `CARECOORD_POSTGRES_URL` *and* `CARECOORD_KAFKA_BOOTSTRAP` set, the services that
need to know the episodes learn them from the referrals topic (as any other consumer would), fed by
the outbox relay (`carecoord relay`). A bootstrap without PostgreSQL changes nothing: the embedded
default has no relay, so nothing would reach Kafka.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DATA_ENV = "CARECOORD_DATA"
POSTGRES_URL_ENV = "CARECOORD_POSTGRES_URL"
POSTGRES_SCHEMA_ENV = "CARECOORD_POSTGRES_SCHEMA"
POSTGRES_POOL_SIZE_ENV = "CARECOORD_POSTGRES_POOL_SIZE"
POSTGRES_CONNECT_TIMEOUT_ENV = "CARECOORD_POSTGRES_CONNECT_TIMEOUT"
CIPHER_KEY_ENV = "CARECOORD_CIPHER_KEY"
KAFKA_BOOTSTRAP_ENV = "CARECOORD_KAFKA_BOOTSTRAP"
TOPIC_PREFIX_ENV = "CARECOORD_TOPIC_PREFIX"
REPLICATION_FACTOR_ENV = "CARECOORD_REPLICATION_FACTOR"
MIN_INSYNC_REPLICAS_ENV = "CARECOORD_MIN_INSYNC_REPLICAS"
PARTITIONS_ENV = "CARECOORD_PARTITIONS"
READ_MODEL_URL_ENV = "CARECOORD_READ_MODEL_URL"  # falls back to CARECOORD_POSTGRES_URL
INLINE_PROJECTION_ENV = "CARECOORD_API_INLINE_PROJECTION"
API_DOCS_ENV = "CARECOORD_API_DOCS"  # 1: serve /docs and /redoc (development: they load a CDN's scripts)
JWKS_ENV = "CARECOORD_JWKS"
ISSUER_ENV = "CARECOORD_JWT_ISSUER"
AUDIENCE_ENV = "CARECOORD_JWT_AUDIENCE"
# The pharmacy's billing provider, interchange ids, fee schedules and payers, for the 837P (a TOML
# file: deploy/billing.example.toml shows every key).
BILLING_CONFIG_ENV = "CARECOORD_BILLING_CONFIG"
# How `carecoord serve --workers N` hands its options to the worker processes uvicorn starts.
SERVE_WORKER_OPTIONS_ENV = "CARECOORD_SERVE_WORKER_OPTIONS"
# prometheus-client's own variable: the folder where every process of a group writes its metrics.
METRICS_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_DATA = "./var"
# Seconds an event store waits for a connection (to connect, or for a free one of its pool). The
# eventsourcing library tries each query up to 10 times, so with PostgreSQL away a command gives up
# (and the API answers 503) only after several of these: 15.8 s at 2, 8.8 s at 1 (measured). The
# library's own default, 30 s a try, held a command for minutes.
DEFAULT_CONNECT_TIMEOUT = 2
CIPHER_KEY_FILE = "cipher.key"

# Services whose stored events are encrypted at rest.
ENCRYPTED_SERVICES = frozenset({"referrals"})


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str
    schema: str = ""
    pool_size: int | None = None
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT

    @classmethod
    def from_url(
        cls,
        url: str,
        schema: str = "",
        pool_size: int | None = None,
        connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    ) -> PostgresSettings:
        """`postgresql://user:password@host:port/dbname` to settings."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ConfigError(
                f"{POSTGRES_URL_ENV}: expected a postgresql:// URL, got scheme {parts.scheme!r}"
            )
        dbname = parts.path.lstrip("/")
        missing = [
            name
            for name, value in (("host", parts.hostname), ("user", parts.username), ("database", dbname))
            if not value
        ]
        if missing:
            raise ConfigError(f"{POSTGRES_URL_ENV}: the URL has no {', '.join(missing)}")
        try:
            port = parts.port or 5432
        except ValueError:
            raise ConfigError(f"{POSTGRES_URL_ENV}: the URL's port is not a number") from None
        return cls(
            host=parts.hostname or "",
            port=port,
            dbname=unquote(dbname),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            schema=schema,
            pool_size=pool_size,
            connect_timeout=connect_timeout,
        )

    def __repr__(self) -> str:  # never show the password
        return (
            f"PostgresSettings(host={self.host!r}, port={self.port}, dbname={self.dbname!r}, "
            f"user={self.user!r}, schema={self.schema!r})"
        )


@dataclass(frozen=True)
class Settings:
    """Everything the services need to know about where they run."""

    data_dir: Path
    postgres: PostgresSettings | None = None
    cipher_key: str | None = None
    kafka_bootstrap: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get(DATA_ENV) or DEFAULT_DATA)
        url = env.get(POSTGRES_URL_ENV)
        pool_size = env.get(POSTGRES_POOL_SIZE_ENV)
        if pool_size is not None and not pool_size.isdigit():
            raise ConfigError(f"{POSTGRES_POOL_SIZE_ENV}: expected a whole number, got {pool_size!r}")
        connect_timeout = env.get(POSTGRES_CONNECT_TIMEOUT_ENV) or str(DEFAULT_CONNECT_TIMEOUT)
        if not connect_timeout.isdigit() or int(connect_timeout) < 1:
            raise ConfigError(
                f"{POSTGRES_CONNECT_TIMEOUT_ENV}: expected a whole number of seconds, 1 or more, "
                f"got {connect_timeout!r}"
            )
        postgres = (
            PostgresSettings.from_url(
                url,
                env.get(POSTGRES_SCHEMA_ENV, ""),
                int(pool_size) if pool_size else None,
                int(connect_timeout),
            )
            if url
            else None
        )
        return cls(
            data_dir=data_dir,
            postgres=postgres,
            cipher_key=env.get(CIPHER_KEY_ENV) or None,
            kafka_bootstrap=env.get(KAFKA_BOOTSTRAP_ENV) or None,
        )

    @classmethod
    def embedded(cls, data_dir: Path | str) -> Settings:
        """The embedded default (SQLite) in the given data folder."""
        return cls(data_dir=Path(data_dir))

    @property
    def store(self) -> str:
        return "postgres" if self.postgres else "sqlite"

    @property
    def kafka_mode(self) -> bool:
        """Events travel through Kafka: PostgreSQL stores (whose outbox the relay reads) and a broker."""
        return self.postgres is not None and self.kafka_bootstrap is not None

    def __repr__(self) -> str:  # never show the cipher key
        return (
            f"Settings(data_dir={str(self.data_dir)!r}, postgres={self.postgres!r}, "
            f"kafka_bootstrap={self.kafka_bootstrap!r})"
        )


def service_store_file(service_name: str, settings: Settings) -> Path:
    """Where a service keeps its events on the embedded default (not created here)."""
    return settings.data_dir / f"{service_name}.sqlite3"


def application_env(service_name: str, settings: Settings | None = None) -> dict[str, str]:
    """The eventsourcing environment for one service's Application (passed as its `env=`)."""
    settings = settings or Settings.from_env()
    env: dict[str, str] = {}
    if settings.postgres:
        pg = settings.postgres
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_HOST=pg.host,
            POSTGRES_PORT=str(pg.port),
            POSTGRES_DBNAME=pg.dbname,
            POSTGRES_USER=pg.user,
            POSTGRES_PASSWORD=pg.password,
            POSTGRES_CREATE_TABLE="y",
            CREATE_TABLE="y",
        )
        if pg.schema:
            env["POSTGRES_SCHEMA"] = pg.schema
        if pg.pool_size is not None:
            env["POSTGRES_POOL_SIZE"] = str(pg.pool_size)
        env["POSTGRES_CONNECT_TIMEOUT"] = str(pg.connect_timeout)
    else:
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=str(private_file(service_store_file(service_name, settings))),
        )
    if service_name in ENCRYPTED_SERVICES:
        env.update(CIPHER_TOPIC="eventsourcing.cipher:AESCipher", CIPHER_KEY=cipher_key(settings))
    return env


def cipher_key(settings: Settings) -> str:
    """The AES key (base64) for the encrypted services."""
    if settings.cipher_key:
        return settings.cipher_key
    if settings.postgres:
        raise ConfigError(
            f"{CIPHER_KEY_ENV} is not set: with PostgreSQL the referrals service needs the shared key "
            "(create one with: python -c 'from eventsourcing.cipher import AESCipher; "
            "print(AESCipher.create_key(32))')"
        )
    return _embedded_cipher_key(settings.data_dir / CIPHER_KEY_FILE)


def _embedded_cipher_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    from eventsourcing.cipher import AESCipher

    key = AESCipher.create_key(32)
    private_dir(path.parent)
    # Created with 0600 from the start, so the key is never readable by others, even briefly.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key


# --- the other settings read from the environment, for the entrypoints -------------------------


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def topic_prefix(environ: Mapping[str, str] | None = None) -> str:
    """Put in front of every Kafka topic name (tests and benchmarks run on topics of their own)."""
    return _env(environ).get(TOPIC_PREFIX_ENV, "")


def _whole_number(environ: Mapping[str, str] | None, name: str, default: str | None) -> int | None:
    value = _env(environ).get(name) or default
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{name}: expected a whole number of 1 or more, got {value!r}")
    return int(value)


def replication_factor(environ: Mapping[str, str] | None = None) -> int:
    """Replicas of each topic the tools create: 1 on a single local broker, 3 in production."""
    return _whole_number(environ, REPLICATION_FACTOR_ENV, "1") or 1


def min_insync_replicas(environ: Mapping[str, str] | None = None) -> int | None:
    """Per-topic min.insync.replicas (2 in production); unset: the broker's default."""
    return _whole_number(environ, MIN_INSYNC_REPLICAS_ENV, None)


def partitions(environ: Mapping[str, str] | None = None, default: int = 6) -> int:
    """Partitions per topic the tools create (the same for every topic)."""
    return _whole_number(environ, PARTITIONS_ENV, str(default)) or default


def kafka_bootstrap(environ: Mapping[str, str] | None = None, default: str | None = None) -> str | None:
    return _env(environ).get(KAFKA_BOOTSTRAP_ENV) or default


def read_model_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The PostgreSQL of the read models, for `project`, `rebuild` and `verify`."""
    env = _env(environ)
    return env.get(READ_MODEL_URL_ENV) or env.get(POSTGRES_URL_ENV) or None


def inline_projection(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the API projects the read models itself (the default) rather than Kafka consumers."""
    return _env(environ).get(INLINE_PROJECTION_ENV, "1") not in ("0", "false", "no")


def api_docs(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the API serves its interactive pages (/docs, /redoc): only in development, since they
    load their scripts from a CDN. The OpenAPI document itself is always served."""
    return _env(environ).get(API_DOCS_ENV, "0") in ("1", "true", "yes")


def private_dir(path: Path) -> Path:
    """A folder of the data (stores, keys): created 0700 when it is new."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):  # each new folder 0700, the data folder's new parents too
        folder.mkdir(mode=0o700, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """A data file (an SQLite store, whose journal files SQLite then makes with the same mode):
    created empty with 0600 when it is new, before anything else opens it."""
    if not path.exists():
        private_dir(path.parent)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


@dataclass(frozen=True)
class TokenSettings:
    """Where bearer tokens' keys come from: the identity provider's key set, or (unset) the local one."""

    jwks: str | None
    issuer: str | None
    audience: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenSettings:
        env = _env(environ)
        return cls(env.get(JWKS_ENV) or None, env.get(ISSUER_ENV) or None, env.get(AUDIENCE_ENV) or None)


def billing_config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The billing configuration file the 837P is written with, or None when none is set."""
    value = _env(environ).get(BILLING_CONFIG_ENV)
    return Path(value) if value else None


def serve_worker_options(environ: Mapping[str, str] | None = None) -> str:
    """The options `carecoord serve --workers N` left for its worker processes (JSON)."""
    return _env(environ).get(SERVE_WORKER_OPTIONS_ENV) or "{}"


def hand_serve_worker_options(options: str) -> None:
    """Leave options for the worker processes uvicorn is about to start (they inherit the environment)."""
    os.environ[SERVE_WORKER_OPTIONS_ENV] = options


def metrics_multiprocess_folder(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder of prometheus-client's multiprocess mode, when a group of processes uses it."""
    value = _env(environ).get(METRICS_MULTIPROC_ENV)
    return Path(value) if value else None


def use_metrics_multiprocess_folder() -> Path:
    """A new private folder for prometheus-client's multiprocess mode, set for this process and the
    ones it starts. Must run before prometheus_client is first imported: it chooses where values
    live at import. The caller removes the folder when the group has ended."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="carecoord-metrics-"))
    os.environ[METRICS_MULTIPROC_ENV] = str(folder)
    return folder
