"""Screen text from translation catalogs (`locale/<lang>.json`); no kivy here.

Every word a citizen reads comes from a catalog key. In strict mode (tests, `allhours
screenshots`) a missing key raises `MissingTranslation`; in service it falls back to the other
language and is remembered in `misses`, so a kiosk never shows a raw key or crashes over text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


class MissingTranslation(KeyError):
    """A key is absent from a catalog."""


def load_catalog(lang: str, directory: Path = LOCALE_DIR) -> dict[str, str]:
    """One language's catalog: a flat mapping of dotted keys to text with {placeholders}."""
    path = directory / f"{lang}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: a catalog maps string keys to string texts")
    return data


def catalog_differences(catalogs: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    """For each language, the keys other catalogs have and it lacks."""
    every = set().union(*(c.keys() for c in catalogs.values()))
    return {lang: every - c.keys() for lang, c in catalogs.items() if every - c.keys()}


class Translator:
    """Looks up keys in the current language."""

    def __init__(
        self,
        lang: str = DEFAULT_LANGUAGE,
        *,
        strict: bool = False,
        catalogs: dict[str, dict[str, str]] | None = None,
    ):
        self.catalogs = catalogs or {code: load_catalog(code) for code in LANGUAGES}
        if lang not in self.catalogs:
            raise ValueError(f"no catalog for language {lang!r}")
        self.lang = lang
        self.strict = strict
        self.misses: set[tuple[str, str]] = set()

    def set_language(self, lang: str) -> None:
        if lang not in self.catalogs:
            raise ValueError(f"no catalog for language {lang!r}")
        self.lang = lang

    def has(self, key: str) -> bool:
        return key in self.catalogs[self.lang]

    def __call__(self, key: str, **params: object) -> str:
        text = self.catalogs[self.lang].get(key)
        if text is None:
            self.misses.add((self.lang, key))
            if self.strict:
                raise MissingTranslation(f"{self.lang}: {key}")
            text = next((c[key] for c in self.catalogs.values() if key in c), key)
        return text.format(**params) if params else text

    def pick(self, zh: str, en: str) -> str:
        """Choose between two texts that come with data (catalog item names)."""
        return zh if self.lang == "zh" else en

    def keys(self) -> Iterable[str]:
        return self.catalogs[self.lang].keys()
