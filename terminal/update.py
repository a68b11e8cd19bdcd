"""Software updates on the terminal: two installed versions, switch, check, fall back.

    /opt/allhours/
        releases/0.1.0/        one installed version each (its own .venv and code)
        releases/0.2.0/
        current -> releases/0.2.0     what the kiosk unit runs
        previous -> releases/0.1.0    what a failed check falls back to
        update-state.json             the change under way, so a crash or power cut mid-update
                                      is finished or undone at the next boot

An update installs the new release beside the running one (unpacked to a temporary name,
checked against its SHA-256, then renamed, so a half-unpacked release never has a version's
name), points `current` at it with one atomic rename, restarts the kiosk, and waits for the new
version's health report (terminal/update_health.py). A version that does not report healthy in
time is switched back: `current` returns to the previous version, the kiosk restarts, and the
outcome names the reason. The failed version is remembered and refused until it is installed
again. Only two versions stay installed.

The switch runs as root in `allhours-update.service`, started by a path unit when the kiosk
(unprivileged) drops a verified request; see docs/deploy-terminal.md.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cloud_bridge.contract.messages.commands import MAX_ARCHIVE_BYTES
from terminal.update_health import Verdict, wait_healthy

log = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}$")
STATE_FILE = "update-state.json"
MAX_RELEASE_BYTES = 2 * 1024**3  # an unpacked release larger than this is refused


class UpdateError(Exception):
    """The update cannot start (bad version, bad archive, nothing to fall back to)."""


@dataclass
class Outcome:
    """What an update or a rollback ended in; travels back to the backend."""

    ok: bool
    running: str | None  # the version the kiosk runs now
    attempted: str
    detail: str
    rolled_back: bool = False
    at: float = field(default_factory=time.time)


def _atomic_symlink(target: str, link: Path) -> None:
    tmp = link.with_name(f".{link.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_version(version: str) -> str:
    if not VERSION_RE.fullmatch(version):
        raise UpdateError(f"bad version name {version!r}")
    return version


class HeldDirectory:
    """A directory the kiosk's user owns, opened once, not through a symbolic link, and used by
    its descriptor from then on: renaming it away or putting a link in its place after that
    changes nothing of what root reads, writes or removes there. Opened by path, every later
    step would resolve the path again, and a link put in its place sent root's writes, removals
    and reads into any directory."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def holds(self, name: Path) -> bool:
        """Whether `name` names an entry right in this directory (as written, not resolved)."""
        return name.parent == self.path and name.name not in ("", ".", "..")

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> HeldDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_archive(archive: Path, version: str, only_in: HeldDirectory | None) -> int:
    """The archive open for reading, or UpdateError saying why it is refused."""
    what = f"archive of {version}"
    try:
        if only_in is None:  # an operator's own path, as root: followed as given
            fd = os.open(archive, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        else:
            fd = _open_in(archive, only_in, what)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        if getattr(exc, "errno", None) == errno.ELOOP and only_in is not None:
            raise UpdateError(f"{what}: {archive} is a symbolic link") from exc
        why = getattr(exc, "strerror", None) or str(exc)
        raise UpdateError(f"{what}: cannot open {archive}: {why}") from exc
    try:
        st = os.fstat(fd)
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):  # a directory, a FIFO, a device
        os.close(fd)
        raise UpdateError(f"{what}: {archive} is not a regular file")
    if only_in is not None and st.st_nlink != 1:  # a hard link to a file of someone else's
        os.close(fd)
        raise UpdateError(f"{what}: {archive} has other hard links")
    return fd


