"""Fixtures for end-to-end tests: a real Mosquitto, the real backend, an emulated terminal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_spine import TERMINAL, ShiftableClock, Spine

from allhours.site import LocalSite


@pytest.fixture
def spine(tmp_path: Path) -> Iterator[Spine]:
    clock = ShiftableClock()
    with LocalSite(tmp_path, TERMINAL, clock=clock) as site:
        assert site.backend and site.node and site.devices
        with httpx.Client(base_url=site.backend.base_url, timeout=10) as api:
            yield Spine(site.broker, site.backend, site.node, site.devices, api, clock)
