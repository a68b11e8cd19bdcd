"""The backend's settings: one TOML file per worker, with the environment over it.

    # /etc/allhours/backend.toml (docs/examples/backend.toml)
    database_url = "postgresql+psycopg://allhours@/allhours?host=/run/postgresql"
    blob_dir = "/var/lib/allhours/blobs"
    ca_dir = "/var/lib/allhours/site-ca"     # allhours provision init
    worker_id = "1"                           # distinct per worker: client id backend.<id>
    broker_host = "127.0.0.1"
    broker_port = 8883                        # the default broker: terminals assigned to none
    # a province: one broker per region or site group (`allhours provision token --broker west`)
    brokers = { east = "mq-east.example.gov.cn:8883", west = "mq-west.example.gov.cn:8883" }
    shared_group = "allhours-backend"         # MQTT 5 shared subscriptions across workers
    plain_subscriptions = false               # one worker, plain filters
    http_host = "127.0.0.1"
    http_port = 8080
    trusted_proxies = ["127.0.0.1"]           # whose X-Forwarded-For/-Proto are believed
    secure_cookies = true                     # cookies only over https (the proxy's TLS)
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
from provisioning.authority import BROKER_NAME

from .front import check_proxies

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
    # Named brokers, name -> "HOST:PORT": a province's regions or site groups (docs/scaling.md).
    # The worker ingests from each; a terminal the registry assigns to one (provision token
    # --broker NAME) gets its address in its enrollment bundle.
    brokers: dict[str, str] = Field(default_factory=dict)
    shared_group: str = topics.SHARED_GROUP
    plain_subscriptions: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    # The reverse proxies in front of the API and console (backend/front.py); a proxy on
    # another host must be named here, or every sign-in shares its address.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    # Production serves staff over https (the proxy's TLS): session, sign-in and language
    # cookies are never sent in the clear. False only for a plain-http test site.
    secure_cookies: bool = True
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

    @field_validator("brokers")
    @classmethod
    def _brokers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 64:
            raise ValueError("at most 64 named brokers")
        for name, address in value.items():
            if not BROKER_NAME.fullmatch(name):
                raise ValueError(f"{name[:40]!r}: a broker's name is 1-32 of a-z, 0-9 and '-'")
            host, _, port = address.rpartition(":")
            if not host or len(host) > 253 or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{name}: {address[:80]!r}: expected HOST:PORT")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_proxies(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def broker_addresses(self) -> dict[str, tuple[str, int]]:
        """The named brokers as name -> (host, port)."""
        return {
            name: (a.rpartition(":")[0], int(a.rpartition(":")[2]))
            for name, a in self.brokers.items()
        }

    @property
    def extra_broker_addresses(self) -> list[tuple[str, int]]:
        """The brokers to ingest from besides the default one, each address once."""
        out: list[tuple[str, int]] = []
        for address in self.broker_addresses.values():
            if address != (self.broker_host, self.broker_port) and address not in out:
                out.append(address)
        return out

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
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
            # RecursionError: thousands of nested arrays or tables exhaust tomllib's parser.
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
