"""A terminal's settings: one TOML file, the environment over it, and the enrollment bundle.

    # /etc/allhours/terminal.toml (docs/examples/terminal.toml)
    data_dir = "/var/lib/allhours"          # the enrollment (allhours enroll) and terminal.sqlite
    emulate = false                         # true: training mode on emulated devices
    devices = "/etc/allhours/devices.toml"  # reader, cameras, locker; required unless emulate

    [kiosk]
    lang = "zh"                # the language after each wipe: zh | en
    large = false              # start in large-text mode
    display = "fullscreen"     # fullscreen | windowed (development) | offscreen (no display)
    idle_timeout_s = 90
    idle_warning_s = 20
    dpi = 160                  # optional: the screen's dots per inch (touch sizes)
    speech = false             # speak prompts with espeak-ng

    [link]
    telemetry_interval_s = 60  # how often device health and compartments go to the backend
    keepalive_s = 30           # MQTT keep-alive; offline at the backend after 1.5 x this
    reconnect_min_s = 0.5      # reconnect back-off, from ...
    reconnect_max_s = 30       # ... to
    resend_after_s = 10        # resend what the broker took but never settled
    request_timeout_s = 5      # wait for an answer from the backend (reuse, progress, sign-in)
    # broker_via = "10.1.2.3:8883"  # reach the broker here, not at the bundle's address

    [printer]                  # optional: the receipt printer
    url = "usb://0416:5011"    # usb://VID:PID | serial:///dev/ttyS1?baudrate=19200 | tcp://HOST:9100

Every key may be set from the environment instead, `ALLHOURS_` then the key, with `__` between
a table and its key (`ALLHOURS_KIOSK__LANG=en`, `ALLHOURS_EMULATE=true`); the environment wins
over the file. Relative paths are taken from the file's folder. What the backend handed the
terminal at enrollment (its id, broker, certificate, pickup-code key, applicant key and the
backend's signing keys) is not a setting: it is read from `data_dir`, never from this file.

A problem stops the terminal at start with the file, the key and the reason.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cloud_bridge.contract.config_parts import RemoteKiosk, RemoteLink
from provisioning.bundle import IdentityError, TerminalIdentity

ENV_PREFIX = "ALLHOURS_"
ENV_SETTINGS_FILE = "ALLHOURS_SETTINGS"  # where `allhours kiosk` looks when not given --settings


class SettingsError(ValueError):
    """The settings cannot be used; the message names the file, the key and the reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KioskSettings(RemoteKiosk):
    """The kiosk section; a configuration bundle may change the fields of `RemoteKiosk`."""

    display: Literal["fullscreen", "windowed", "offscreen"] = "fullscreen"
    dpi: float | None = Field(default=None, ge=60, le=600)


class LinkSettings(RemoteLink):
    """How the terminal talks to its broker; the defaults suit a lobby on a bank's network.

    A configuration bundle may change the fields of `RemoteLink` (telemetry_interval_s,
    heartbeat_s)."""

    # The MQTT keep-alive: the backend takes the terminal as offline after 1.5 x this long
    # without a heartbeat (sent every third of it unless heartbeat_s says otherwise).
    keepalive_s: int = Field(default=30, ge=5, le=600)
    # Back-off between reconnect attempts, doubling from the first to the second.
    reconnect_min_s: float = Field(default=0.5, ge=0.1, le=60)
    reconnect_max_s: float = Field(default=30.0, ge=0.5, le=600)
    # A message the broker took but never settled is sent again after this long.
    resend_after_s: float = Field(default=10.0, ge=1, le=600)
    # How long a question to the backend (materials on file, progress, staff sign-in) waits.
    request_timeout_s: float = Field(default=5.0, ge=1, le=60)
    # Reach the broker at HOST:PORT instead of the enrollment bundle's address (a lobby's
    # proxy or port forward); the broker's certificate is still checked against the site CA.
    broker_via: str | None = Field(default=None, max_length=260)

    @field_validator("broker_via")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("broker_via: HOST:PORT, for example 10.1.2.3:8883")
        return value

    @model_validator(mode="after")
    def _backoff_ordered(self) -> LinkSettings:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s is more than reconnect_max_s")
        return self

    def broker(self, host: str, port: int) -> tuple[str, int]:
        """Where to connect: broker_via if set, else the bundle's host and port."""
        if self.broker_via is None:
            return host, port
        via_host, _, via_port = self.broker_via.rpartition(":")
        return via_host, int(via_port)


@dataclass(frozen=True)
class PrinterTarget:
    """Where the receipt printer is, parsed from its URL."""

    kind: Literal["usb", "serial", "tcp"]
    host: str = ""
    port: int = 9100
    device: str = ""
    baudrate: int = 9600
    vendor_id: int = 0
    product_id: int = 0


class PrinterSettings(_Section):
    url: str = Field(max_length=300)

    @field_validator("url")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_printer_url(value)
        return value

    @property
    def target(self) -> PrinterTarget:
        return parse_printer_url(self.url)


