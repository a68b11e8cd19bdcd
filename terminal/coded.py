"""Errors worded for the citizen, as keys of the kiosk's catalogs (`terminal/ui/locale`).

A flow, the materials checks and the USB import raise a `CitizenError` with a catalog key and
the values its text needs; the screen shows `t(exc.key, **exc.params)` in the session's
language, and `str(exc)` is the English text, for logs and the headless scripts. No citizen
text is written in code: `tests/unit/architecture/test_citizen_texts.py` fails on one.
"""

from __future__ import annotations

from functools import cache
from typing import Any


class CitizenError(Exception):
    """Something the citizen is told; `key` names the text in every catalog."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def text(self, translate: Any) -> str:
        """The text in a translator's language (a `terminal.ui.i18n.Translator`)."""
        return str(translate(self.key, **self.params))

    def __str__(self) -> str:
        return english(self.key, **self.params)


@cache
def _english() -> Any:
    from terminal.ui.i18n import Translator  # plain Python: the catalogs, no kivy

    return Translator("en")


def english(key: str, **params: object) -> str:
    """The English catalog text of `key`; the key itself if no catalog has it."""
    return _english()(key, **params)
