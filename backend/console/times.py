"""Times as the console shows them: in China Standard Time, and never a failed page.

The wire contract refuses a terminal's time outside 2000 … 2999, but a row stored before it did
(or written by other means) may hold one near year 9999, which `astimezone(SERVICE_TZ)` cannot
convert (OverflowError). Such a time is shown in UTC, saying so, instead of answering 500 on
every page that lists it (and hiding the buttons that act on it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from cloud_bridge.contract.messages import SERVICE_TZ


def local_text(at: datetime | str | None, fmt: str) -> str:
    """`at` formatted in China Standard Time, or in UTC (marked) when it cannot be; "" for None."""
    if at is None or at == "":
        return ""
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return at[:40]
    try:
        return at.astimezone(SERVICE_TZ).strftime(fmt)
    except (OverflowError, ValueError):
        pass
    try:
        return at.astimezone(UTC).strftime(fmt) + " UTC"
    except (OverflowError, ValueError):
        return at.isoformat()