def _open_in(archive: Path, directory: HeldDirectory, what: str) -> int:
    """`archive`, which must name a regular file right in `directory`, opened without following
    a symbolic link: by its name, relative to the directory held, so only that one is read."""
    if not directory.holds(archive):
        raise UpdateError(f"{what}: {archive} is not in {directory.path}")
    st = os.stat(archive.name, dir_fd=directory.fd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        raise UpdateError(f"{what}: {archive} is a symbolic link")
    if not stat.S_ISREG(st.st_mode):  # never opened: a device, a FIFO, a directory
        raise UpdateError(f"{what}: {archive} is not a regular file")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(archive.name, flags, dir_fd=directory.fd)


class Releases:
    """The installed versions under `root` and the two links."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.dir = self.root / "releases"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.root / STATE_FILE

    def path(self, version: str) -> Path:
        return self.dir / _check_version(version)

    def installed(self) -> list[str]:
        return sorted(
            p.name for p in self.dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def _link(self, name: str) -> str | None:
        link = self.root / name
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def current(self) -> str | None:
        return self._link("current")

    def previous(self) -> str | None:
        return self._link("previous")

    def point(self, name: str, version: str) -> None:
        if not self.path(version).is_dir():
            raise UpdateError(f"version {version} is not installed")
        _atomic_symlink(f"releases/{version}", self.root / name)

    # ---------------------------------------------------------------- installing

    def install_archive(
        self, archive: Path, sha256: str, version: str, *, only_in: HeldDirectory | None = None
    ) -> Path:
        """Unpack a release tarball whose SHA-256 must be `sha256`; its top level is the release.

        The archive is opened once, as a regular file (no FIFO to block on), and copied while it
        is hashed into a file of root's own (unnamed, 0600, beside the releases); only that copy
        is unpacked, so the bytes unpacked are the bytes hashed. The kiosk's user owns the
        archive and could otherwise rewrite it between the hash and the unpack, and have root
        install a release of its own under a signed digest. With `only_in` (`allhours update
        run-request`: the kiosk's user names the archive and owns that directory, held open) it
        must also be right in `only_in`, its last component no symbolic link and its only hard
        link: root
        then never reads, and never confirms a guess by the SHA-256 of, a file the kiosk's user
        could not read itself.
        """
        _check_version(version)
        fd = _open_archive(Path(archive), version, only_in)
        with os.fdopen(fd, "rb") as src, tempfile.TemporaryFile(dir=self.dir) as f:
            try:
                digest, size = hashlib.sha256(), 0
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    size += len(chunk)
                    if size > MAX_ARCHIVE_BYTES:
                        raise UpdateError(f"archive of {version}: larger than {MAX_ARCHIVE_BYTES}")
                    digest.update(chunk)
                    f.write(chunk)
                f.flush()
                f.seek(0)
            except OSError as exc:
                raise UpdateError(
                    f"archive of {version}: cannot copy {archive}: {exc.strerror}"
                ) from exc
            if digest.hexdigest() != sha256.lower():
                raise UpdateError(f"archive of {version}: SHA-256 does not match the signed one")
            staging = self._staging(version)
            try:
                with tarfile.open(fileobj=f) as tar:
                    total = sum(m.size for m in tar.getmembers())
                    if total > MAX_RELEASE_BYTES:
                        raise UpdateError(
                            f"archive of {version}: {total} bytes unpacked, too large"
                        )
                    # The data filter refuses absolute paths, .. and links leaving the tree.
                    tar.extractall(staging, filter="data")
            except (tarfile.TarError, OSError) as exc:
                shutil.rmtree(staging, ignore_errors=True)
                raise UpdateError(f"archive of {version}: {exc}") from exc
            except UpdateError:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return self._commit_install(staging, version)

    def install_tree(self, source: Path, version: str) -> Path:
        """Install a release from a directory (a build on this machine, tests)."""
        staging = self._staging(version)
        shutil.copytree(source, staging, symlinks=True, dirs_exist_ok=True)
        return self._commit_install(staging, version)

    def _staging(self, version: str) -> Path:
        target = self.path(version)
        if version in (self.current(), self.previous()) and target.exists():
            raise UpdateError(f"version {version} is installed and in use; not replaced")
        staging = self.dir / f".staging-{version}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        return staging

    def _commit_install(self, staging: Path, version: str) -> Path:
        target = self.path(version)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        _fsync_dir(self.dir)
        self.forget_failed(version)  # installed again on purpose: it may be tried again
        log.info("installed version %s", version)
        return target

    def prune(self) -> list[str]:
        """Remove every installed version but `current` and `previous`."""
        keep = {self.current(), self.previous()}
        gone = [v for v in self.installed() if v not in keep]
        for v in gone:
            shutil.rmtree(self.dir / v, ignore_errors=True)
        return gone

    # ---------------------------------------------------------------- state

    def state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def write_state(self, **fields: object) -> None:
        state = {**self.state(), **fields}
        tmp = self.state_path.with_name(f".{STATE_FILE}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    def failed(self) -> dict[str, str]:
        return dict(self.state().get("failed", {}))

    def forget_failed(self, version: str) -> None:
        failed = self.failed()
        if failed.pop(version, None) is not None:
            self.write_state(failed=failed)


class Updater:
    """Switches versions behind a health gate; `restart` restarts the kiosk (systemctl)."""

    def __init__(
        self,
        releases: Releases,
        data_dir: Path,
        restart: Callable[[], None],
        *,
        health_timeout_s: float = 120.0,
        alive: Callable[[], str | None] = lambda: None,
    ):
        self.releases = releases
        self.data_dir = Path(data_dir)
        self.restart = restart
        self.health_timeout_s = health_timeout_s
        self.alive = alive

    def update(self, version: str) -> Outcome:
        """Run `version`; back to the running one if its health check fails."""
        r = self.releases
        _check_version(version)
        running = r.current()
        if version == running:
            return Outcome(True, running, version, "already running")
        if version in r.failed():
            raise UpdateError(
                f"version {version} failed its health check before: {r.failed()[version]}"
            )
        if not r.path(version).is_dir():
            raise UpdateError(f"version {version} is not installed")
        return self._switch(version, running, "update")

    def rollback(self, reason: str = "operator asked") -> Outcome:
        """Back to the previous version (an operator's rollback), health-gated as well."""
        r = self.releases
        target, running = r.previous(), r.current()
        if target is None or running is None:
            raise UpdateError("no previous version to roll back to")
        outcome = self._switch(target, running, "rollback")
        if outcome.ok:
            r.write_state(failed={**r.failed(), running: reason})
        return outcome

    def recover(self) -> Outcome | None:
        """At boot: finish or undo a switch a crash interrupted; None if none was under way."""
        state = self.releases.state()
        if state.get("phase") != "checking":
            return None
        to, back = state["to"], state.get("from")
        log.warning("a switch to %s was under way at the last stop; checking it", to)
        # A kiosk started since the switch began counts (it may have started before this ran).
        verdict = self._check(to, since=float(state.get("started", 0)))
        if verdict.healthy:
            return self._commit(to, back, state.get("kind", "update"))
        return self._fall_back(to, back, verdict)

    # ---------------------------------------------------------------- the switch

    def _switch(self, to: str, back: str | None, kind: str) -> Outcome:
        r = self.releases
        r.write_state(phase="checking", kind=kind, to=to, **{"from": back}, started=time.time())
        if back is not None:
            r.point("previous", back)
        since = time.time()
        r.point("current", to)
        log.info("%s: switched to %s (from %s), restarting the kiosk", kind, to, back)
        failed = self._restart(to)
        if failed is not None:
            return self._fall_back(to, back, Verdict(False, failed))
        verdict = self._check(to, since)
        if verdict.healthy:
            return self._commit(to, back, kind)
        return self._fall_back(to, back, verdict)

    def _restart(self, version: str) -> str | None:
        """Restart the kiosk on `version`; what went wrong, None if nothing. Like the check, it
        must not raise: the request is gone by now, and only an outcome tells the rollout."""
        try:
            self.restart()
        except Exception as exc:  # systemctl: CalledProcessError, TimeoutExpired
            log.exception("restarting the kiosk on %s failed", version)
            return f"restarting the kiosk failed: {type(exc).__name__}: {exc}"[:300]
        return None

    def _check(self, version: str, since: float) -> Verdict:
        """The health gate. It must end in a verdict: an exception here would leave the switch
        half done (phase checking, no outcome), so one counts as a failed check."""
        try:
            return wait_healthy(
                self.data_dir,
                since=since,
                timeout_s=self.health_timeout_s,
                software_version=version,
                alive=self.alive,
            )
        except Exception as exc:
            log.exception("the health check of %s failed", version)
            return Verdict(False, f"health check failed: {type(exc).__name__}: {exc}"[:300])

    def _commit(self, to: str, back: str | None, kind: str) -> Outcome:
        r = self.releases
        r.write_state(phase="done", running=to)
        gone = r.prune()
        log.info("%s to %s kept (healthy); removed %s", kind, to, gone or "nothing")
        return Outcome(True, to, to, f"{kind} to {to}: healthy")

    def _fall_back(self, to: str, back: str | None, verdict: Verdict) -> Outcome:
        r = self.releases
        reason = verdict.detail
        log.error("version %s failed its health check: %s", to, reason)
        r.write_state(failed={**r.failed(), to: reason})
        if back is None:
            r.write_state(phase="failed", running=None)
            return Outcome(False, None, to, f"{to} unhealthy ({reason}); nothing to fall back to")
        since = time.time()
        r.point("current", back)
        failed = self._restart(back)
        again = Verdict(False, failed) if failed else self._check(back, since)
        r.write_state(phase="done" if again.healthy else "failed", running=back)
        tail = "" if again.healthy else f"; {back} is not healthy either: {again.detail}"
        return Outcome(
            False,
            back,
            to,
            f"{to} unhealthy ({reason}); rolled back to {back}{tail}",
            rolled_back=True,
        )


def outcome_json(outcome: Outcome) -> str:
    return json.dumps(asdict(outcome), ensure_ascii=False)
