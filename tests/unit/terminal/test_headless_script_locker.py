"""A headless script's `[terminal] locker = FILE`: the locker configuration's boards instead of
the emulated lock board (the chaos run's RS-485 board emulators), checked before any device
moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from allhours.headless import ScriptError, load_script

STEP = '[[step]]\ndo = "sleep"\nseconds = 0\n'
REPO = Path(__file__).resolve().parents[3]


def _script(tmp_path: Path, head: str) -> Path:
    path = tmp_path / "script.toml"
    path.write_text(head + STEP, encoding="utf-8")
    return path


def test_a_locker_file_is_read_relative_to_the_script(tmp_path):
    (tmp_path / "locker.toml").write_text(
        (REPO / "docs" / "examples" / "locker-rs485.toml").read_text(encoding="utf-8")
    )
    script = load_script(_script(tmp_path, '[terminal]\nlocker = "locker.toml"\n'))
    assert script["terminal"]["locker"] == str(tmp_path / "locker.toml")


@pytest.mark.parametrize(
    ("head", "says"),
    [
        ('[terminal]\nlocker = "absent.toml"\n', "absent.toml: cannot read"),
        ("[terminal]\nlocker = 3\n", "the path of a locker file"),
        ('[terminal]\nprinter = "x"\n', "may hold only `locker`"),
        ('terminal = "T0001"\n', "may hold only `locker`"),
    ],
)
def test_a_bad_terminal_table_is_refused_naming_the_key(tmp_path, head, says):
    with pytest.raises(ScriptError, match="locker") as refused:
        load_script(_script(tmp_path, head))
    assert says in str(refused.value)
