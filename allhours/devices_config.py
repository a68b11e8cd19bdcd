"""A terminal's real devices from one TOML file: identity reader, cameras, locker boards.

    [identity]
    kind = "cnid"                 # resident ID card reader (GA/T 467 over serial) | "emrtd"
    port = "/dev/ttyUSB0"         # cnid: the reader's serial port
    baudrate = 115200             # cnid, optional
    wlt_decoder = "entry-point:vendor"   # cnid, optional: the vendor's WLT photo decoder
    reader = "ACS ACR1252 ..."    # emrtd, optional: PC/SC reader name (default: first with a card)
    master_lists = ["/etc/allhours/csca/ICAO_ml.ml"]   # emrtd: CSCA master lists (CMS); without
                                  #   them the kiosk starts but refuses every passport
    crls = ["/etc/allhours/csca/CHN.crl"]              # emrtd, optional: CSCA CRLs (DER or PEM)

    [identity.remote_verify]      # optional: matches faces for cards read without a photo
    url = "https://verify.example.gov.cn"
    api_key_file = "/etc/allhours/verify.key"
    ca_file = "/etc/allhours/verify-ca.pem"   # optional, else the system's trust store

    [face_camera]                 # the camera above the screen
    device = 0                    # V4L2 index, a device path, or a network camera's stream URL
    width = 1280                  #   ("http://10.0.0.20/stream.mjpg", "rtsp://...")
    height = 720
    fps = 15
    user = "kiosk"                # network camera, optional: its HTTP/RTSP account
    password_file = "/etc/allhours/camera.pass"   # with user: the password, never in this file

    [document_camera]             # the document camera (高拍仪)
    device = 1
    width = 3264
    height = 2448

    [removable_media]             # optional: USB sticks citizens import files from
    roots = ["/media", "/run/media"]     # where the system mounts them (read-only, noexec)
    mounts_file = "/proc/self/mounts"    # optional

    locker = "/etc/allhours/locker.toml"   # boards and compartments (docs/locker.md)

Every problem is reported at start-up with the file and key, before a citizen is served.
Devices are opened here, so a missing camera stops the kiosk with a clear message instead of
failing in front of a citizen.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from devices.camera.port import CameraError
from face.sequence import ImageFaceVerifier
from locker.attempts import AttemptPolicy
from locker.config import LockerConfigError, SupervisionSettings, load_locker_config
from locker.layout import CompartmentSpec
from terminal.node import TerminalDevices

from .wiring import build_boards

log = logging.getLogger(__name__)


class DevicesConfigError(ValueError):
    """The devices file is invalid or names a device that cannot be used."""


@dataclass
class ConfiguredDevices:
    devices: TerminalDevices
    layout: list[CompartmentSpec]
    supervision: SupervisionSettings
    keypad: AttemptPolicy = field(default_factory=AttemptPolicy)


def load_devices(path: str | Path) -> ConfiguredDevices:
    """Read the file and build every device it names; DevicesConfigError says what is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DevicesConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: thousands of nested arrays or tables exhaust tomllib's parser.
        raise DevicesConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return _build(data, path.parent)
    except DevicesConfigError as exc:
        raise DevicesConfigError(f"{path}: {exc}") from None


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise DevicesConfigError(f"[{key}] is missing")
    return value


def _build(data: dict[str, Any], base: Path) -> ConfiguredDevices:
    known = {"identity", "face_camera", "document_camera", "locker", "removable_media"}
    unknown = set(data) - known
    if unknown:
        raise DevicesConfigError(f"unknown keys: {', '.join(sorted(unknown))}")
    reader, remote = _identity(_table(data, "identity"), base)
    locker_path = data.get("locker")
    if not isinstance(locker_path, str):
        raise DevicesConfigError("locker: the path of the locker configuration is missing")
    try:
        locker = load_locker_config(base / locker_path)
    except LockerConfigError as exc:
        raise DevicesConfigError(f"locker: {exc}") from None
    face_camera = _camera(_table(data, "face_camera"), "face_camera", (1280, 720), base)
    document_camera = _camera(
        _table(data, "document_camera"), "document_camera", (3264, 2448), base
    )
    devices = TerminalDevices(
        lock=build_boards(locker),
        identity_reader=reader,
        face_verifier=ImageFaceVerifier(),
        face_camera=face_camera,
        document_camera=lambda _title, _pages: document_camera,
        document_camera_diagnostics=document_camera.diagnostics,
        live_face_check=True,
        remote_verifier=remote,
        removable_media=_removable_media(data.get("removable_media", {})),
    )
    return ConfiguredDevices(devices, list(locker.compartments), locker.supervision, locker.keypad)


def _identity(table: dict[str, Any], base: Path):
    kind = table.get("kind")
    if kind == "cnid":
        from devices.identity.cnid.reader import CnIdReader
        from devices.identity.cnid.wlt import load_wlt_decoder

        port = table.get("port")
        if not isinstance(port, str):
            raise DevicesConfigError("identity.port: the reader's serial port is missing")
        try:
            decoder = load_wlt_decoder(table.get("wlt_decoder"))
        except Exception as exc:
            raise DevicesConfigError(f"identity.wlt_decoder: {exc}") from None
        reader = CnIdReader(
            port, baudrate=int(table.get("baudrate", 115200)), photo_decoder=decoder
        )
    elif kind == "emrtd":
        from devices.identity.emrtd.reader import EmrtdReader

        reader = EmrtdReader(table.get("reader"), trust=_trust(table, base))
    else:
        raise DevicesConfigError(f'identity.kind: "cnid" or "emrtd", not {kind!r}')
    remote = None
    if isinstance(table.get("remote_verify"), dict):
        remote = _remote(table["remote_verify"], base)
    return reader, remote


