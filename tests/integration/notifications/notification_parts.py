"""Names the notification tests share (a module of its own: `conftest` is not importable safely
when several test folders each have one)."""

from __future__ import annotations

import re

TERMINAL = "T0001"
TERMINAL_KEY = bytes(range(32))
PHONE = "13800138000"
CODE = re.compile(r"取件码(\d{6})")
