"""A private Mosquitto on loopback, with a configuration generated for one run.

Tests and `allhours demo` start their own broker so that nothing depends on a system service.
The same directory can be started again (same port, same persistence file), which is how the
suite takes the broker down and brings it back mid-story.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto")


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


class PrivateMosquitto:
    """One Mosquitto process bound to 127.0.0.1, owned by its caller."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, port: int | None = None, *, max_queued: int = 1_000_000):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.max_queued = max_queued
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"

    def _data_dir(self) -> Path:
        """Where Mosquitto keeps its persistence file.

        Run as root, Mosquitto drops to user `mosquitto`, which cannot enter a 0700 directory
        such as pytest's tmp_path. Its data then lives in a directory of its own under the
        system temp dir, named after the workdir so that a restart finds the same file.
        """
        if os.geteuid() != 0 or _reachable_by("mosquitto", self.workdir):
            return self.workdir
        tag = hashlib.sha256(str(self.workdir.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"allhours-mosquitto-{tag}"

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        data = self._data_dir()
        data.mkdir(mode=0o700, exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {data}/",
            "autosave_interval 1",
            # The default of 1000 silently drops messages for an offline persistent session.
            f"max_queued_messages {self.max_queued}",
            "max_inflight_messages 0",
            "persistent_client_expiration 14d",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            lines.append("user mosquitto")
            with contextlib.suppress(KeyError, PermissionError, LookupError):
                shutil.chown(data, user="mosquitto")
                for child in data.iterdir():
                    shutil.chown(child, user="mosquitto")
        self.config_path.write_text("\n".join(lines) + "\n")

    def remove_data(self) -> None:
        """Delete the persistence directory if it lives outside the workdir (stopped broker)."""
        data = self._data_dir()
        if data != self.workdir and not self.running():
            shutil.rmtree(data, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with {self.proc.returncode}: {self.tail_log()}"
                )
            if port_open(self.host, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.port} within {timeout}s")

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop the broker: SIGTERM saves its persistence file; kill=True is a crash."""
        proc, self.proc = self.proc, None
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