def _trust(table: dict[str, Any], base: Path):
    """The CSCAs a passport's document signer must chain to for `issuer_verified`.

    The kiosk takes a passport as identity only at `issuer_verified`
    (terminal.flows.identity.travel_document_refusal). Without master lists no read gets there:
    the kiosk still starts (the service guide, progress queries and pickups by code need no
    document), and the start-up log says once that this terminal cannot accept passports.
    """
    from devices.identity.emrtd.trust import TrustConfigError, TrustStore, load_crl

    paths = {}
    for key in ("master_lists", "crls"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DevicesConfigError(f"identity.{key}: a list of file paths is required")
        paths[key] = [base / v for v in value]
    if not paths["master_lists"]:
        if paths["crls"]:
            raise DevicesConfigError(
                "identity.crls: CRLs need the master_lists whose CSCA signed them"
            )
        log.warning(
            "identity: no CSCA master list configured (identity.master_lists): this terminal "
            "cannot accept passports; every passport is refused for identity"
        )
        return None
    try:
        store = TrustStore.from_files(paths["master_lists"])
    except TrustConfigError as exc:
        raise DevicesConfigError(f"identity.master_lists: {exc}") from None
    for crl in paths["crls"]:
        try:
            store.add_crl(load_crl(crl.read_bytes(), str(crl)), str(crl))
        except (OSError, TrustConfigError) as exc:
            raise DevicesConfigError(f"identity.crls: {exc}") from None
    log.info(
        "identity: %d CSCA(s) from %d master list(s), %d CRL(s): a passport is accepted only "
        "when its document signer chains to one of them",
        len(store.cscas),
        len(paths["master_lists"]),
        len(store.crls),
    )
    return store


def _remote(table: dict[str, Any], base: Path):
    from devices.identity.remote_verify.http_adapter import HttpRemoteVerifier

    url, key_file = table.get("url"), table.get("api_key_file")
    if not isinstance(url, str) or not isinstance(key_file, str):
        raise DevicesConfigError("identity.remote_verify: url and api_key_file are required")
    try:
        api_key = (base / key_file).read_text().strip()
    except OSError as exc:
        raise DevicesConfigError(f"identity.remote_verify.api_key_file: {exc}") from None
    ca = table.get("ca_file")
    return HttpRemoteVerifier(url, api_key=api_key, verify=str(base / ca) if ca else True)


def _removable_media(table: object):
    from devices.storage.mount_table import DEFAULT_ROOTS, MountTableMedia

    if not isinstance(table, dict) or set(table) - {"roots", "mounts_file"}:
        raise DevicesConfigError("[removable_media]: only roots and mounts_file may be set")
    roots = table.get("roots", list(DEFAULT_ROOTS))
    mounts_file = table.get("mounts_file", "/proc/self/mounts")
    if not isinstance(roots, list) or not roots or not all(isinstance(r, str) for r in roots):
        raise DevicesConfigError("removable_media.roots: a list of absolute paths is required")
    if not isinstance(mounts_file, str):
        raise DevicesConfigError("removable_media.mounts_file: a path is required")
    try:
        return MountTableMedia(mounts_file, roots)
    except ValueError as exc:
        raise DevicesConfigError(f"removable_media.roots: {exc}") from None


def _with_credentials(table: dict[str, Any], name: str, device: int | str, base: Path):
    """A network camera's URL with its account, the password read from its own file."""
    user, password_file = table.get("user"), table.get("password_file")
    if user is None and password_file is None:
        return device
    if not isinstance(device, str) or not device.startswith(("http://", "https://", "rtsp://")):
        raise DevicesConfigError(
            f"{name}.user: only a network camera (a stream URL) has an account"
        )
    if not isinstance(user, str) or not isinstance(password_file, str) or not user:
        raise DevicesConfigError(f"{name}: user and password_file go together")
    if ":" in user or "@" in user or "/" in user:
        raise DevicesConfigError(f"{name}.user: no ':', '@' or '/' in a camera account name")
    try:
        password = (base / password_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DevicesConfigError(f"{name}.password_file: {exc}") from None
    parts = urlsplit(device)
    if parts.username is not None:
        raise DevicesConfigError(f"{name}.device: the account goes in user, not in the URL")
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def _camera(table: dict[str, Any], name: str, size: tuple[int, int], base: Path):
    from devices.camera.opencv import OpenCvCamera

    device = table.get("device")
    if not isinstance(device, int | str):
        raise DevicesConfigError(
            f"{name}.device: a V4L2 index, a device path or a stream URL is required"
        )
    device = _with_credentials(table, name, device, base)
    try:
        return OpenCvCamera(
            device,
            width=int(table.get("width", size[0])),
            height=int(table.get("height", size[1])),
            fps=float(table.get("fps", 15)),
        )
    except CameraError as exc:
        raise DevicesConfigError(f"{name}: {exc}") from None
