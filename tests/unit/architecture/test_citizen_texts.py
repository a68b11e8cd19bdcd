"""Every word a citizen reads comes from the catalogs (terminal/ui/locale), in zh and in en.

The kiosk's code names texts by key: flows raise coded errors (`terminal.coded.CitizenError`:
FlowError, PickupRefused, PageRefused, ChecklistError, ImportRefused), and screens show keys
(`say`, `label`, `button`, `t`). This test reads the code (no kivy, no screen) and fails on a
citizen text written in code, or a key that one of the catalogs lacks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from terminal.coded import CitizenError
from terminal.flows.pickup import PickupRefused
from terminal.flows.session import FlowError, WrongStep
from terminal.materials.quality import REASONS as SCAN_REASONS
from terminal.materials.usb_import import REASONS as USB_REASONS
from terminal.materials.usb_import import ImportRefused
from terminal.ui.i18n import LANGUAGES, load_catalog

ROOT = Path(__file__).resolve().parents[3]
TERMINAL = ROOT / "terminal"
CJK = re.compile(r"[\u4e00-\u9fff]")
CATALOGS = {lang: load_catalog(lang) for lang in LANGUAGES}
BOTH = set.intersection(*(set(c) for c in CATALOGS.values()))

# Constructors whose first argument is a catalog key, and how an argument becomes that key.
KEYED = {
    "FlowError": "{}",
    "CitizenError": "{}",
    "ChecklistError": "{}",
    "PickupRefused": "pickup.refused.{}",
    "ImportRefused": "usb.reason.{}",
}
# Screen helpers, and which of their arguments, written in code, is a key.
SHOWN = {"label": 0, "button": 0, "t": 0, "say": 1}


def _sources() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(TERMINAL.rglob("*.py"))]


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            found.add(id(body[0].value))
    return found


def _called(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _key_problem(template: str, arg: ast.expr) -> str | None:
    """Why `arg` (made into a key by `template`) is not a key of both catalogs, or None."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        key = template.format(arg.value)
        return None if key in BOTH else f"{key!r} is not in every catalog"
    if isinstance(arg, ast.JoinedStr):  # f"pickup.refused.{reason}": some keys must start so
        head = arg.values[0].value if isinstance(arg.values[0], ast.Constant) else ""
        prefix = template.format(head)
        if not head or not any(k.startswith(prefix) for k in BOTH):
            return f"f-string key {prefix!r}... names no catalog text"
        return None
    return None  # a variable: the key came from one of the checked places


def citizen_text_problems() -> list[str]:
    problems = []
    for path, tree in _sources():
        where = path.relative_to(ROOT)
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and CJK.search(text) and id(node) not in docs:
                problems.append(f"{where}:{node.lineno} Chinese text in code")
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = _called(node)
            if name in KEYED:
                problem = _key_problem(KEYED[name], node.args[0])
            elif name in SHOWN and len(node.args) > SHOWN[name]:
                arg = node.args[SHOWN[name]]
                if isinstance(arg, ast.Constant) and arg.value == "":
                    continue
                problem = _key_problem("{}", arg)
            else:
                continue
            if problem:
                problems.append(f"{where}:{node.lineno} {name}(): {problem}")
    return problems


def test_no_citizen_text_is_written_in_the_terminals_code():
    assert citizen_text_problems() == []


def test_the_scan_finds_a_sentence_passed_to_a_coded_error(tmp_path, monkeypatch):
    bad = tmp_path / "terminal"
    bad.mkdir()
    (bad / "flow.py").write_text(
        'raise FlowError("Please try again.")\n'
        'raise PickupRefused("no_such_reason")\n'
        'self.say(self.error, "screen.no_such_key")\n'
        'LABEL = "请重试"\n'
        'raise FlowError("phone.invalid")\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(__import__(__name__), "TERMINAL", bad)
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert [p.split(" ", 1)[0] for p in citizen_text_problems()] == [
        "terminal/flow.py:1",
        "terminal/flow.py:2",
        "terminal/flow.py:3",
        "terminal/flow.py:4",
    ]


@pytest.mark.parametrize(
    "error",
    [
        FlowError("phone.invalid"),
        PickupRefused("locked_out", 12.2),
        ImportRefused("too_large", "x.pdf", limit=20),
        WrongStep("the flow was at another step"),
    ],
)
def test_a_coded_error_reads_in_both_languages_and_in_english_as_a_string(error):
    assert isinstance(error, CitizenError)
    texts = {lang: c[error.key].format(**error.params) for lang, c in CATALOGS.items()}
    assert CJK.search(texts["zh"]) and not CJK.search(texts["en"])
    if not isinstance(error, WrongStep):  # its str() is the developer's detail, for the log
        assert str(error) == texts["en"]


def test_every_refusal_reason_is_worded_and_no_other_can_be_raised():
    assert all(f"pickup.refused.{reason}" in BOTH for reason in PickupRefused.REASONS)
    assert all(f"usb.reason.{code}" in BOTH for code in USB_REASONS)
    assert all(f"scan.reason.{code}" in BOTH for code in SCAN_REASONS)
    with pytest.raises(ValueError):
        PickupRefused("because")
    with pytest.raises(ValueError):
        ImportRefused("because")


def _read_errors() -> list[type]:
    import devices.identity.cnid.errors
    import devices.identity.emrtd.errors  # noqa: F401 - the subclasses below come from these
    from devices.identity.port import IdentityReadError

    found, todo = [], [IdentityReadError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_reader_error_is_worded_by_the_kiosk_and_carries_no_text_of_its_own():
    from terminal.flows.identity import card_error_key

    errors = _read_errors()
    assert len(errors) > 15  # both readers' errors were found
    for cls in errors:
        assert "citizen_message" not in vars(cls), cls  # the catalogs word it, not the device
        key = card_error_key(cls("detail for the technician"))
        assert key in BOTH, (cls, key)
        # Only the bases fall back to the general text; each kind of failure has its words.
        general = cls.__name__ in ("IdentityReadError", "CnIdReadError")
        assert (key == "card.error.unreadable") == general, cls
