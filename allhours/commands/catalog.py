"""`allhours catalog check FILE...`: is a catalog document one the terminals will run?

Each file (TOML by its suffix, else JSON) is checked with the contract's `parse_catalog`, the
same check the console runs on each save and the terminal runs on each bundle. One line per
file: its version and counts, or the first problem with its place. The exit status is 1 if any
file is refused, 2 for a usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("catalog", help="service catalog tools")
    csub = p.add_subparsers(dest="catalog_command", required=True)
    c = csub.add_parser("check", help="validate catalog documents (TOML or JSON)")
    c.add_argument("files", type=Path, nargs="+", help="catalog files, e.g. my-district.toml")
    c.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    from cloud_bridge.contract.catalog import CatalogError, load_catalog

    bad = 0
    for path in args.files:
        try:
            cat = load_catalog(path)
        except (CatalogError, OSError) as exc:
            bad += 1
            print(f"{path}: {exc}")
        else:
            print(
                f"{path}: ok, version {cat.version}, {len(cat.items)} items in "
                f"{len(cat.classes)} classes"
            )
    return 1 if bad else 0
