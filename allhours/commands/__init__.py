"""Technician commands, one module each, found at start-up.

A module here that defines ``register(subparsers)`` adds its own sub-command to
`allhours`. Modules are loaded in name order; a module that fails to import is a
bug and stops the CLI, so a broken command is never silently missing.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register_all(sub: argparse._SubParsersAction) -> None:
    """Let every command module in this package add its sub-parser(s)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
