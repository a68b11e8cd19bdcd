"""A pcscd with the vpcd reader for tests and demos: reuse a running one, else start our own.

Only one pcscd can run on a machine (its socket is /run/pcscd/pcscd.comm) and vpcd holds
one card at a time, so a `PcscdHost` takes an exclusive fcntl lock for as long as it is
started; a second user on the same machine waits for it. A pcscd that already runs and
lists the vpcd reader is reused and left running; one we started (`pcscd -f`, a plain
child process) is stopped by `stop()`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
DEFAULT_LOCK = Path(tempfile.gettempdir()) / "allhours-pcsc.lock"
VPCD_READER_PREFIX = "Virtual PCD"


class PcscdUnavailable(RuntimeError):
    """pcscd with the vpcd reader could not be brought up; the message says why."""


def list_readers() -> list[str] | None:
    """Reader names from pcscd, or None when no pcscd answers."""
    from smartcard.Exceptions import SmartcardException
    from smartcard.scard import (
        SCARD_S_SUCCESS,
        SCARD_SCOPE_USER,
        SCardEstablishContext,
        SCardListReaders,
        SCardReleaseContext,
    )

    try:
        rv, context = SCardEstablishContext(SCARD_SCOPE_USER)
    except SmartcardException:
        return None
    if rv != SCARD_S_SUCCESS:
        return None
    try:
        rv, names = SCardListReaders(context, [])
        return list(names) if rv == SCARD_S_SUCCESS else []
    finally:
        SCardReleaseContext(context)


class PcscdHost:
    """Ensures a pcscd with the vpcd reader runs while started; `.start()` / `.stop()`."""

    def __init__(
        self,
        *,
        lock_path: Path = DEFAULT_LOCK,
        pcscd: str = "pcscd",
        lock_timeout_s: float = 900.0,
        start_timeout_s: float = 15.0,
    ):
        self.lock_path = Path(lock_path)
        self.pcscd = pcscd
        self.lock_timeout_s = lock_timeout_s
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.reused = False
        self.reader_name: str | None = None
        self._lock_fd: int | None = None
        self._log: Path | None = None

    def start(self) -> PcscdHost:
        """Take the machine-wide lock, then find or start pcscd and wait for the vpcd reader."""
        self._acquire_lock()
        try:
            names = list_readers()
            if names is not None:
                vpcd = [n for n in names if n.startswith(VPCD_READER_PREFIX)]
                if not vpcd:
                    raise PcscdUnavailable(
                        "a pcscd is running without the vpcd reader "
                        f"(readers: {names or 'none'}); install vsmartcard-vpcd and restart it"
                    )
                self.reused, self.reader_name = True, vpcd[0]
                return self
            self._spawn()
            self.reader_name = self._wait_for_reader()
            return self
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the pcscd we started (if any) and release the lock."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> PcscdHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        """The end of our pcscd's log, for error reports."""
        if self._log is None or not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def _acquire_lock(self) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise PcscdUnavailable(
                        f"{self.lock_path} stayed locked for {self.lock_timeout_s:.0f} s: "
                        "another user of pcscd+vpcd is still running"
                    ) from None
                time.sleep(0.2)
        self._lock_fd = fd

    def _spawn(self) -> None:
        binary = shutil.which(self.pcscd) or (
            "/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None
        )
        if binary is None:
            raise PcscdUnavailable("pcscd is not installed (Debian package pcscd)")
        if not Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so").exists():
            raise PcscdUnavailable("the vpcd driver is not installed (vsmartcard-vpcd)")
        # A socket left by a pcscd that died uncleanly makes the new one refuse to start.
        with contextlib.suppress(FileNotFoundError):
            if not _socket_answers(PCSCD_SOCKET):
                PCSCD_SOCKET.unlink()
        log_fd, log_name = tempfile.mkstemp(prefix="allhours-pcscd-", suffix=".log")
        self._log = Path(log_name)
        try:
            self.process = subprocess.Popen(
                [binary, "--foreground", "--info"],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
            )
        finally:
            os.close(log_fd)

    def _wait_for_reader(self) -> str:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise PcscdUnavailable(
                    f"pcscd exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            names = list_readers() or []
            vpcd = [n for n in names if n.startswith(VPCD_READER_PREFIX)]
            if vpcd:
                return vpcd[0]
            time.sleep(0.05)
        raise PcscdUnavailable(f"pcscd did not list the vpcd reader in time:\n{self.log_tail()}")


def _socket_answers(path: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True
