"""Fixtures for terminal integration tests: a started TerminalNode and a fake backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from terminal_integration_parts import FakeBackend, build_node

from allhours.broker import PrivateMosquitto
from terminal.node import TerminalNode


@pytest.fixture
def start_backend(broker: PrivateMosquitto) -> Iterator[Callable[..., FakeBackend]]:
    """Start fake backends on the test's broker; each is stopped after the test."""
    started: list[FakeBackend] = []

    def start(**kwargs) -> FakeBackend:
        backend = FakeBackend(broker, **kwargs)
        started.append(backend)
        return backend.start()

    yield start
    for backend in started:
        backend.stop()


@pytest.fixture
def start_node(broker: PrivateMosquitto, tmp_path: Path) -> Iterator[Callable[..., TerminalNode]]:
    """Start the terminal node (with its board as `node.devices.lock`); stopped after the test."""
    started: list[TerminalNode] = []

    def start(**link: float | str) -> TerminalNode:
        """`link`: keys of the terminal's `[link]` table (allhours.settings)."""
        node, _board = build_node(broker, tmp_path / "terminal", **link)
        started.append(node)
        node.start()
        assert node.link.wait_connected(5), "terminal did not connect to the broker"
        return node

    yield start
    for node in started:
        node.stop()
