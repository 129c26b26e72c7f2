"""Configuration read from the environment (and an optional `.env`), one small class per concern.

Each role loads only the classes it uses, so `touchgrass generate` never asks for
`ADMIN_PASSWORD` and a malformed `PORT` cannot stop a prover. Variable names are the old
TouchGrass server's where one existed (`DATABASE_URL`, `WORKER_RETRY_LIMIT`, ...), so
existing deployments move over unchanged. Errors name the variable and never echo its value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from touchgrass.errors import ConfigError
from touchgrass.signatures import CURVES, Curve, SignerKey

__all__ = [
    "ApiSettings",
    "ChainSettings",
    "CurveSettings",
    "ProverSettings",
    "DatabaseSettings",
    "DevSettings",
    "LogSettings",
    "MonitorSettings",
    "QueueSettings",
    "SignerSettings",
    "StorageSettings",
    "TrustSettings",
    "load",
]

_COMMON = SettingsConfigDict(
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    # Secrets (DATABASE_URL holds a password) must never be echoed back in an error.
    hide_input_in_errors=True,
    case_sensitive=False,
)


def _check_url(value: str, schemes: set[str], shape: str) -> str:
    """A URL whose scheme, host and port a connection can use, or a ValueError saying what is
    wrong with it (never echoing it: it may hold a password)."""
    parsed = urlsplit(value)
    if parsed.scheme not in schemes:
        raise ValueError(f"must be {shape}")
    try:
        port = parsed.port  # a non-numeric or out-of-range port raises here
    except ValueError:
        raise ValueError(f"has a port that is not a number from 1 to 65535 (expected {shape})"
                         ) from None
    if port == 0:
        raise ValueError(f"has a port that is not a number from 1 to 65535 (expected {shape})")
    if not parsed.hostname and "host=" not in parsed.query:
        raise ValueError(f"has no host (expected {shape})")
    return value


def _check_postgres_url(value: str) -> str:
    # A socket-only URL (postgresql:///db?host=/run/postgresql) has no host part.
    return _check_url(value, {"postgres", "postgresql", "postgresql+asyncpg"},
                      "a postgresql://user:pass@host:port/db URL")


MIN_ADMIN_PASSWORD = 12


class DatabaseSettings(BaseSettings):
    """Where the queue and the data live. Every role needs it."""

    model_config = _COMMON

    database_url: str = Field(
        description="PostgreSQL URL, postgresql://user:pass@host:port/db (required)."
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=200, description="Connections per process (default 10)."
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        return _check_postgres_url(value)

    @property
    def asyncpg_dsn(self) -> str:
        """The URL as asyncpg wants it (no SQLAlchemy driver suffix)."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class TelegramSettings(BaseSettings):
    """The old server's Telegram notifications: one message per new submission to a channel.

    TELEGRAM_ENABLED is read by the API (which queues an announcement with each new
    submission) and by `touchgrass notify` (which sends them)."""

    model_config = _COMMON

    telegram_enabled: bool = Field(
        default=False, description="Queue and send an announcement per new submission.")
    telegram_bot_token: SecretStr | None = Field(
        default=None, description="The bot's token (required by `touchgrass notify`).")
    telegram_channel_id: str | None = Field(
        default=None, description="Where to post: @channelname or a numeric chat id.")
    frontend_url: str = Field(
        default="https://touchgrass.example", description="The web app's address, for links.")
    telegram_api_url: str = Field(
        default="https://api.telegram.org", description="The Bot API (a stand-in in tests).")

    @field_validator("frontend_url", "telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


class MetricsSettings(BaseSettings):
    """Where a role serves its Prometheus metrics (the API serves them on /metrics)."""

    model_config = _COMMON

    metrics_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Serve Prometheus /metrics on this port; off when unset.")


class QueueSettings(BaseSettings):
    """The stage policies of docs/pipeline.md; every number is a setting, the defaults are production's."""

    model_config = _COMMON

    poll_interval_s: float = Field(
        default=5.0, gt=0, validation_alias=AliasChoices("QUEUE_POLL_INTERVAL_S"),
        description="Backstop poll for rows that no NOTIFY announces (delayed retries); jittered.",
    )
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, validation_alias=AliasChoices("SHUTDOWN_GRACE_S"),
        description="How long in-flight work may finish after SIGTERM before leases are released.",
    )
    backoff_jitter: float = Field(
        default=0.2, ge=0, le=1, validation_alias=AliasChoices("QUEUE_BACKOFF_JITTER"),
        description="Backoff is multiplied by 1 + jitter * random().",
    )
    generate_max_attempts: int = Field(
        default=3, ge=1,
        validation_alias=AliasChoices("GENERATE_MAX_ATTEMPTS", "WORKER_RETRY_LIMIT"),
        description="Attempts a proof gets before its row is rejected (WORKER_RETRY_LIMIT, "
                    "the old server's name, works too).",
    )
    generate_backoff_base_s: float = Field(
        default=60.0, ge=0, validation_alias=AliasChoices("GENERATE_BACKOFF_BASE_S"),
        description="Seconds before the first retry of a failed proof; doubled at each attempt.",
    )
    generate_lease_s: float = Field(
        default=600.0, gt=0, validation_alias=AliasChoices("GENERATE_LEASE_S"),
        description="How long a claimed row stays a worker's without a heartbeat.",
    )
    generate_timeout_s: float = Field(
        default=900.0, gt=0, validation_alias=AliasChoices("GENERATE_TIMEOUT_S"),
        description="One proof may take this long before it counts as a failed attempt.",
    )
    publish_max_attempts: int = Field(
        default=3, ge=1, validation_alias=AliasChoices("PUBLISH_MAX_ATTEMPTS"),
        description="Attempts a transaction gets before its row is rejected.",
    )
    publish_backoff_base_s: float = Field(
        default=300.0, ge=0, validation_alias=AliasChoices("PUBLISH_BACKOFF_BASE_S"),
        description="Seconds before the first retry of a failed transaction; doubled at each attempt.",
    )
    publish_lease_s: float = Field(
        default=300.0, gt=0, validation_alias=AliasChoices("PUBLISH_LEASE_S"),
        description="How long a claimed row stays a worker's without a heartbeat.",
    )
    publish_expiry_s: float = Field(
        default=86400.0, gt=0, validation_alias=AliasChoices("PUBLISH_EXPIRY_S"),
        description="A stored proof not published this long after it was made is rejected.",
    )
    publish_timeout_s: float = Field(
        default=300.0, gt=0, validation_alias=AliasChoices("PUBLISH_TIMEOUT_S"),
        description="One transaction may take this long before it counts as a failed attempt.",
    )
    deploy_max_attempts: int = Field(
        default=3, ge=1, validation_alias=AliasChoices("DEPLOY_MAX_ATTEMPTS"),
        description="Attempts a challenge zkApp deploy gets before its row is rejected.",
    )
    deploy_backoff_base_s: float = Field(
        default=120.0, ge=0, validation_alias=AliasChoices("DEPLOY_BACKOFF_BASE_S"),
        description="Seconds before the first retry of a failed zkApp deploy; doubled at each "
                    "attempt.",
    )
    deploy_lease_s: float = Field(
        default=600.0, gt=0, validation_alias=AliasChoices("DEPLOY_LEASE_S"),
        description="How long a claimed row stays a worker's without a heartbeat.",
    )
    deploy_timeout_s: float = Field(
        default=900.0, gt=0, validation_alias=AliasChoices("DEPLOY_TIMEOUT_S"),
        description="One challenge zkApp deploy may take this long before it counts as a failed attempt.",
    )
    notify_max_attempts: int = Field(
        default=5, ge=1, validation_alias=AliasChoices("NOTIFY_MAX_ATTEMPTS"),
        description="Attempts a Telegram announcement gets before its row is rejected.",
    )
    notify_backoff_base_s: float = Field(
        default=30.0, ge=0, validation_alias=AliasChoices("NOTIFY_BACKOFF_BASE_S"),
        description="Seconds before the first retry of a failed Telegram announcement; doubled "
                    "at each attempt.",
    )
    notify_lease_s: float = Field(
        default=60.0, gt=0, validation_alias=AliasChoices("NOTIFY_LEASE_S"),
        description="How long a claimed row stays a worker's without a heartbeat.",
    )
    notify_timeout_s: float = Field(
        default=30.0, gt=0, validation_alias=AliasChoices("NOTIFY_TIMEOUT_S"),
        description="One Telegram announcement may take this long before it counts as a failed attempt.",
    )


