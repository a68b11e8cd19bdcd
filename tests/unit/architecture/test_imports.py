"""The project's imports: no cycles, and the package rules of ARCHITECTURE.md hold.

Imports inside functions count too: a cycle or a forbidden edge hidden behind a function-level
import still ties two modules into one. The graph below has one edge per import statement that
names a project module (`from a import b` names `a.b` when that is a module, else `a`); imports
under `if TYPE_CHECKING:` are for the type checker only and are not edges.

The rules (ARCHITECTURE.md, "What must never be", and the contract's own line):
- `devices`, `face` and `locker` import neither kivy, paho, `terminal` nor `backend`;
- `backend` imports nothing of `terminal`, `devices`, `face` or `locker`: it knows terminals
  only through the wire contract;
- only `terminal` imports kivy, and no flow in `terminal/flows` does;
- the wire contract (`cloud_bridge/contract`) imports nothing of ours outside itself, and no
  paho: no I/O;
- test and demo parts stay out of the product: nothing a kiosk or the backend runs imports
  `demo_support` (sample photos fetched with pip, the screenshot tour).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = (
    "allhours", "backend", "cloud_bridge", "demo_support", "devices", "face", "locker",
    "privacy", "provisioning", "terminal",
)  # fmt: skip


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join(base + ([name] if name else []))


def _type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except what sits under ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                todo.extend(child.orelse)  # type: ignore[attr-defined]
            else:
                todo.append(child)


def imports() -> dict[str, set[str]]:
    """Every module's runtime imports: project modules as the graph names them, others by name."""
    modules = _modules()
    found: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _runtime_nodes(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                named = target
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                found[name].add(target or named)
        found[name].discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """The project modules each module imports."""
    modules = _modules()
    return {name: {t for t in targets if t in modules} for name, targets in imports().items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_finder_sees_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_counts_imports_inside_functions():
    graph = import_graph()
    # backend.service starts uvicorn on the app that backend.api builds from it, and the
    # demo waits for a signal as the CLI does: both are imports inside a function.
    assert "backend.service" in graph["backend.api"]
    assert "allhours.demo" in graph["allhours.cli"]


def test_no_import_cycles_among_project_modules():
    assert cycles(import_graph()) == []


# (modules under this name, may not import these, the rule)
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("devices", ("kivy", "paho", "terminal", "backend")),
    ("face", ("kivy", "paho", "terminal", "backend")),
    ("locker", ("kivy", "paho", "terminal", "backend")),
    ("backend", ("terminal", "devices", "face", "locker", "kivy")),
    ("terminal.flows", ("kivy",)),
    # Nothing of ours but itself (its link-side neighbours in cloud_bridge included).
    ("cloud_bridge.contract", ("paho", *PACKAGES)),
    *((p, ("kivy",)) for p in PACKAGES if p != "terminal"),
    *((p, ("demo_support",)) for p in PACKAGES if p not in ("allhours", "demo_support")),
]


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def broken_rules(found: dict[str, set[str]]) -> list[str]:
    """Each forbidden import as "importer -> imported"; a package may always import itself."""
    return [
        f"{module} -> {target}"
        for package, forbidden in RULES
        for module, targets in sorted(found.items())
        if _under(module, package)
        for target in sorted(targets)
        if not _under(target, package) and any(_under(target, f) for f in forbidden)
    ]


def test_the_rules_see_a_forbidden_import_inside_a_function(tmp_path):
    found = {
        "backend.x": {"sqlalchemy", "cloud_bridge.contract.messages", "terminal.catalog"},
        "cloud_bridge.contract.y": {"pydantic", "cloud_bridge.outbox"},
        "terminal.flows.z": {"kivy.clock"},
        "terminal.ui.w": {"kivy.app"},
    }
    assert broken_rules(found) == [
        "backend.x -> terminal.catalog",
        "terminal.flows.z -> kivy.clock",
        "cloud_bridge.contract.y -> cloud_bridge.outbox",
    ]
    # A function-level import is an edge like any other.
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from terminal.catalog import parse_catalog\n")
    nodes = list(_runtime_nodes(ast.parse(source.read_text())))
    assert any(isinstance(n, ast.ImportFrom) and n.module == "terminal.catalog" for n in nodes)


def test_the_package_rules_of_the_architecture_hold():
    found = imports()
    assert "demo_support.samples" in found["demo_support.tour"]  # the walk sees that package
    assert any(_under(t, "kivy") for t in found["terminal.ui.app"])  # and third-party ones
    assert broken_rules(found) == []
