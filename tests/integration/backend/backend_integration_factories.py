"""Message factories for backend integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples


def submission(no: str) -> m.ApplicationSubmitted:
    """The canonical submission under a new application number and message id."""
    base = examples()["event.application_submitted"]
    update = {"message_id": m.new_message_id(), "application_no": no, "operation_id": no}
    return base.model_copy(update=update)


TERMINAL = "T0001"
KEY = bytes(range(32))


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition"):
    """Poll until `predicate()` is truthy; fail the test with `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")