def _default_storage_dir() -> Path:
    return Path(platformdirs.user_data_dir("touchgrass")) / "storage"


class StorageSettings(BaseSettings):
    """Where images live: S3-compatible storage when `MINIO_ENDPOINT` is set, else a folder."""

    model_config = _COMMON

    storage_dir: Path = Field(
        default_factory=_default_storage_dir, validation_alias=AliasChoices("STORAGE_DIR"),
        description="Folder for images when no S3 endpoint is configured.",
    )
    minio_endpoint: str | None = Field(
        default=None, description="S3 endpoint, host:port or http(s)://host:port."
    )
    minio_root_user: str | None = Field(
        default=None, description="The S3 access key (required with MINIO_ENDPOINT).")
    minio_root_password: SecretStr | None = Field(
        default=None, description="The S3 secret key (required with MINIO_ENDPOINT).")
    minio_bucket: str = Field(default="touchgrass", description="The bucket images go to.")
    minio_region: str | None = Field(
        default=None, description="The S3 region, when the server wants one.")
    minio_create_bucket: bool = Field(
        default=True, description="Create the bucket at start when it does not exist."
    )
    minio_pool_size: int = Field(
        default=32, ge=1, le=1024,
        description="Connections to S3 this process keeps at most (the API's image reads, "
                    "uploads and checks share them).")
    minio_timeout_s: float = Field(
        default=10.0, gt=0, le=600,
        description="Seconds an S3 call may wait to connect, and between two reads of an "
                    "answer: a frozen S3 is an error in seconds, not minutes.")

    @field_validator("minio_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        url = value if "://" in value else f"http://{value}"
        if "@" in urlsplit(url).netloc:  # said without echoing them
            raise ValueError("must not hold credentials: set MINIO_ROOT_USER and "
                             "MINIO_ROOT_PASSWORD instead")
        _check_url(url, {"http", "https"}, "host:port or http(s)://host:port")
        return value

    @field_validator("minio_bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
            raise ValueError("must be 3-63 lowercase letters, digits, dots or hyphens")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> StorageSettings:
        if self.minio_endpoint and not (self.minio_root_user and self.minio_root_password):
            missing = "MINIO_ROOT_USER" if not self.minio_root_user else "MINIO_ROOT_PASSWORD"
            raise ValueError(f"{missing} is required when MINIO_ENDPOINT is set")
        return self


class CurveSettings(BaseSettings):
    """The signature curve: it fixes the circuit (and so the zkApp) of a deployment.

    Unset, it is told from SIGNER_PUBLIC_KEY when that is set (a point is on one curve or the
    other), so an old P-256 deployment's environment starts unchanged; with no key either,
    secp256k1. `curve` is the answer."""

    model_config = _COMMON

    signer_curve: Curve | None = Field(
        default=None, description="secp256k1 or secp256r1 (P-256); unset: told from "
        "SIGNER_PUBLIC_KEY, else secp256k1."
    )
    signer_public_key: str | None = Field(
        default=None, description="x,y: two 64-hex affine coordinates.")

    @field_validator("signer_public_key")
    @classmethod
    def _on_curve(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            _curve_of(value, info.data.get("signer_curve"))
        return value

    @property
    def curve(self) -> Curve:
        if self.signer_curve is not None:
            return self.signer_curve
        return _curve_of(self.signer_public_key, None) if self.signer_public_key else "secp256k1"


def _curve_of(key: str, named: Curve | None) -> Curve:
    """The curve `key` is on: the named one (ValueError when it is not on it), or the one of
    the two it is on (a point is on one or the other; ValueError when on neither)."""
    if named is not None:
        SignerKey.parse(key, named)
        return named
    on = []
    for curve in CURVES:
        try:
            SignerKey.parse(key, curve)
        except ValueError as error:
            if "not a point" not in str(error):
                raise  # malformed: the same message whatever the curve
        else:
            on.append(curve)
    if not on:
        raise ValueError("is not a point on secp256k1 or secp256r1 (the curves SIGNER_CURVE "
                         "may name)")
    return on[0]


class SignerSettings(CurveSettings):
    """The key whose signatures prove a photo came from a TouchGrass camera client."""

    signer_public_key: str = Field(description="x,y: two 64-hex affine coordinates (required).")

    @property
    def key(self) -> SignerKey:
        return SignerKey.parse(self.signer_public_key, self.curve)


class TrustSettings(BaseSettings):
    """Whom `touchgrass verify` and `verify-proof` trust (docs/receipts.md): a trust file, or
    the operator's Mina address and the signer key (SIGNER_PUBLIC_KEY, CurveSettings)."""

    model_config = _COMMON

    trust_file: str | None = Field(
        default=None, description="A trust file, a path or an https:// URL (`touchgrass trust` "
        "writes one): the operator, its signer keys and, optionally, its zkApps. Wins over "
        "SIGNER_PUBLIC_KEY; with OPERATOR_PUBLIC_KEY set too, it must be signed by that "
        "operator.")
    operator_public_key: str | None = Field(
        default=None, description="The operator's Mina address (B62...): the admin of the "
        "zkApps whose records count. Unset: derived from FEE_PAYER_PRIVATE_KEY when set.")


class ApiSettings(BaseSettings):
    """The HTTP API's own settings (`touchgrass api`)."""

    model_config = _COMMON

    port: int = Field(default=3000, ge=1, le=65535, description="Port to listen on.")
    cors_origin: str = Field(default="*", description="Allowed origins, comma-separated, or *.")
    upload_max_size: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest accepted image, in bytes."
    )
    admin_password: SecretStr = Field(
        description=f"Password of the `admin` user (required, at least {MIN_ADMIN_PASSWORD} "
                    "characters).")
    auto_approve: bool = Field(
        default=True, description="Queue uploads for proving at once; false: admin review."
    )
    telegram_enabled: bool = Field(
        default=False, description="Queue a Telegram announcement with each new submission "
        "(`touchgrass notify` sends them).")
    legacy_status: bool = Field(
        default=False, description="Report in-flight photos as `processing` (the old API's "
        "word, for old clients); `pipelineStatus` then keeps the precise status.")
    environment: str = Field(
        default="production", validation_alias=AliasChoices("NODE_ENV", "ENVIRONMENT"),
        description="Reported by /health.",
    )
    zkapp_address: str | None = Field(
        default=None, description="Reported by /api/version (deployment-wide zkApp, if any)."
    )
    api_metrics: str = Field(
        default="public",
        description="Where the API serves Prometheus /metrics: `public` (on its own port, as "
                    "before), `off`, or a port number (only there, e.g. one a firewall keeps "
                    "internal; /metrics on the API's port is then 404).")
    image_write_timeout_s: float = Field(
        default=20.0, gt=0, le=600,
        description="Seconds an image response waits for a slow client to take the next 64 "
                    "KiB before it is cut off: a reader at 1 KB/s cannot hold an S3 "
                    "connection for minutes.")
    image_sweep_interval_s: float = Field(
        default=300.0, gt=0,
        description="How often the API removes images a crash or an outage left without a row.",
    )
    image_sweep_grace_s: float = Field(
        default=900.0, ge=0,
        description="How old such an image's record must be before the sweep removes it.",
    )

    @field_validator("admin_password")
    @classmethod
    def _strong_enough(cls, value: SecretStr) -> SecretStr:
        # An empty password would let `admin:` through HTTP Basic; a short one is guessed.
        if len(value.get_secret_value().strip()) < MIN_ADMIN_PASSWORD:
            raise ValueError(f"must be at least {MIN_ADMIN_PASSWORD} characters "
                             "(try: python -c 'import secrets; print(secrets.token_urlsafe(18))')")
        return value

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origin.split(",") if origin.strip()]

    @field_validator("api_metrics")
    @classmethod
    def _metrics_place(cls, value: str) -> str:
        value = value.strip().lower()
        if value in {"public", "off"} or (value.isdigit() and 1 <= int(value) <= 65535):
            return value
        raise ValueError("must be public, off or a port number")

    @property
    def metrics_port(self) -> int | None:
        """The separate port /metrics is served on, when API_METRICS names one."""
        return int(self.api_metrics) if self.api_metrics.isdigit() else None


def _default_circuit_cache() -> Path:
    return Path(platformdirs.user_cache_dir("touchgrass")) / "circuits"


def _default_js_dir() -> Path:
    return Path(platformdirs.user_data_dir("touchgrass")) / "prover-js"


class ProverSettings(BaseSettings):
    """The o1js prover processes behind `touchgrass generate` (and `prove`, `verify-proof`)."""

    model_config = _COMMON

    circuit_cache_path: Path = Field(
        default_factory=_default_circuit_cache,
        description="o1js compile cache (~640 MiB secp256k1, ~930 MiB P-256); keep it between runs.",
    )
    prover_js_dir: Path = Field(
        default_factory=_default_js_dir,
        description="Where `touchgrass setup` installs the prover's JS dependencies.",
    )
    node_binary: str = Field(default="node", description="Node.js 20+ executable.")
    prover_threads: int | None = Field(
        default=None, ge=1, description="Threads per prover process; default: cores / processes."
    )
    prover_timeout_s: float = Field(default=600.0, gt=0, description="One proof, at most.")
    prover_start_timeout_s: float = Field(
        default=900.0, gt=0, description="Starting a process (compiling the circuit), at most."
    )
    prover_max_proofs: int = Field(
        default=50, ge=1, description="Recycle a process after this many proofs."
    )
    prover_max_rss_mb: int | None = Field(
        default=None, ge=256,
        description="Recycle a process above this resident memory (MiB); default: measured "
        "per curve for provers, 4096 for the publisher's builders (node/pool.py).",
    )


class ChainSettings(BaseSettings):
    """The Mina network the publisher and monitor talk to."""

    model_config = _COMMON

    mina_node_endpoint: str = Field(
        default="http://127.0.0.1:8080/graphql",
        description="GraphQL URL of a Mina node (or of `touchgrass devnet`).",
    )
    mina_network: Literal["mainnet", "devnet", "testnet"] = Field(
        default="devnet", description="Which network's signatures to make."
    )
    fee_payer_private_key: SecretStr | None = Field(
        default=None, description="The publisher's Mina key (EK...), pays every fee."
    )
    mina_transaction_fee: int = Field(
        default=100_000_000, ge=1,
        description="Fee per transaction in nanomina (0.1 MINA); a batch of photos pays it once.",
    )
    publish_batch_size: int = Field(
        # chain/batch.py's MAX_PHOTOS_PER_COMMAND (settings sit below chain; a test ties them)
        default=10, ge=1, le=10,
        description="Photos one zkApp command carries at most (10: the most the network's "
                    "size rule allows, five account updates of two).",
    )
    publish_batch_wait_s: float = Field(
        default=30.0, ge=0,
        description="A batch not full is sent when its oldest photo has waited this long.",
    )
    archive_node_endpoint: str | None = Field(
        default=None,
        description="GraphQL URL of an Archive Node API (the old server's name), where "
                    "`touchgrass verify` reads a zkApp's receipts (actions).",
    )

    @field_validator("mina_node_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_url(value, {"http", "https"}, "an http(s):// URL of a node's /graphql")

    @field_validator("archive_node_endpoint")
    @classmethod
    def _archive_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        return _check_url(value, {"http", "https"}, "an http(s):// URL of an archive's GraphQL")


class MonitorSettings(BaseSettings):
    """How `touchgrass monitor` follows transactions."""

    model_config = _COMMON

    monitor_interval_s: float = Field(default=5.0, gt=0, description="Seconds between looks.")
    finality_depth: int = Field(default=15, ge=1, description="Blocks deep a receipt is final.")
    abandon_after_blocks: int = Field(
        default=10, ge=1,
        description="A sent transaction the node no longer knows, in no block this many blocks "
                    "after it was first seen, and whose fee payer's nonce is still free, is "
                    "abandoned and its row re-queued.",
    )
    archive_block_range: int = Field(
        default=10_000, ge=1,
        description="The archive's BLOCK_RANGE_SIZE: the widest from/to range one actions "
                    "query may ask (Archive-Node-API's default is 10,000 blocks).",
    )


class DevSettings(BaseSettings):
    """What `touchgrass dev` takes from the environment: each piece that is set replaces its
    embedded default (PostgreSQL, the image folder, the local devnet); the rest are the
    defaults it gives the roles it starts, shorter than production's so a photo is final in
    seconds."""

    model_config = _COMMON

    database_url: str | None = Field(default=None, description="Else an embedded PostgreSQL.")
    minio_endpoint: str | None = Field(default=None, description="Else images in a folder.")
    mina_node_endpoint: str | None = Field(
        default=None, description="With FEE_PAYER_PRIVATE_KEY: a real network instead of the devnet.")
    fee_payer_private_key: SecretStr | None = Field(
        default=None, description="With MINA_NODE_ENDPOINT: the key that pays on that network.")
    mina_network: Literal["mainnet", "devnet", "testnet"] = Field(
        default="devnet", description="Which network's signatures to make (with a real node).")
    finality_depth: int = Field(
        default=3, ge=1, description="Blocks deep a receipt is final (short, for development).")
    monitor_interval_s: float = Field(
        default=2.0, gt=0, description="Seconds between the monitor's looks.")

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_postgres_url(value)

    @property
    def external_chain(self) -> bool:
        """A node and a key to pay with are both given: no local devnet."""
        return bool(self.mina_node_endpoint and self.fee_payer_private_key)


class LogSettings(BaseSettings):
    """How log lines look: JSON lines in production, readable lines in a terminal."""

    model_config = _COMMON

    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="json lines, or console for people; auto: console on a "
        "terminal, json otherwise.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The lowest level logged.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


S = TypeVar("S", bound=BaseSettings)


def load(settings_class: type[S], **overrides: object) -> S:
    """Build a settings object, turning pydantic's error into one line per bad variable.

    `overrides` come from CLI options and win over the environment; None means "not given".
    """
    given: dict[str, Any] = {key: value for key, value in overrides.items() if value is not None}
    try:
        return settings_class(**given)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_input=False, include_url=False):
            if not item["loc"]:  # a check across variables names them in its message
                problems.append(str(item["msg"]).removeprefix("Value error, "))
                continue
            name = _variable_name(settings_class, item["loc"])
            if item["type"] == "missing":
                problems.append(f"{name} is required but not set")
            else:
                problems.append(f"{name} is invalid: {str(item['msg']).removeprefix('Value error, ')}")
        raise ConfigError("; ".join(problems)) from None


def _variable_name(settings_class: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    """The environment variable an operator should fix for a pydantic error location.

    pydantic reports a field by its name or by its first alias; with several aliases (a new
    name and the old server's), name the one actually set in the environment.
    """
    reported = str(loc[0]) if loc else "?"
    environment = {key.upper() for key in os.environ}
    for name, field in settings_class.model_fields.items():
        alias = field.validation_alias
        choices = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else [name]
        if reported.upper() in {choice.upper() for choice in [name, *choices]}:
            present = [choice.upper() for choice in choices if choice.upper() in environment]
            return (present or [choices[0].upper()])[0]
    return reported.upper()


def settings_table() -> str:
    """Every setting as a markdown table (variable, default, what it does), from the fields'
    own descriptions: docs/operations.md's reference is this, and a test keeps it so.
    `python -m touchgrass.settings` prints it."""
    rows = ["| variable | default | what it does |", "| --- | --- | --- |"]
    seen: set[str] = set()
    for settings_class in BaseSettings.__subclasses__():
        if settings_class.__module__ != __name__:
            continue
        for name, field in settings_class.model_fields.items():
            alias = field.validation_alias
            names = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else [name]
            variable = names[0].upper()
            if variable in seen:
                continue
            seen.add(variable)
            default = "(required)" if field.is_required() else "" if field.default is None \
                or isinstance(field.default, SecretStr) else f"`{field.default}`"
            also = f" (also {', '.join(n.upper() for n in names[1:])})" if names[1:] else ""
            text = str(field.description).replace("|", "\\|")
            rows.append(f"| `{variable}`{also} | {default} | {text} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_table(), end="")
