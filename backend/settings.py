"""The backend's settings: one TOML file per worker, with the environment over it.

    # /etc/allhours/backend.toml (docs/examples/backend.toml)
    database_url = "postgresql+psycopg://allhours@/allhours?host=/run/postgresql"
    blob_dir = "/var/lib/allhours/blobs"
    ca_dir = "/var/lib/allhours/site-ca"     # allhours provision init
    worker_id = "1"                           # distinct per worker: client id backend.<id>
    broker_host = "127.0.0.1"
    broker_port = 8883
    shared_group = "allhours-backend"         # MQTT 5 shared subscriptions across workers
    plain_subscriptions = false               # one worker, plain filters
    http_host = "127.0.0.1"
    http_port = 8080
    enroll_host = "0.0.0.0"
    enroll_port = 8443
    public_names = ["backend.example.gov.cn"] # what terminals reach broker and enrollment by
    code_ttl_days = 7
    command_ttl_minutes = 60
    retention_days = 180                      # closed cases keep personal data (PIPL)
    holidays = ["holidays-2027.json"]         # official holidays, backend/workdays.py
    log_level = "INFO"

Every key may come from the environment instead, `ALLHOURS_BACKEND_` then the key
(`ALLHOURS_BACKEND_DATABASE_URL`, the place for a database password), and the environment wins
over the file; `python -m backend` flags win over both. Relative paths are taken from the
file's folder. A problem stops the worker at start with the file, the key and the reason.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from cloud_bridge.contract import topics

ENV_PREFIX = "ALLHOURS_BACKEND_"
_PATHS = ("blob_dir", "ca_dir")


class BackendSettingsError(ValueError):
    """The settings cannot be used; the message names the file, the key and the reason."""


class BackendSettings(BaseModel):
    """What one backend worker runs with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field(default="sqlite:///var/backend/backend.db", min_length=1)
    blob_dir: Path = Path("var/backend/blobs")
    ca_dir: Path
    worker_id: str = "1"
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(default=1883, ge=1, le=65535)
    # Further brokers to ingest from, "HOST:PORT" each: a province's regions (docs/scaling.md).
    extra_brokers: tuple[str, ...] = ()
    shared_group: str = topics.SHARED_GROUP
    plain_subscriptions: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    enroll_host: str = "127.0.0.1"
    enroll_port: int = Field(default=8443, ge=1, le=65535)
    public_names: tuple[str, ...] = ()
    code_ttl_days: float = Field(default=7.0, gt=0, le=60)
    command_ttl_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)
    # PIPL: days a closed case keeps personal data and scans (backend/retention.py).
    retention_days: int = Field(default=180, ge=1, le=36_500)
    holidays: tuple[Path, ...] = ()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("worker_id")
    @classmethod
    def _worker_id(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", value):
            raise ValueError("1-32 of a-z, 0-9 and '-', starting with a letter or digit")
        return value

    @field_validator("extra_brokers")
    @classmethod
    def _brokers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{address[:80]!r}: expected HOST:PORT")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def extra_broker_addresses(self) -> list[tuple[str, int]]:
        """The further brokers as (host, port)."""
        return [(a.rpartition(":")[0], int(a.rpartition(":")[2])) for a in self.extra_brokers]

    @property
    def client_id(self) -> str:
        """The worker's MQTT client id and certificate CN."""
        return f"backend.{self.worker_id}"


class _Environment(BaseSettings, BackendSettings):
    """Where the environment's `ALLHOURS_BACKEND_*` values are read, by the model's own rules."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)


def _environment() -> dict[str, Any]:
    return EnvSettingsSource(_Environment)()


def _reasons(origin: str, exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        key = ".".join(str(p) for p in error["loc"]) or "(file)"
        parts.append(f"{key}: {error['msg'].removeprefix('Value error, ')}")
    return f"{origin}: " + "; ".join(parts)


def load_backend_settings(
    path: str | Path | None, overrides: dict[str, Any] | None = None
) -> BackendSettings:
    """The file (if any), the environment over it and `overrides` (flags) over both."""
    data: dict[str, Any] = {}
    origin = "backend settings"
    if path is not None:
        path, origin = Path(path), str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BackendSettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BackendSettingsError(f"{path}: not valid TOML: {exc}") from None
        for key in _PATHS:
            if isinstance(data.get(key), str):
                data[key] = str(path.parent / data[key])
        if isinstance(data.get("holidays"), list):
            data["holidays"] = [
                str(path.parent / h) if isinstance(h, str) else h for h in data["holidays"]
            ]
    try:
        # The environment over the file, the flags over both; validated once, together.
        return BackendSettings.model_validate({**data, **_environment(), **(overrides or {})})
    except ValidationError as exc:
        raise BackendSettingsError(_reasons(origin, exc)) from None
