"""Finding a service item by typing: pinyin initials (HJZM for 户籍证明), code or English words."""

from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from cloud_bridge.contract.catalog import ServiceItem


@lru_cache(maxsize=512)
def initials(text: str) -> str:
    """Upper-case pinyin initials of the Chinese characters in `text` (others dropped)."""
    letters = lazy_pinyin(text, style=Style.FIRST_LETTER, errors="ignore")
    return "".join(s[:1] for s in letters if s).upper()


def matches(item: ServiceItem, query: str) -> bool:
    q = query.strip().upper()
    if not q:
        return True
    words = "".join(w[:1] for w in item.name_en.split()).upper()
    return (
        q in initials(item.name_zh)
        or q in item.code.upper().replace("-", "")
        or q in item.name_en.upper().replace(" ", "")
        or words.startswith(q)
    )


def category(item: ServiceItem) -> str:
    """The item's class code (HJ: household registration, ...), as the catalog gives it."""
    return item.service_class.code


FREQUENT = "*frequent"  # not a class: the items the catalog marks frequent


def search(items: tuple[ServiceItem, ...], query: str, cat: str | None = None) -> list[ServiceItem]:
    """Items matching `query` in class `cat` (None: all; FREQUENT: the frequent ones)."""
    if cat == FREQUENT:
        return [i for i in items if matches(i, query) and i.frequent]
    return [i for i in items if matches(i, query) and (cat is None or category(i) == cat)]
