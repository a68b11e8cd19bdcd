"""Every screen renders in Chinese and English from the catalogs, with no key missing."""

from __future__ import annotations

import json

import pytest
from kivy.core.window import Window
from kivy.uix.scrollview import ScrollView
from ui_unit_kiosk import STAFF_CODE, offline_kiosk

from demo_support.tour import SAMPLE_CITIZEN, STOPS, tour
from terminal.ui.i18n import (
    LANGUAGES,
    LOCALE_DIR,
    MissingTranslation,
    Translator,
    catalog_differences,
    load_catalog,
)
from terminal.ui.kiosk import walk
from terminal.ui.screens.registry import SCREENS
from terminal.ui.theme import LARGE
from terminal.ui.widgets import KButton


def test_catalogs_have_the_same_keys_and_no_empty_text():
    catalogs = {lang: load_catalog(lang) for lang in LANGUAGES}
    assert catalog_differences(catalogs) == {}
    for lang, catalog in catalogs.items():
        assert all(v.strip() for v in catalog.values()), lang


def test_a_key_missing_from_one_catalog_is_reported(tmp_path):
    (tmp_path / "zh.json").write_text(json.dumps({"a": "甲", "b": "乙"}), encoding="utf-8")
    (tmp_path / "en.json").write_text(json.dumps({"a": "A"}), encoding="utf-8")
    catalogs = {lang: load_catalog(lang, tmp_path) for lang in LANGUAGES}
    assert catalog_differences(catalogs) == {"en": {"b"}}
    strict = Translator("en", strict=True, catalogs=catalogs)
    with pytest.raises(MissingTranslation):
        strict("b")
    lenient = Translator("en", catalogs=catalogs)
    assert lenient("b") == "乙" and ("en", "b") in lenient.misses


def test_the_catalogs_are_valid_utf8_json_objects():
    for lang in LANGUAGES:
        data = json.loads((LOCALE_DIR / f"{lang}.json").read_text(encoding="utf-8"))
        assert isinstance(data, dict) and data


def small_targets(kiosk) -> list[str]:
    """Buttons shown now whose shorter side is below the theme's minimum at the kiosk's dpi."""
    least = kiosk.theme.touch_px(kiosk.dpi)
    found = []
    for w in walk(kiosk.root):
        if not isinstance(w, KButton) or w.opacity == 0:
            continue
        if min(w.size) < least - 0.5:
            found.append(f"{w.text!r} {w.width:.0f}x{w.height:.0f} < {least:.0f}px")
        x0, y0 = w.to_window(w.x, w.y)
        x1, y1 = w.to_window(w.right, w.top)
        outside = x0 < -1 or y0 < -1 or x1 > Window.width + 1 or y1 > Window.height + 1
        if outside and not _scrolled(w):
            found.append(f"{w.text!r} off screen at ({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f})")
    return found


def _scrolled(widget) -> bool:
    """Inside a ScrollView, off-screen rows are reachable by scrolling."""
    parent = widget.parent
    while parent is not None and parent is not Window:
        if isinstance(parent, ScrollView):
            return True
        parent = parent.parent
    return False


def test_every_screen_renders_in_both_languages_and_looks_with_no_missing_text(tmp_path):
    """One walk by touch; at each screen the citizen switches language and large text.

    Also: in both looks every button is at least the minimum touch size (15 mm normal,
    20 mm large) at the kiosk's dpi.
    """
    catalogs = {lang: load_catalog(lang) for lang in LANGUAGES}
    shown: dict[tuple[str, str], list[str]] = {}
    screens: set[str] = set()
    problems: list[str] = []
    with offline_kiosk(tmp_path, lang="zh") as (drv, devices, key):
        kiosk = drv.kiosk

        def texts() -> list[str]:
            drv.pump()
            return [w.text for w in walk(kiosk.root) if isinstance(getattr(w, "text", None), str)]

        def stop(name: str) -> None:
            screens.add(kiosk.current)
            shown[(name, "zh")] = texts()
            problems.extend(f"{name} normal: {p}" for p in small_targets(kiosk))
            drv.tap(kiosk.lang_button)
            assert kiosk.t.lang == "en"
            shown[(name, "en")] = texts()
            drv.tap(kiosk.large_button)
            assert kiosk.theme is LARGE
            drv.pump(2)
            problems.extend(f"{name} large: {p}" for p in small_targets(kiosk))
            kiosk.set_language("zh")  # back to the tour's look without another frame
            kiosk.toggle_large()

        seen = tour(drv, devices, key, stop, staff_code=STAFF_CODE)
        assert kiosk.t.misses == set()
    assert [s for s in STOPS if s in seen] == seen
    assert screens == set(SCREENS)
    assert problems == []
    for (name, lang), on_screen in shown.items():
        # No raw catalog key on screen (strict mode raised on any unknown one already).
        assert not [t for t in on_screen if t in catalogs[lang]], (name, lang)
        if lang == "en":  # no Chinese but the language button and the citizen's own name
            chinese = [
                t
                for t in on_screen
                if any("\u4e00" <= c <= "\u9fff" for c in t)
                and t != "简体中文"
                and SAMPLE_CITIZEN.name[0] not in t
            ]
            assert not chinese, name
        else:
            assert shown[(name, "en")] != on_screen, name
