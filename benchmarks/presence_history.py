"""Presence history on SQLite and PostgreSQL 15: the console's terminal page with a terminal's
transitions, and the prune that keeps them bounded.

Page times are medians served in-process by the real app (TestClient), signed in as an
operator, as ratios to /healthz on the same database in the same run (one `SELECT 1`): a
terminal with no transitions, with 200 (what the prune keeps), and with 10,000 in the last
7 days (a terminal flapping for a week with no prune: the page shows 200, the offline totals
read all of the week's); then the one with 200 again among 5,000 other terminals with
telemetry. The prune is timed on 1,000 terminals with 250 transitions each (it drops 50 of
each), against the same prune run again with nothing left to drop (the baseline: the scan
alone). PostgreSQL is a private throwaway cluster (allhours/postgres.py), analysed after the
load.

    .venv/bin/python benchmarks/presence_history.py [TRANSITIONS]   # default 10000
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit" / "console"))

from console_cases import KEY, PASSWORD
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from allhours.postgres import PrivatePostgres
from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.models import PresenceTransition, Terminal, utcnow
from backend.service import BackendService

PRUNE_TERMINALS, PRUNE_EACH = 1_000, 250
FLEET = 5_000
TELEMETRY = {
    "uptime_s": 3600,
    "outbox_backlog": 0,
    "compartments": {"empty": 20, "holding_result": 4},
    "devices": {
        name: {"ok": True, "detail": "", "data": {"driver": "emulated", "errors": 0}}
        for name in ("printer", "card_reader", "face_camera", "document_camera", "lock", "usb")
    },
}


def _fleet(service: BackendService, n: int) -> None:
    """`n` more online terminals with a telemetry report each (the page must not read them)."""
    rows = [
        {
            "id": f"F{i:05d}",
            "pickup_code_key": KEY,
            "last_status": "online",
            "telemetry": TELEMETRY,
            "registered_at": utcnow(),
        }
        for i in range(n)
    ]
    with service.db.transaction() as s:
        s.execute(insert(Terminal), rows)


def _transitions(terminal_id: str, count: int, span: timedelta) -> list[dict]:
    """`count` transitions spread over `span` up to now, offline and online in turn."""
    now = utcnow()
    step = span / max(count, 1)
    return [
        {
            "terminal_id": terminal_id,
            "state": "offline" if i % 2 else "online",
            "reason": "connection_lost" if i % 2 else "",
            "connection": 1 + i // 2,
            "at": now - span + step * i,
        }
        for i in range(count)
    ]


def _load(service: BackendService, rows: list[dict]) -> None:
    with service.db.transaction() as s:
        for i in range(0, len(rows), 5_000):
            s.execute(insert(PresenceTransition), rows[i : i + 5_000])


def _analyse(service: BackendService) -> None:
    if service.db.engine.dialect.name == "postgresql":
        with service.db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))


def _time(client: TestClient, url: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    return statistics.median(times)


def _prune_ms(service: BackendService) -> tuple[float, int]:
    t0 = time.perf_counter()
    with service.db.transaction() as s:
        gone = service.presence.prune_history(s)
    return (time.perf_counter() - t0) * 1000, gone


def measure(database_url: str, blob_dir: Path, many: int) -> tuple[float, list, list]:
    service = BackendService(database_url, blob_dir, broker_port=None)
    try:
        for tid in ("T0001", "T0002", "T0003"):
            service.register_terminal(tid, KEY)
        with service.db.transaction() as s:
            for tid in ("T0001", "T0002", "T0003"):
                s.get(Terminal, tid).last_status = "online"
        _load(service, _transitions("T0002", 200, timedelta(days=7)))
        _load(service, _transitions("T0003", many, timedelta(days=7)))
        _analyse(service)
        Accounts(service.db).add(
            "op.zhao", ["operator"], password=PASSWORD, must_change_password=False
        )
        with TestClient(create_app(service)) as client:
            form = client.get("/console/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            client.post(
                "/console/login",
                data={"username": "op.zhao", "password": PASSWORD, "csrf_token": csrf},
            )
            base = _time(client, "/healthz", 50)
            page = "/console/fleet/terminals/"
            pages = [
                ("terminal page, 0 transitions", _time(client, page + "T0001", 20)),
                ("terminal page, 200", _time(client, page + "T0002", 20)),
                (f"terminal page, {many:,}", _time(client, page + "T0003", 20)),
            ]
            _fleet(service, FLEET)
            _analyse(service)
            pages.append((f"terminal page, 200, of {FLEET:,}", _time(client, page + "T0002", 20)))
        for n in range(PRUNE_TERMINALS):
            _load(service, _transitions(f"P{n:04d}", PRUNE_EACH, timedelta(days=30)))
        _analyse(service)
        drop_ms, gone = _prune_ms(service)
        scan_ms, none = _prune_ms(service)
        assert none == 0 and gone >= PRUNE_TERMINALS * (PRUNE_EACH - 200), gone
        prune = [(f"prune, {gone:,} dropped", drop_ms, scan_ms)]
    finally:
        service.stop()
    return base, pages, prune


def main(many: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = [("SQLite", measure(f"sqlite:///{tmp}/p.db", Path(tmp) / "b1", many))]
        with PrivatePostgres(Path(tmp) / "pg") as pg:
            results.append(
                ("PostgreSQL", measure(pg.create_database("presence"), Path(tmp) / "b2", many))
            )
    for name, (base, pages, prune) in results:
        print(f"presence history on {name} (median ms; x = / healthz {base:.2f} ms)")
        for label, ms in pages:
            print(f"  {label:<34} {ms:8.2f} ms {ms / base:7.1f}x")
        total = PRUNE_TERMINALS * PRUNE_EACH
        for label, ms, scan in prune:
            print(
                f"  {label:<34} {ms:8.2f} ms {ms / scan:7.2f}x of a prune with nothing to drop "
                f"({scan:.2f} ms, {total:,} rows)"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
