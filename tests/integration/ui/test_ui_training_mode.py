"""A training kiosk (settings: emulate = true), built by the bootstrap like a real one, says on
every screen, in both languages, that it is training; a real one does not."""

from __future__ import annotations

from pathlib import Path

from enrolled_terminal import enrolled

from allhours.bootstrap import build_terminal
from allhours.settings import load_terminal_config
from cloud_bridge.contract import messages as m
from terminal.ui.driver import KioskDriver
from terminal.ui.kiosk import Kiosk


def test_a_training_kiosk_says_so_on_screen_in_both_languages(tmp_path: Path):
    path = tmp_path / "terminal.toml"
    path.write_text(f'data_dir = "{enrolled(tmp_path)}"\nemulate = true\n', encoding="utf-8")
    terminal = build_terminal(load_terminal_config(path, m.utcnow()))
    drv = KioskDriver(Kiosk(terminal.node, lang="zh", training=terminal.training))
    try:
        assert terminal.training and terminal.emulated is not None
        assert "培训模式" in drv.kiosk.bar_title.text
        drv.tap(drv.kiosk.lang_button)
        assert "TRAINING MODE" in drv.kiosk.bar_title.text
        drv.tap(drv.kiosk.large_button)  # the bar is drawn again: the words stay
        assert "TRAINING MODE" in drv.kiosk.bar_title.text
    finally:
        drv.close()
        terminal.close()
    real = Kiosk(terminal.node, lang="zh")
    assert "培训模式" not in real.bar_title.text
