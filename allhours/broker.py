"""A private Mosquitto with mutual TLS, with a configuration generated for one run.

Tests and `allhours demo` start their own broker so that nothing depends on a system service.
The same directory can be started again (same port, same persistence file), which is how the
suite takes the broker down and brings it back mid-story.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from cloud_bridge.contract.messages import MAX_MESSAGE_BYTES
from provisioning import pki
from provisioning.authority import TERMINAL, SiteAuthority
from provisioning.tls import ClientTls, write_private

log = logging.getLogger(__name__)

DYNSEC_GLOB = "/usr/lib/*/mosquitto_dynamic_security.so"
MAX_PACKET_BYTES = 2 * MAX_MESSAGE_BYTES + 4096
# The CRL is signed for 30 days (provisioning/pki.py): past that OpenSSL refuses every client,
# terminals, workers and the control session alike. A running broker has it signed afresh each
# day; an enrollment or a revocation does too, but a quiet site has neither for weeks.
CRL_REFRESH = timedelta(days=1)
MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto")
# In the workdir of a broker run as root whose data lives outside it: that directory's path.
DATA_DIR_RECORD = "mosquitto-data-dir"
DATA_DIR_PREFIX = "allhours-mosquitto-"
# TLS 1.2 with forward secrecy and an AEAD cipher only: no CBC suites (SHA-1 MACs, padding
# oracles). TLS 1.3 has AEAD suites only, and its own setting (`ciphers_tls1.3`).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


class BrokerError(RuntimeError):
    """The private broker could not be started."""


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or BrokerError naming the install step."""
    found = shutil.which("mosquitto") or next(
        (p for p in MOSQUITTO_CANDIDATES if os.access(p, os.X_OK)), None
    )
    if not found:
        raise BrokerError(
            "mosquitto is not installed: run `make install` (apt-get install mosquitto)"
        )
    return found


def find_dynsec_plugin() -> str:
    """Path of Mosquitto's dynamic-security plugin, or BrokerError naming the install step."""
    import glob

    found = sorted(glob.glob(DYNSEC_GLOB))
    if not found:
        raise BrokerError("mosquitto_dynamic_security.so not found: run `make install`")
    return found[0]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _reachable_by(user: str, path: Path) -> bool:
    """Whether `user` (not root) can traverse to and write `path`, judged by mode bits."""
    import pwd

    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return True
    current = path.resolve()
    for parent in [*reversed(current.parents)]:
        st = parent.stat()
        if st.st_uid == pw.pw_uid:
            continue
        bit = 0o010 if st.st_gid == pw.pw_gid else 0o001
        if not st.st_mode & bit:
            return False
    return True


def _only_root_can_rename_in(directory: Path) -> bool:
    """Whether only root can replace an entry of `directory` or of a directory above it: each is
    root's and writable by no one else or sticky (as /tmp), and none is a symbolic link."""
    directory = Path(directory)
    try:
        if not directory.is_absolute() or directory.resolve(strict=True) != directory:
            return False
        for d in (directory, *directory.parents):
            st = os.lstat(d)
            if st.st_uid != 0 or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
                return False
    except OSError:
        return False
    return True


