"""Builds a terminal from its settings: the one place `allhours kiosk` gets its parts from.

    settings file + environment ──► TerminalSettings ─┐
    data_dir/identity (enrollment) ─► TerminalIdentity ─┴► build_terminal ─► Terminal
                                                             │
                            emulate = false: devices file ───┤  load_devices (reader, cameras,
                                                             │  locker boards, USB media)
                            emulate = true: EmulatedDevices ─┤  (training mode, on screen)
                            [printer] url ───────────────────┘  open_printer (USB/serial/TCP)

Every key the enrollment bundle carries goes into the node on both paths: the pickup-code key,
the applicant key (materials reuse, identity-checked pickups), the backend's signing keys, the
certificate and its renewal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cloud_bridge.contract.messages import utcnow
from cloud_bridge.link import LinkSettings
from devices.printer.port import ReceiptPrinter
from locker.layout import default_layout
from provisioning.bundle import IdentityError, TerminalIdentity
from provisioning.renewal import CertificateRenewal
from terminal.node import TerminalNode

from .settings import LinkSettings as LinkSection
from .settings import PrinterTarget, SettingsError, TerminalConfig, TerminalSettings
from .wiring import EmulatedDevices

log = logging.getLogger(__name__)


@dataclass
class Terminal:
    """A built terminal: its node (not yet started) and, in training, its emulated devices."""

    config: TerminalConfig
    node: TerminalNode
    emulated: EmulatedDevices | None

    @property
    def training(self) -> bool:
        return self.emulated is not None

    @property
    def printer(self) -> ReceiptPrinter | None:
        return self.node.devices.printer

    def close(self) -> None:
        """Stop the node and release the printer."""
        self.node.stop()
        _close(self.printer)


def _close(printer: ReceiptPrinter | None) -> None:
    close = getattr(printer, "close", None)  # not part of the port: the ESC/POS driver has it
    if close is not None:
        close()


def open_printer(target: PrinterTarget) -> ReceiptPrinter:
    """The ESC/POS driver for a printer URL; it connects on first use."""
    from devices.printer.escpos_printer import EscposReceiptPrinter

    if target.kind == "tcp":
        return EscposReceiptPrinter.network(target.host, target.port)
    if target.kind == "serial":
        return EscposReceiptPrinter.serial(target.device, baudrate=target.baudrate)
    return EscposReceiptPrinter.usb(target.vendor_id, target.product_id)


def build_terminal(
    config: TerminalConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
    emulated: EmulatedDevices | None = None,
) -> Terminal:
    """The terminal the settings describe; SettingsError (naming the key) if a part fails.

    `emulated` picks the emulated device set in training mode (default: a live person in
    front of the face camera and a USB stick in the port, as the demo shows).
    """
    s, identity = config.settings, config.identity
    bundle = identity.bundle
    host, port = s.link.broker(bundle.broker_host, bundle.broker_port)
    link = LinkSettings(
        host=host,
        port=port,
        tls=identity.tls,
        backend_keys=bundle.backend_signing_keys,
        renewal=CertificateRenewal(s.data_dir, clock),
        telemetry_interval_s=s.link.telemetry_interval_s,
        keepalive=s.link.keepalive_s,
        heartbeat_s=s.link.heartbeat_s,
        reconnect_min_s=s.link.reconnect_min_s,
        reconnect_max_s=s.link.reconnect_max_s,
        resend_after_s=s.link.resend_after_s,
    )
    printer = open_printer(s.printer.target) if s.printer else None
    if s.emulate:
        log.warning("TRAINING MODE: emulated devices; nothing here serves a real citizen")
        devices = emulated or EmulatedDevices.with_live_face()
        node = TerminalNode(
            bundle.terminal_id,
            s.data_dir,
            replace(devices.terminal_devices(), printer=printer),
            devices.layout or default_layout(sensed=True),
            pickup_code_key=bundle.pickup_code_key,
            link=link,
            clock=clock,
            supervision=devices.supervision,
            applicant_key=bundle.applicant_key,  # the fleet's key for materials on file
            request_timeout_s=s.link.request_timeout_s,
        )
        return Terminal(config, node, devices)

    from .devices_config import DevicesConfigError, load_devices

    assert s.devices is not None  # TerminalSettings requires it unless emulate
    try:
        configured = load_devices(s.devices)
    except DevicesConfigError as exc:
        _close(printer)  # never connected: the drivers connect on first use
        raise SettingsError(f"{config.file}: devices: {exc}") from None
    node = TerminalNode(
        bundle.terminal_id,
        s.data_dir,
        replace(configured.devices, printer=printer),
        configured.layout,
        pickup_code_key=bundle.pickup_code_key,
        link=link,
        clock=clock,
        supervision=configured.supervision,
        keypad=configured.keypad,
        applicant_key=bundle.applicant_key,
        request_timeout_s=s.link.request_timeout_s,
    )
    return Terminal(config, node, None)


def training_terminal(
    data_dir: Path,
    *,
    devices: EmulatedDevices | None = None,
    clock: Callable[[], datetime] = utcnow,
    link: LinkSection | None = None,
) -> Terminal:
    """The terminal that `emulate = true` settings naming `data_dir` build, without a file.

    For the screenshots, tests and benchmarks: the same build as a training kiosk, on the
    enrollment in `data_dir` (loaded against the real time, as at a kiosk's start), with the
    file's `[link]` table as `link`. SettingsError if `data_dir` holds no usable enrollment.
    """
    settings = TerminalSettings(data_dir=Path(data_dir), emulate=True, link=link or LinkSection())
    try:
        identity = TerminalIdentity.load(settings.data_dir, utcnow())
    except IdentityError as exc:
        raise SettingsError(f"{data_dir}: {exc}") from None
    config = TerminalConfig(settings.data_dir, settings, identity)
    return build_terminal(config, clock=clock, emulated=devices or EmulatedDevices())
