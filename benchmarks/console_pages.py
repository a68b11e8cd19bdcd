"""Console page times with many applications on SQLite and on PostgreSQL 15, as ratios to
/healthz on the same database in the same run, and PostgreSQL's time as a ratio to SQLite's.

Served in-process by the real app (TestClient: no network hop), signed in as a supervisor.
Each application has a promised day and its four step deadlines (done as far as its state).
Measures the queue (all, one state, one deadline colour), a case page, a scanned page rendered
to PNG, a JSON detail by API token, the statistics dashboard (30 and 365 days), one pass of the
escalation job (the first, which raises and notifies, and a steady one), and one sign-in
(argon2id verification). Baseline: /healthz, which does one
`SELECT 1`, so each ratio is what the page costs beyond a round trip through the app.
PostgreSQL is a private throwaway cluster (allhours/postgres.py) on this machine, reached over
TCP on 127.0.0.1, fsync off (page reads do not write), analysed after the bulk load.

    .venv/bin/python benchmarks/console_pages.py [APPLICATIONS]
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "unit" / "console"))

from console_cases import KEY, PASSWORD, scanned_pdf, submit
from fastapi.testclient import TestClient
from sqlalchemy import text

from allhours.postgres import PrivatePostgres
from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.models import Application, ApplicationPromise, StepDeadline, WorkflowHistory
from backend.service import BackendService
from backend.step_deadlines import DONE_BY_STATE, split

NO = "AH-T0001-20261203-0001"


def _fill(service: BackendService, count: int) -> None:
    """`count` more applications written straight to the table (ingest is benchmarked apart)."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with service.db.transaction() as session:
        for i in range(count):
            session.add(
                Application(
                    application_no=f"AH-T000{1 + i % 3}-2026110{i % 9}-{i:05d}",
                    terminal_id="T0001",
                    item_code=("HJ-0101", "SB-0201", "JZ-0301")[i % 3],
                    applicant_name="王五",
                    id_document_type="cn_resident_id",
                    id_number="110105194912310021",
                    phone="13900139000",
                    identity={},
                    status=("submitted", "accepted", "under_review", "approved")[i % 4],
                    submitted_at=start + timedelta(minutes=i),
                )
            )
        session.flush()
        for i in range(count):
            no = f"AH-T000{1 + i % 3}-2026110{i % 9}-{i:05d}"
            submitted = start + timedelta(minutes=i)
            promised_by = (submitted + timedelta(days=3 + i % 30)).date()
            session.add(
                ApplicationPromise(application_no=no, promised_days=3, promised_by=promised_by)
            )
            # Its four steps (1/2/3/3 working days, by calendar days here), done as far as
            # its state: the queue's colour also compares the earliest open step's day.
            done = DONE_BY_STATE.get(("submitted", "accepted", "under_review", "approved")[i % 4])
            for step, days in split(3).items():
                session.add(
                    StepDeadline(
                        application_no=no,
                        step=step,
                        days=days,
                        due_on=promised_by - timedelta(days=3 - days),
                        done_at=submitted + timedelta(hours=1) if done and step in done else None,
                    )
                )
            if i % 4 == 3:  # approved: a decision for the processing-time figures
                session.add(
                    WorkflowHistory(
                        application_no=no,
                        from_state="under_review",
                        to_state="approved",
                        actor="clerk.li",
                        at=submitted + timedelta(hours=1 + i % 72),
                    )
                )


def _time(client: TestClient, url: str, runs: int, **kw) -> float:
    """Median milliseconds of `runs` GETs."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url, **kw)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    return statistics.median(times)


def _pass(service: BackendService) -> float:
    """Milliseconds of one escalation pass over every coloured case."""
    t0 = time.perf_counter()
    service.escalations.run(datetime.now(UTC))
    return (time.perf_counter() - t0) * 1000


def measure(database_url: str, blob_dir: Path, count: int) -> tuple[float, list]:
    """The baseline and the page times (ms) with `count` + 1 applications in `database_url`."""
    service = BackendService(database_url, blob_dir, broker_port=None)
    try:
        service.register_terminal("T0001", KEY)
        submit(service, NO, pdf=scanned_pdf())
        _fill(service, count)
        if service.db.engine.dialect.name == "postgresql":
            # Planner statistics as autovacuum keeps them in a running site (a bulk load has none).
            with service.db.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
        Accounts(service.db).add(
            "sup.ma", ["supervisor"], password=PASSWORD, must_change_password=False
        )
        _, token = account_with_token(service.db, "clerk.api", ["clerk"])
        with TestClient(create_app(service)) as client:
            form = client.get("/console/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            t0 = time.perf_counter()
            client.post(
                "/console/login",
                data={"username": "sup.ma", "password": PASSWORD, "csrf_token": csrf},
            )
            sign_in_ms = (time.perf_counter() - t0) * 1000
            base = _time(client, "/healthz", 50)
            rows = [
                ("queue, all (200 shown)", _time(client, "/console/queue", 20)),
                ("queue, state filter", _time(client, "/console/queue?state=approved", 20)),
                ("queue, colour filter", _time(client, "/console/queue?colour=red", 20)),
                ("case page", _time(client, f"/console/applications/{NO}", 20)),
                (
                    "scan page 1 to PNG",
                    _time(client, f"/console/applications/{NO}/materials/1/pages/1.png", 10),
                ),
                (
                    "API detail by token",
                    _time(client, f"/api/applications/{NO}", 20, headers=bearer(token)),
                ),
                ("statistics, 30 days", _time(client, "/console/statistics?days=30", 5)),
                ("statistics, 365 days", _time(client, "/console/statistics?days=365", 5)),
                ("escalation pass, first", _pass(service)),
                ("escalation pass, steady", _pass(service)),
                ("sign-in (argon2id)", sign_in_ms),
            ]
    finally:
        service.stop()
    return base, rows


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lite_base, lite = measure(f"sqlite:///{tmp}/b.db", Path(tmp) / "blobs-lite", count)
        with PrivatePostgres(Path(tmp) / "pg") as pg:
            pg_base, pgrows = measure(pg.create_database("console"), Path(tmp) / "blobs-pg", count)
    print(
        f"console pages with {count + 1} applications (median ms; x = / healthz on the same "
        "database; PG/SQLite = PostgreSQL's time / SQLite's)"
    )
    print(f"  {'':<26} {'SQLite':>10} {'':>8}   {'PostgreSQL':>10} {'':>8}   {'PG/SQLite':>9}")
    print(f"  {'healthz (baseline)':<26} {lite_base:8.2f} ms {'':>8}   {pg_base:8.2f} ms")
    for (name, ms), (_, pms) in zip(lite, pgrows, strict=True):
        print(
            f"  {name:<26} {ms:8.2f} ms {ms / lite_base:7.1f}x   "
            f"{pms:8.2f} ms {pms / pg_base:7.1f}x   {pms / ms:8.2f}x"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