def _private_dir(path: Path, owner: int) -> bool:
    """Whether `path` is a real directory (not a link) of root or `owner`, closed to everyone
    else, in a directory only root can replace it in: no other user made it or can reach it."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and st.st_uid in (0, owner)
        and not st.st_mode & 0o077
        and _only_root_can_rename_in(Path(path).parent)
    )


def _give_to(user: str, directory: Path) -> None:
    """Make `directory` and everything in it `user`'s without following a symbolic link: a link
    in it changes owner itself, never what it points at (os.fwalk opens each directory it enters
    by file descriptor, so a directory swapped for a link is not entered either)."""
    import pwd

    uid = pwd.getpwnam(user).pw_uid
    os.chown(directory, uid, -1, follow_symlinks=False)
    for _, dirs, files, dir_fd in os.fwalk(directory, follow_symlinks=False):
        for name in (*dirs, *files):
            os.chown(name, uid, -1, dir_fd=dir_fd, follow_symlinks=False)


def _uid_of(user: str) -> int:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return -1


class PrivateMosquitto:
    """One Mosquitto process with one mutual-TLS listener, owned by its caller.

    It admits only certificates of the site CA (`authority`), takes the certificate's CN as the
    username and the client id, and applies the ACL and CRL the authority writes. There is no
    plain listener at all.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        authority: SiteAuthority,
        port: int | None = None,
        *,
        bind: str = "127.0.0.1",
        server_names: tuple[str, ...] = (),
        max_queued: int = 1_000_000,
        name: str = "site",
        crl_refresh: timedelta = CRL_REFRESH,
    ):
        self.workdir = Path(workdir).resolve()
        self.authority = authority
        self.port = port or free_port()
        self.bind = bind
        self.server_names = ("127.0.0.1", "localhost", *server_names)
        self.max_queued = max_queued
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.pid_file = self.workdir / "mosquitto.pid"
        self.crl_refresh = crl_refresh
        self._stopping = threading.Event()
        self._refresher: threading.Thread | None = None
        self._outside: Path | None = None

    def _data_dir(self) -> Path:
        """Where Mosquitto keeps its persistence file, TLS material, ACL and CRL.

        Run as root, Mosquitto drops to user `mosquitto`, which cannot enter a 0700 directory
        such as pytest's tmp_path, and which re-reads certificates, ACL and CRL on SIGHUP. They
        then live in a directory of its own under the system temp dir, made afresh by mkdtemp
        (a random name, 0700: never one another user made first, as a name derived from the
        workdir was) and recorded in the workdir, so that a restart finds the same files. A
        recorded directory that is no longer private to root and mosquitto is left alone and
        a fresh one made.
        """
        if os.geteuid() != 0 or _reachable_by("mosquitto", self.workdir):
            return self.workdir
        if self._outside is None:
            self._outside = self._recorded_data_dir() or self._new_data_dir()
        return self._outside

    def _recorded_data_dir(self) -> Path | None:
        """The data directory an earlier start made, if it is still private to the broker."""
        try:
            recorded = Path((self.workdir / DATA_DIR_RECORD).read_text().strip())
        except (OSError, UnicodeDecodeError):
            return None
        if not os.path.lexists(recorded):
            return None
        made_here = recorded.parent == Path(tempfile.gettempdir()).resolve()
        ours = made_here and recorded.name.startswith(DATA_DIR_PREFIX)
        if ours and _private_dir(recorded, _uid_of("mosquitto")):
            return recorded
        log.warning(
            "broker %s: %s is not a data directory of root and mosquitto under %s; not used",
            self.name,
            recorded,
            tempfile.gettempdir(),
        )
        return None

    def _new_data_dir(self) -> Path:
        parent = Path(tempfile.gettempdir()).resolve()
        if not _only_root_can_rename_in(parent):
            raise BrokerError(
                f"{parent}: users other than root could replace the broker's data directory"
                " there; set TMPDIR to a directory only root can write"
            )
        fresh = Path(tempfile.mkdtemp(prefix=DATA_DIR_PREFIX, dir=parent))
        write_private(self.workdir / DATA_DIR_RECORD, f"{fresh}\n".encode())
        return fresh

    @property
    def tls_dir(self) -> Path:
        return self._data_dir() / "tls"

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._outside = None  # checked again at each start
        data = self._data_dir()
        if self.tls_dir.is_symlink():
            raise BrokerError(f"{self.tls_dir} is a symbolic link; the broker's keys go there")
        server = ClientTls.in_dir(self.tls_dir)
        if not server.cert_file.exists():
            self.authority.issue_server("broker", self.tls_dir, self.server_names)
        self.authority.write_broker_files(data, access=True)
        lines = [
            "per_listener_settings false",
            "allow_anonymous false",
            # Without it, delayed ACKs hold TLS handshakes and small QoS 1 flows by ~40 ms
            # (benchmarks/tls_cost.py: a TLS connect took 55 ms, 10 ms with it).
            "set_tcp_nodelay true",
            f"plugin {find_dynsec_plugin()}",
            f"plugin_opt_config_file {data / 'dynsec.json'}",
            # Big enough for the largest contract message (a blob chunk) with its topic.
            f"max_packet_size {MAX_PACKET_BYTES}",
            f"listener {self.port} {self.bind}",
            f"cafile {server.ca_file}",
            f"certfile {server.cert_file}",
            f"keyfile {server.key_file}",
            f"crlfile {data / 'crl.pem'}",
            "require_certificate true",
            "use_identity_as_username true",
            # A certificate can only ever connect as itself: no client can take another's id.
            "use_username_as_clientid true",
            "tls_version tlsv1.2",
            f"ciphers {TLS12_CIPHERS}",
            # A retained message is handed out only while its publisher may still publish there:
            # none of a revoked terminal's, none kept from a grant since narrowed.
            "check_retain_source true",
            "persistence true",
            f"persistence_location {data}/",
            "autosave_interval 1",
            # The default of 1000 silently drops messages for an offline persistent session.
            f"max_queued_messages {self.max_queued}",
            "max_inflight_messages 0",
            # No memory_limit: Mosquitto 2.0.11 counts memory it has freed as still in use (the
            # MQTT 5 properties of every publish; admitting 400 terminals counted over 1 GiB at
            # 19 MiB resident), so it would refuse every client of a healthy broker. The retained
            # store is bounded by the ACL instead: one message per upstream topic of each terminal
            # (provisioning/broker_access.py).
            "persistent_client_expiration 14d",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            lines.append("user mosquitto")
            with contextlib.suppress(KeyError, PermissionError, LookupError):
                _give_to("mosquitto", data)
        self.config_path.write_text("\n".join(lines) + "\n")

    def client_tls(self, cn: str, role: str = TERMINAL) -> ClientTls:
        """Certificate files for a client `cn` of this site, admitted at the broker at once.

        A terminal goes through the token flow: a one-time token, a key made on its side, a CSR
        spent against the token (what the HTTPS endpoint does, without the transport). A
        terminal asked for again renews with the certificate it was given here, as it would
        before expiry: the earlier one stays valid and its connection lasts (a re-enrollment
        would end both). A backend worker's certificate is issued directly, as the backend
        host does for itself.
        """
        directory = self.workdir / "identities" / cn
        if role == TERMINAL:
            key = pki.new_key()
            files = ClientTls.in_dir(directory)
            held = pki.load_cert(files.cert_file.read_bytes()) if files.cert_file.exists() else None
            if held is not None and self.authority.is_active_certificate(held):
                cert = self.authority.renew(held, pki.make_csr(key, cn))
            else:
                token = self.authority.issue_token(cn, created_by="test set-up")
                cert, _ = self.authority.enroll(str(token), pki.make_csr(key, cn))
            write_private(files.key_file, pki.key_pem(key))
            write_private(files.cert_file, pki.cert_pem(cert), mode=0o644)
            write_private(files.ca_file, self.authority.ca_pem, mode=0o644)
        else:
            files = self.authority.issue_identity(cn, role, directory)
        self.authority.publish()
        return files

    def remove_data(self) -> None:
        """Delete the persistence directory if it lives outside the workdir (stopped broker)."""
        if self.running() or os.geteuid() != 0 or _reachable_by("mosquitto", self.workdir):
            return
        data = self._outside or self._recorded_data_dir()
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)
        (self.workdir / DATA_DIR_RECORD).unlink(missing_ok=True)
        self._outside = None

    @property
    def url(self) -> str:
        return f"mqtts://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> PrivateMosquitto:
        """Start the broker and wait until it accepts connections."""
        if self.proc and self.proc.poll() is None:
            return self
        binary = find_mosquitto()
        self._write_config()
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.config_path)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.pid_file.write_text(f"{self.proc.pid}\n")
        self.authority.register_broker(
            self.name, self._data_dir(), self.pid_file, self.host, self.port
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with {self.proc.returncode}: {self.tail_log()}"
                )
            if port_open(self.host, self.port):
                self._start_refresher()
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.port} within {timeout}s")

    def refresh_crl(self) -> None:
        """Sign the CRL afresh and have Mosquitto read it (SIGHUP)."""
        self.authority.write_broker_files(self._data_dir(), access=False)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGHUP)

    def _start_refresher(self) -> None:
        self._stopping.clear()
        self._refresher = threading.Thread(
            target=self._refresh_crl_daily, name=f"crl-{self.name}", daemon=True
        )
        self._refresher.start()

    def _refresh_crl_daily(self) -> None:
        while not self._stopping.wait(self.crl_refresh.total_seconds()):
            try:
                self.refresh_crl()
            except OSError as exc:  # tried again at the next turn, with weeks to spare
                log.error("broker %s: the CRL could not be renewed: %s", self.name, exc)
            else:
                log.info("broker %s: CRL renewed", self.name)

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop the broker: SIGTERM saves its persistence file; kill=True is a crash."""
        self._stopping.set()
        if self._refresher is not None:
            self._refresher.join(timeout)
            self._refresher = None
        proc, self.proc = self.proc, None
        self.authority.unregister_broker(self.name)
        self.pid_file.unlink(missing_ok=True)
        if not proc or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while port_open(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def running(self) -> bool:
        return bool(self.proc and self.proc.poll() is None)

    def tail_log(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> PrivateMosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
