"""`python -m backend.migrations`: write a new revision, or show where a database stands.

python -m backend.migrations revision "terminals: presence columns"
    compares backend/models.py with the schema the existing revisions make (on a scratch
    SQLite database) and writes versions/NNNN_<slug>.py chained on the head, to review.
python -m backend.migrations current --database-url URL
    prints the database's revision and the code's head.
python -m backend.migrations upgrade --database-url URL
    brings the database to the head (a backend worker also does this when it starts).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from backend.db import (
    MigrationError,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    migrate,
)

VERSIONS = Path(__file__).parent / "versions"
MAX_ID = 32


def _next_id(message: str) -> str:
    numbers = [int(p.name[:4]) for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py")]
    # alembic_version.version_num is VARCHAR(32), which PostgreSQL enforces: NNNN_ + 27.
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower())[: MAX_ID - 5].strip("_") or "change"
    return f"{max(numbers, default=0) + 1:04d}_{slug}"


def _risky_columns(path: Path) -> list[str]:
    """Added NOT NULL columns without a server default: they fail on a table holding rows."""
    risky = []
    for line in path.read_text().splitlines():
        if "add_column" in line and "nullable=False" in line and "server_default" not in line:
            risky.append(line.strip())
    return risky


def cmd_revision(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            migrate(engine)
            config = alembic_config(engine)
            script = command.revision(
                config, message=args.message, autogenerate=True, rev_id=_next_id(args.message)
            )
        finally:
            engine.dispose()
    scripts = script if isinstance(script, list) else [script]
    for s in scripts:
        if s is None:
            continue
        path = Path(s.path)
        # In the project's style at once (ruff is a dev dependency; skipped if absent).
        subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(path)], check=False)
        print(f"wrote {path}")
        for line in _risky_columns(path):
            print(f"  review: NOT NULL column without server_default: {line}", file=sys.stderr)
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    engine = make_engine(args.database_url)
    try:
        print(f"database: {current_revision(engine) or '(none)'}")
    finally:
        engine.dispose()
    print(f"code head: {head_revision()}")
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return 0 if len(heads) == 1 else 1


def cmd_upgrade(args: argparse.Namespace) -> int:
    engine = make_engine(args.database_url)
    try:
        print(f"database at {migrate(engine)}")
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m backend.migrations", description=__doc__)
    sub = p.add_subparsers(required=True)
    r = sub.add_parser("revision", help="autogenerate a revision from backend/models.py")
    r.add_argument("message")
    r.set_defaults(func=cmd_revision)
    c = sub.add_parser("current", help="the database's revision and the code's head")
    c.add_argument("--database-url", required=True)
    c.set_defaults(func=cmd_current)
    u = sub.add_parser("upgrade", help="bring the database to the code's head")
    u.add_argument("--database-url", required=True)
    u.set_defaults(func=cmd_upgrade)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
