"""Console wording from catalogs: Chinese first, English on request (a cookie remembers it)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fastapi import Request

CATALOGS = Path(__file__).parent / "catalogs"
LANGUAGES = ("zh", "en")
LANG_COOKIE = "allhours_lang"


class MissingWording(KeyError):
    """A key that the catalog lacks: a defect, caught by the catalog test."""


@cache
def catalog(lang: str) -> dict[str, str]:
    return json.loads((CATALOGS / f"{lang}.json").read_text(encoding="utf-8"))


def language(request: Request) -> str:
    """The ?lang= of this request, else the remembered one, else Chinese."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return asked if asked in LANGUAGES else "zh"


class Wording:
    """`t(key, **fields)` for templates: the catalog's text with the fields filled in."""

    def __init__(self, lang: str):
        self.lang = lang
        self.texts = catalog(lang)

    def __call__(self, key: str, **fields: object) -> str:
        try:
            text = self.texts[key]
        except KeyError:
            raise MissingWording(f"{self.lang}: {key}") from None
        return text.format(**fields) if fields else text