def parse_printer_url(url: str) -> PrinterTarget:
    """usb://VID:PID (hex), serial:///dev/ttyS1?baudrate=19200 or tcp://HOST[:PORT]."""
    parts = urlsplit(url)
    if parts.scheme == "tcp":
        if not parts.hostname:
            raise ValueError("tcp://HOST[:PORT] needs a host")
        return PrinterTarget("tcp", host=parts.hostname, port=parts.port or 9100)
    if parts.scheme == "serial":
        if not parts.path.startswith("/dev/"):
            raise ValueError("serial:///dev/NAME[?baudrate=N] needs a device under /dev")
        query = parse_qs(parts.query)
        unknown = set(query) - {"baudrate"}
        if unknown:
            raise ValueError(f"serial printer URL: unknown option {sorted(unknown)[0]}")
        baud = int(query.get("baudrate", ["9600"])[0])
        if baud not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200):
            raise ValueError(f"serial printer URL: {baud} is not a serial speed")
        return PrinterTarget("serial", device=parts.path, baudrate=baud)
    if parts.scheme == "usb":
        vid, sep, pid = parts.netloc.partition(":")
        try:
            ids = int(vid, 16), int(pid, 16)
        except ValueError:
            ids = (-1, -1)
        if not sep or not all(0 < i <= 0xFFFF for i in ids):
            raise ValueError("usb://VID:PID needs the vendor and product ids in hex")
        return PrinterTarget("usb", vendor_id=ids[0], product_id=ids[1])
    raise ValueError(f"printer URL {url!r}: usb://, serial:// or tcp://")


class TerminalSettings(BaseSettings):
    """What one terminal runs with, besides what its enrollment carries."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path
    emulate: bool = False
    devices: Path | None = None
    kiosk: KioskSettings = KioskSettings()
    link: LinkSettings = LinkSettings()
    printer: PrinterSettings | None = None

    @model_validator(mode="after")
    def _real_devices_named(self) -> TerminalSettings:
        if not self.emulate and self.devices is None:
            raise ValueError(
                "devices: the devices file (reader, cameras, locker) is required on a real"
                " terminal; set emulate = true only for a training or demonstration kiosk"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment over the file (given as init values); no .env or secrets folder.
        return env_settings, init_settings


@dataclass(frozen=True)
class TerminalConfig:
    """The settings, the file they came from and the enrollment they run with."""

    file: Path
    settings: TerminalSettings
    identity: TerminalIdentity


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(file)"
    env = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
    where = f" (or {env})" if error["loc"] and env in os.environ else ""
    return f"{key}{where}: {error['msg'].removeprefix('Value error, ')}"


def _absolute(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """`data_dir` and `devices` taken from the file's folder; SettingsError for a NUL in one."""
    for key in ("data_dir", "devices"):
        if isinstance(data.get(key), str):
            if "\x00" in data[key]:
                raise SettingsError(f"{path}: {key}: a path has no NUL character")
            data[key] = str((path.parent / data[key]).resolve())
    return data


def load_settings(path: str | Path) -> TerminalSettings:
    """Read and validate the file (with the environment over it); SettingsError if it fails."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: thousands of nested arrays or tables exhaust tomllib's parser.
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    try:
        return TerminalSettings(**_absolute(path, data))
    except ValidationError as exc:
        reasons = "; ".join(_describe(e) for e in exc.errors(include_url=False))
        raise SettingsError(f"{path}: {reasons}") from None


def load_terminal_config(path: str | Path, now: datetime) -> TerminalConfig:
    """The settings and the enrollment under their data_dir; SettingsError names what is wrong."""
    settings = load_settings(path)
    try:
        identity = TerminalIdentity.load(settings.data_dir, now)
    except IdentityError as exc:
        raise SettingsError(f"{path}: data_dir: {exc}") from None
    return TerminalConfig(Path(path), settings, identity)


def describe(config: TerminalConfig) -> list[str]:
    """What a terminal would run with, one line each, for `allhours config check`.

    Keys are shown by their presence and a short fingerprint, never their value.
    """
    import hashlib

    s, b = config.settings, config.identity.bundle

    def fingerprint(key: bytes) -> str:
        return "sha256:" + hashlib.sha256(key).hexdigest()[:12]

    lines = [
        f"settings file      {config.file}",
        f"mode               {'TRAINING (emulated devices)' if s.emulate else 'real devices'}",
        f"terminal id        {b.terminal_id}",
        f"data dir           {s.data_dir}",
        f"database           {s.data_dir / 'terminal.sqlite'}",
        f"broker             mqtts://{b.broker_host}:{b.broker_port}"
        + (f" via {s.link.broker_via}" if s.link.broker_via else ""),
        f"certificate until  {config.identity.not_after.isoformat()}",
        f"pickup-code key    {fingerprint(b.pickup_code_key)}",
        f"applicant key      {fingerprint(b.applicant_key)} (materials reuse, holder checks)",
        f"backend keys       {len(b.backend_signing_keys)} trusted",
        f"devices file       {s.devices if s.devices else '(emulated)'}",
        f"printer            {s.printer.url if s.printer else '(none)'}",
        f"telemetry          every {s.link.telemetry_interval_s:g} s",
        f"link               keepalive={s.link.keepalive_s}s"
        f" reconnect={s.link.reconnect_min_s:g}..{s.link.reconnect_max_s:g}s"
        f" resend={s.link.resend_after_s:g}s requests={s.link.request_timeout_s:g}s",
        f"kiosk              lang={s.kiosk.lang} large={s.kiosk.large} display={s.kiosk.display}"
        f" idle={s.kiosk.idle_timeout_s:g}+{s.kiosk.idle_warning_s:g}s"
        f" dpi={s.kiosk.dpi if s.kiosk.dpi else 'default'} speech={s.kiosk.speech}",
    ]
    return lines
