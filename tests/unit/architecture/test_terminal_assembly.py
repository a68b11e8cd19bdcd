"""A terminal is assembled in one place: only the bootstrap constructs a TerminalNode.

The CLI, the demo, the screenshots, the benchmarks and the tests all build theirs through
`allhours.bootstrap` (`build_terminal` from a settings file, `training_terminal` for emulated
devices), so what a test runs is what a kiosk runs. The one exception is the node's own guard
against a missing applicant key, which no enrollment bundle can produce.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SKIP = {".venv", "node_modules", ".git", "__pycache__"}
ALLOWED = {
    "allhours/bootstrap.py",
    "tests/integration/terminal/test_pickup_identity.py",  # the node's own guard, by hand
}


def _constructions(path: Path) -> int:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "TerminalNode"
    )


def test_only_the_bootstrap_constructs_a_terminal_node():
    found = {}
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if SKIP & set(rel.parts):
            continue
        count = _constructions(path)
        if count:
            found[rel.as_posix()] = count
    assert "allhours/bootstrap.py" in found  # the scan sees the one place
    assert set(found) - ALLOWED == set(), sorted(set(found) - ALLOWED)
