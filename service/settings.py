"""Service settings (edge and cloud), read from ``DASEDGE_*`` environment variables.

Every field can be set as ``DASEDGE_<FIELD>`` (for example
``DASEDGE_DB_URL=postgresql://...``) or in the env file named by
``DASEDGE_ENV_FILE`` (default ``.env`` in the working directory).  Secrets are
:class:`pydantic.SecretStr` so they never appear in ``repr``/logs.

The cloud key of an edge box (``edge_key``) may come from the environment or,
better, from ``edge_key_file``: that file must be readable by the owner only
(mode ``0600`` or stricter), otherwise :class:`Settings` refuses to load.
Outside ``environment="development"`` a well-known default secret (``changethis``
and friends) is refused as well.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: secrets that must never be used outside development
DEFAULT_SECRETS = frozenset({"changethis", "changeme", "secret", "password", "dasedge", ""})


def read_secret_file(path: Path) -> str:
    """Read a one-line secret from ``path``; refuse group/other-readable files.

    Raises
    ------
    ValueError
        If the file is missing or its permissions are looser than ``0600``.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise ValueError(f"secret file {path}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"secret file {path} has mode {oct(st.st_mode & 0o777)}; chmod 600 it")
    return path.read_text().strip()


class Settings(BaseSettings):
    """Configuration of ``dasedge serve`` (edge) and ``dasedge cloud``."""

    model_config = SettingsConfigDict(
        env_prefix="DASEDGE_",
        env_file=os.environ.get("DASEDGE_ENV_FILE", ".env"),
        env_ignore_empty=True,
        extra="ignore",
    )

    environment: Literal["development", "test", "production"] = "development"
    #: ``sqlite:///relative/or/absolute/path``, a plain path, or ``postgresql://...``
    db_url: str = "var/dasedge.sqlite"
    #: SQLite ``synchronous`` pragma: NORMAL (WAL: durable up to the last checkpointed
    #: commit; a power cut may lose the last transactions, never corrupts) or FULL
    #: (every commit is fsynced; slower).
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    kafka_bootstrap: str = "127.0.0.1:9092"
    model_path: Path | None = None
    site_id: str = "edge-1"

    host: str = "127.0.0.1"
    port: int = 8080

    # --- cloud uplink (edge side) ---
    cloud_url: str | None = None
    edge_key: SecretStr | None = None
    edge_key_file: Path | None = None
    push_interval_s: float = 2.0
    push_batch: int = 500

    # --- outbox (store-and-forward) ---
    #: hard bound on outbox rows; when exceeded the oldest low-priority rows
    #: (picks, modal frequencies, then traffic events/interval stats) are dropped,
    #: vehicles and seismic events never (see ``service.store``).
    outbox_max_rows: int = Field(default=200_000, ge=1)
    #: /ready reports not ready above this many pending rows
    outbox_ready_max: int = Field(default=100_000, ge=1)

    # --- disk ---
    disk_path: Path = Path(".")
    disk_min_free_bytes: int = 1_000_000_000
    disk_min_free_pct: float = 5.0

    # --- readiness ---
    #: a pipeline heartbeat older than this is stale
    heartbeat_max_age_s: float = 60.0
    #: components that must report in the status table for /ready (empty: none required)
    ready_components: list[str] = Field(default_factory=list)

    # --- webhooks ---
    webhook_max_attempts: int = 6
    webhook_backoff_s: float = 1.0
    webhook_backoff_max_s: float = 300.0
    webhook_timeout_s: float = 5.0
    dispatcher_poll_s: float = 0.5

    # --- API ---
    #: routes open without an API key besides /health, /ready, /api/v1/version, /docs
    public_metrics: bool = False
    cors_origins: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _load_and_check_secrets(self) -> "Settings":
        if self.edge_key is None and self.edge_key_file is not None:
            self.edge_key = SecretStr(read_secret_file(self.edge_key_file))
        if self.environment != "development" and self.edge_key is not None:
            if self.edge_key.get_secret_value() in DEFAULT_SECRETS:
                raise ValueError(
                    f"edge_key is a default secret; set a real DASEDGE_EDGE_KEY in {self.environment}"
                )
        return self

    def edge_key_value(self) -> str | None:
        """The plain cloud key (only for building the request header)."""
        return None if self.edge_key is None else self.edge_key.get_secret_value()


def get_settings(**overrides) -> Settings:
    """Settings from the environment with keyword overrides."""
    return Settings(**overrides)


def settings_from_cli(args: Any, **extra: Any) -> "Settings":
    """Settings with the ``--db``/``--host``/``--port`` options of ``dasedge serve``/``cloud`` applied."""
    overrides = {k: v for k, v in (("db_url", args.db), ("host", args.host), ("port", args.port)) if v}
    return Settings(**overrides, **extra)
