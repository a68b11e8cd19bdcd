"""Configuration bundles on the terminal: applied atomically, kept only if the kiosk stays healthy.

A bundle (cloud_bridge.contract.messages.ApplyConfigBundle, signed by the backend's key like
every command) carries up to three parts; a part it leaves out stays as the terminal runs it:

- `catalog`: the catalog document (cloud_bridge/contract/catalog.py);
- `layout`: the locker's compartments, as the devices file lists them (id, size, board,
  channel, door, pulse_ms), checked against the lock boards this terminal has;
- `settings`: the settings that may change remotely (`REMOTE_SETTINGS`), within the limits
  of the settings file. Keys, the enrollment, the broker and the devices are never in that list.

The parts are checked by the contract's functions (cloud_bridge/contract/config_parts.py), the
same ones the backend runs before it pushes a bundle.

The terminal

1. checks every part and refuses a malformed one, or a layout that would orphan a compartment
   holding a result or a deposit, changing nothing; the refusal's words reach the operator;
2. writes the whole configuration to `config/bundles/<version>.json` and points
   `config/active.json` at it with one atomic rename (the previous pointer is kept in the same
   file), then installs catalog, layout and settings together;
3. runs the kiosk's health checks with the new configuration; if any fails, it points back at
   the previous configuration, installs it again, and acks the command as rejected with the
   check's words, which the operator reads in the console.

The configuration in use survives a restart (the node builds its catalog, locker and settings
from the active one at start); without one the terminal runs its built-in catalog, its devices
file's layout and its settings file. An operator's rollback (RollbackConfigBundle) returns to the
previous configuration the same way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloud_bridge.commands import CommandRejected, CommandResult
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.catalog import Catalog, CatalogError, builtin_catalog, parse_catalog
from cloud_bridge.contract.config_parts import ConfigRefused, check_layout, check_settings
from locker.errors import LayoutError
from locker.layout import CompartmentSpec, DoorInput, Size

log = logging.getLogger(__name__)

BUILTIN = "builtin"


@dataclass(frozen=True)
class Configuration:
    """What a terminal runs: a version, its catalog, its locker layout, its remote settings."""

    version: str
    catalog: Catalog
    layout: tuple[CompartmentSpec, ...] | None  # None: the devices file's layout
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # allow-listed overrides


def parse_layout(doc: Any, board_channels: dict[str, int | None]) -> tuple[CompartmentSpec, ...]:
    """A bundle's locker layout, checked against this terminal's boards (id: channels)."""
    return tuple(
        CompartmentSpec(
            e.id,
            Size(e.size),
            e.channel,
            e.board,
            None if e.door is None else DoorInput(*e.door),
            e.pulse_ms,
        )
        for e in check_layout(doc, board_channels)
    )


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
    """The configurations a terminal has run and which one is active."""

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

    def documents(self, version: str | None = None) -> dict[str, Any]:
        """The parts of `version` (default: the active one) as stored; None: the terminal's own."""
        version = version or self.active_version()
        if version == BUILTIN:
            return {"catalog": None, "layout": None, "settings": {}}
        doc = json.loads((self.bundles / f"{version}.json").read_text(encoding="utf-8"))
        return {
            "catalog": doc.get("catalog"),
            "layout": doc.get("layout"),
            "settings": doc.get("settings") or {},
        }

    def configuration(
        self, version: str | None = None, boards: dict[str, int | None] | None = None
    ) -> Configuration:
        """`version` (default: the active one) parsed; `boards` checks its layout's boards."""
        version = version or self.active_version()
        docs = self.documents(version)
        catalog = builtin_catalog() if docs["catalog"] is None else parse_catalog(docs["catalog"])
        layout = None
        if docs["layout"] is not None:
            known = boards or {
                str(c.get("board", "main")): None for c in docs["layout"] if isinstance(c, dict)
            }
            layout = parse_layout(docs["layout"], known)
        return Configuration(version, catalog, layout, check_settings(docs["settings"]))

    def load_active(self, boards: dict[str, int | None] | None = None) -> Configuration:
        """At start: the active configuration; a damaged one falls back to built-in, loudly."""
        try:
            return self.configuration(boards=boards)
        except (OSError, ValueError, KeyError, CatalogError) as exc:
            log.error(
                "active configuration %s unreadable (%s); built-in configuration",
                self.active_version(),
                exc,
            )
            return Configuration(BUILTIN, builtin_catalog(), None, {})

    def catalog(self, version: str | None = None) -> Catalog:
        return self.configuration(version).catalog

    def save(self, version: str, docs: dict[str, Any]) -> None:
        _write_atomic(self.bundles / f"{version}.json", {"version": version, **docs})

    def point(self, active: str, previous: str | None) -> None:
        _write_atomic(self.pointer, {"active": active, "previous": previous})

    def prune(self, keep: int = 5) -> None:
        """Keep the active, the previous and the `keep` newest bundle files."""
        files = sorted(self.bundles.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        wanted = {self.active_version(), self.previous_version()}
        for f in files[keep:]:
            if f.stem not in wanted:
                f.unlink(missing_ok=True)


# A health check of a configuration: None when it is fine, else what is wrong.
ConfigCheck = Callable[[Configuration], str | None]


class ConfigBundles:
    """Applies and rolls back bundles for a running terminal.

    `install(configuration)` swaps catalog, layout and settings in the running kiosk; `checks`
    are the kiosk's health checks of a configuration (e.g. that every item fits the locker);
    `boards` gives this terminal's lock boards (id: channels) a layout is checked against;
    `orphans(layout)` names what a layout would leave behind (a compartment holding a result
    or a deposit that the layout drops or shrinks), or None.
    """

    def __init__(
        self,
        store: ConfigStore,
        install: Callable[[Configuration], None],
        checks: dict[str, ConfigCheck],
        boards: Callable[[], dict[str, int | None]] = lambda: {"main": None},
        orphans: Callable[[tuple[CompartmentSpec, ...] | None], str | None] = lambda _: None,
    ):
        self.store = store
        self.install = install
        self.checks = checks
        self.boards = boards
        self.orphans = orphans
        self._lock = threading.Lock()

    def health(self, configuration: Configuration) -> list[str]:
        problems = []
        for name, check in self.checks.items():
            try:
                problem = check(configuration)
            except Exception as exc:  # a check that breaks is a failed check
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                problems.append(f"{name}: {problem}")
        return problems

    def on_apply(self, cmd: m.ApplyConfigBundle) -> CommandResult:
        with self._lock:
            version = cmd.bundle_version
            running = self.store.active_version()
            if version == running:
                return CommandResult(detail="already running", result={"config_version": running})
            if version == BUILTIN:
                raise CommandRejected("bundle version 'builtin' is reserved")
            try:
                before = self.store.documents(running)
            except (OSError, ValueError) as exc:
                raise CommandRejected(f"configuration {running} is unreadable: {exc}") from exc
            docs = {
                "catalog": before["catalog"] if cmd.catalog is None else cmd.catalog,
                "layout": before["layout"] if cmd.layout is None else cmd.layout,
                "settings": before["settings"] if cmd.settings is None else cmd.settings,
            }
            try:
                catalog = builtin_catalog() if docs["catalog"] is None else None
                if catalog is None:
                    catalog = parse_catalog(docs["catalog"])
                    if cmd.catalog is not None and catalog.version != version:
                        raise ConfigRefused(
                            f"catalog: the bundle {version} carries catalog version "
                            f"{catalog.version}"
                        )
                layout = (
                    None if docs["layout"] is None else parse_layout(docs["layout"], self.boards())
                )
                settings = check_settings(docs["settings"])
            except (CatalogError, ConfigRefused) as exc:
                raise CommandRejected(f"bundle {version} refused: {exc}"[:500]) from exc
            orphaned = self.orphans(layout)
            if orphaned:
                raise CommandRejected(f"bundle {version} refused: layout: {orphaned}"[:500])
            self.store.save(version, docs)
            new = Configuration(version, catalog, layout, settings)
            return self._switch(new, running, "bundle")

    def on_rollback(self, cmd: m.RollbackConfigBundle) -> CommandResult:
        with self._lock:
            running, back = self.store.active_version(), self.store.previous_version()
            if back is None:
                raise CommandRejected(f"no configuration before {running} to go back to")
            try:
                configuration = self.store.configuration(back, self.boards())
            except (OSError, ValueError, KeyError, CatalogError) as exc:
                raise CommandRejected(f"configuration {back} is unreadable: {exc}") from exc
            orphaned = self.orphans(configuration.layout)
            if orphaned:
                raise CommandRejected(f"rollback to {back} refused: layout: {orphaned}"[:500])
            log.warning("rolling configuration back from %s to %s: %s", running, back, cmd.reason)
            return self._switch(configuration, running, "rollback")

    def _switch(self, new: Configuration, running: str, kind: str) -> CommandResult:
        before = self.store.configuration(running, self.boards())
        was_previous = self.store.previous_version()
        self.store.point(new.version, running)
        try:
            self.install(new)
        except (LayoutError, ValueError) as exc:
            problems = [f"install: {exc}"]
        else:
            problems = self.health(new)
        if problems:
            # Back to what ran before, pointer first: a crash here restarts on the old one.
            self.store.point(running, was_previous)
            self.install(before)
            why = "; ".join(problems)
            log.error(
                "configuration %s failed its health check, back on %s: %s",
                *(new.version, running, why),
            )
            raise CommandRejected(f"rolled back to {running}: {why}"[:500])
        self.store.prune()
        log.info("%s: configuration %s running (was %s)", kind, new.version, running)
        return CommandResult(
            detail=f"{kind}: running {new.version}",
            result={"config_version": new.version, "previous": running},
        )
