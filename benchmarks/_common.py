"""Shared set-up for the benchmarks: a private broker and a backend in a temp directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from allhours.broker import PrivateMosquitto
from backend.db import Database
from backend.enrollment import worker_identity
from backend.queries import ingest_stats
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from provisioning.authority import SiteAuthority

TERMINAL = "T0001"


def application(n: int, terminal_id: str = TERMINAL) -> m.ApplicationSubmitted:
    """A distinct, valid application_submitted event with no files."""
    no = f"AH-{terminal_id}-20261120-{n:05d}"
    return m.ApplicationSubmitted(
        terminal_id=terminal_id,
        operation_id=no,
        application_no=no,
        item_code="SB-0203",
        applicant=m.Applicant(
            name="张三",
            id_document_type="cn_resident_id",
            id_number="11010519491231002X",
            phone="13800138000",
        ),
        identity=m.IdentityDecision(
            method="face", verified=True, face_distance=0.4, threshold=0.5, liveness_passed=True
        ),
        materials=[],
        submitted_at=datetime(2026, 11, 20, 21, 0, tzinfo=UTC),
    )


def stored(db: Database) -> int:
    with db.reading() as session:  # polled beside the workers: never their write lock
        return int(ingest_stats(session, limit=0)["stored"])


def wait(predicate: Callable[[], bool], timeout: float, interval: float = 0.005) -> float:
    """Seconds until predicate() held; raises TimeoutError."""
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(interval)
    return time.perf_counter() - start


def site_broker(tmpdir: Path) -> PrivateMosquitto:
    """A started private mutual-TLS Mosquitto under a fresh site CA in `tmpdir`."""
    authority = SiteAuthority.create(tmpdir / "site-ca")
    return PrivateMosquitto(tmpdir / "broker", authority).start()


def site_backend(broker: PrivateMosquitto, tmpdir: Path, **kwargs: Any) -> BackendService:
    """A backend worker (not started) on SQLite in `tmpdir`, with its certificate of the site."""
    client_id = kwargs.pop("client_id", "backend.bench")
    return BackendService(
        f"sqlite:///{tmpdir / 'b.sqlite'}",
        tmpdir / "blobs",
        broker.host,
        broker.port,
        client_id=client_id,
        credentials=worker_identity(broker.authority, client_id),
        **kwargs,
    )
