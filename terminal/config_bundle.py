"""Configuration bundles on the terminal: applied atomically, kept only if the kiosk stays healthy.

A bundle (cloud_bridge.contract.messages.ApplyConfigBundle, signed by the backend's key like
every command) carries the catalog document. The terminal

1. checks the document's shape (terminal/catalog.py) and refuses a malformed one, changing
   nothing;
2. writes it to `config/bundles/<version>.json` and points `config/active.json` at it with one
   atomic rename (the previous pointer is kept in the same file), then swaps the running
   catalog;
3. runs the kiosk's health checks with the new configuration; if any fails, it points back at
   the previous configuration, swaps the catalog back, and acks the command as rejected with
   the check's words, which the operator reads in the console.

The bundle in use survives a restart (the node loads the active one at start); without one the
terminal runs its built-in catalog. An operator's rollback (RollbackConfigBundle) returns to
the previous configuration the same way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from cloud_bridge.commands import CommandRejected, CommandResult
from cloud_bridge.contract import messages as m
from terminal.catalog import Catalog, CatalogError, builtin_catalog, parse_catalog

log = logging.getLogger(__name__)

BUILTIN = "builtin"

# A health check of a configuration: None when it is fine, else what is wrong.
ConfigCheck = Callable[[Catalog], str | None]


def _write_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ConfigStore:
    """The bundles a terminal has run and which one is active."""

    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir) / "config"
        self.bundles = self.dir / "bundles"
        self.bundles.mkdir(parents=True, exist_ok=True)
        self.pointer = self.dir / "active.json"

    def _pointer(self) -> dict:
        try:
            return json.loads(self.pointer.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def active_version(self) -> str:
        return self._pointer().get("active", BUILTIN)

    def previous_version(self) -> str | None:
        return self._pointer().get("previous")

    def catalog(self, version: str | None = None) -> Catalog:
        """The catalog of `version` (default: the active one); built-in for "builtin"."""
        version = version or self.active_version()
        if version == BUILTIN:
            return builtin_catalog()
        doc = json.loads((self.bundles / f"{version}.json").read_text(encoding="utf-8"))
        return parse_catalog(doc["catalog"])

    def load_active(self) -> Catalog:
        """At start: the active bundle's catalog; a damaged one falls back to built-in, loudly."""
        try:
            return self.catalog()
        except (OSError, ValueError, KeyError, CatalogError) as exc:
            log.error(
                "active configuration %s unreadable (%s); built-in catalog",
                self.active_version(),
                exc,
            )
            return builtin_catalog()

    def save(self, version: str, document: dict) -> None:
        _write_atomic(self.bundles / f"{version}.json", {"version": version, "catalog": document})

    def point(self, active: str, previous: str | None) -> None:
        _write_atomic(self.pointer, {"active": active, "previous": previous})

    def prune(self, keep: int = 5) -> None:
        """Keep the active, the previous and the `keep` newest bundle files."""
        files = sorted(self.bundles.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        wanted = {self.active_version(), self.previous_version()}
        for f in files[keep:]:
            if f.stem not in wanted:
                f.unlink(missing_ok=True)


class ConfigBundles:
    """Applies and rolls back bundles for a running terminal.

    `install(catalog)` swaps the catalog the flows use; `checks` are the kiosk's health checks
    of a configuration (e.g. that every item fits the locker's compartments).
    """

    def __init__(
        self,
        store: ConfigStore,
        install: Callable[[Catalog], None],
        checks: dict[str, ConfigCheck],
    ):
        self.store = store
        self.install = install
        self.checks = checks
        self._lock = threading.Lock()

    def health(self, catalog: Catalog) -> list[str]:
        problems = []
        for name, check in self.checks.items():
            try:
                problem = check(catalog)
            except Exception as exc:  # a check that breaks is a failed check
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                problems.append(f"{name}: {problem}")
        return problems

    def on_apply(self, cmd: m.ApplyConfigBundle) -> CommandResult:
        with self._lock:
            try:
                catalog = parse_catalog(cmd.catalog)
            except CatalogError as exc:
                raise CommandRejected(f"bundle {cmd.bundle_version} malformed: {exc}") from exc
            if catalog.version != cmd.bundle_version:
                raise CommandRejected(
                    f"bundle {cmd.bundle_version} carries catalog version {catalog.version}"
                )
            running = self.store.active_version()
            if cmd.bundle_version == running:
                return CommandResult(detail="already running", result={"config_version": running})
            if cmd.bundle_version == BUILTIN:
                raise CommandRejected("bundle version 'builtin' is reserved")
            self.store.save(cmd.bundle_version, cmd.catalog)
            return self._switch(cmd.bundle_version, catalog, running, "bundle")

    def on_rollback(self, cmd: m.RollbackConfigBundle) -> CommandResult:
        with self._lock:
            running, back = self.store.active_version(), self.store.previous_version()
            if back is None:
                raise CommandRejected(f"no configuration before {running} to go back to")
            try:
                catalog = self.store.catalog(back)
            except (OSError, ValueError, KeyError, CatalogError) as exc:
                raise CommandRejected(f"configuration {back} is unreadable: {exc}") from exc
            log.warning("rolling configuration back from %s to %s: %s", running, back, cmd.reason)
            return self._switch(back, catalog, running, "rollback")

    def _switch(self, to: str, catalog: Catalog, running: str, kind: str) -> CommandResult:
        before = self.store.catalog(running)
        was_previous = self.store.previous_version()
        self.store.point(to, running)
        self.install(catalog)
        problems = self.health(catalog)
        if problems:
            # Back to what ran before, pointer first: a crash here restarts on the old one.
            self.store.point(running, was_previous)
            self.install(before)
            why = "; ".join(problems)
            log.error("configuration %s failed the health check, back on %s: %s", to, running, why)
            raise CommandRejected(f"rolled back to {running}: {why}"[:500])
        self.store.prune()
        log.info("%s: configuration %s running (was %s)", kind, to, running)
        return CommandResult(
            detail=f"{kind}: running {to}", result={"config_version": to, "previous": running}
        )
