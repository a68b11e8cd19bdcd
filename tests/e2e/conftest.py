"""Fixtures for end-to-end tests: a real Mosquitto, the real backend, an emulated terminal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_spine import TERMINAL, ShiftableClock, Spine

from allhours.site import LocalSite
from backend.auth.accounts import Accounts

STAFF, PASSWORD = "e2e.staff", "Night-Shift-2026"


@pytest.fixture
def spine(tmp_path: Path) -> Iterator[Spine]:
    clock = ShiftableClock()
    with LocalSite(tmp_path, TERMINAL, clock=clock) as site:
        assert site.backend and site.node and site.devices
        # One person with every role, signed in as the console does (cookie + CSRF token).
        Accounts(site.backend.service.db).add(
            STAFF, ["clerk", "operator", "admin"], password=PASSWORD, must_change_password=False
        )
        with httpx.Client(base_url=site.backend.base_url, timeout=10) as api:
            r = api.post("/api/session", json={"username": STAFF, "password": PASSWORD})
            assert r.status_code == 200, r.text
            api.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            yield Spine(site.broker, site.backend, site.node, site.devices, api, clock)
