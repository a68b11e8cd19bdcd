"""pcscd + vpcd for the eMRTD tests: one pcscd per session (machine-wide lock), a card per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from devices.identity.emrtd.pcscd import PcscdHost
from devices.identity.emrtd.vpcd import VpcdCardLink


@pytest.fixture(scope="session")
def pcsc_host() -> Iterator[PcscdHost]:
    """pcscd with the vpcd reader, started once (before any test, so the guard allows it)."""
    host = PcscdHost()
    host.start()
    try:
        yield host
    finally:
        host.stop()


@pytest.fixture
def insert_card(pcsc_host: PcscdHost) -> Iterator[Callable[..., VpcdCardLink]]:
    """Put a virtual card into the vpcd reader; every link is stopped after the test."""
    links: list[VpcdCardLink] = []

    def insert(card) -> VpcdCardLink:
        link = VpcdCardLink(card).start()
        links.append(link)
        assert link.wait_inserted(10), f"vpcd did not accept the card: {link.last_error}"
        return link

    yield insert
    for link in links:
        link.stop()
