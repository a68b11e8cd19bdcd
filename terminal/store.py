"""The terminal's local record of what citizens did here: a repository on the terminal database.

Its rows share the database with the outbox, so one unit of work holds both the local record and
the messages that report it: either the citizen's submission and its outbound event are both on
disk, or neither is. Only masked personal data is kept here; the full record travels in the
outbox and is gone once the backend has it.
"""

from __future__ import annotations

from datetime import datetime

from cloud_bridge.contract import application_no, topics
from cloud_bridge.local_db import LocalDatabase, UnitOfWork

_APPLICATION_KEYS = (
    "application_no",
    "item_code",
    "applicant_masked",
    "submitted_at",
    "deposit_compartment",
    "materials",
)


class TerminalStore:
    """Application numbers, local submission records and pickup reports."""

    def __init__(self, db: LocalDatabase, terminal_id: str):
        self.db = db
        self.terminal_id = topics.check_terminal_id(terminal_id)

    def next_application_no(self, now: datetime) -> str:
        """`AH-{terminal}-{yyyymmdd}-{nnnn}`, unique per terminal, never reused."""
        key = f"application:{now:%Y%m%d}"
        with self.db.unit_of_work() as uow:
            uow.execute(
                "INSERT INTO counters VALUES (?, 1)"
                " ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (key,),
            )
            (value,) = uow.execute("SELECT value FROM counters WHERE name = ?", (key,)).fetchone()
        return application_no.make(self.terminal_id, now.date(), value)

    def record_submission(
        self,
        uow: UnitOfWork,
        application_no: str,
        item_code: str,
        applicant_masked: str,
        submitted_at: datetime,
        deposit_compartment: str | None,
        materials: int,
    ) -> None:
        uow.execute(
            "INSERT INTO local_applications VALUES (?, ?, ?, ?, ?, ?)",
            (
                application_no,
                item_code,
                applicant_masked,
                submitted_at.isoformat(),
                deposit_compartment,
                materials,
            ),
        )

    def record_pickup_reported(self, uow: UnitOfWork, load_id: str, at: datetime) -> None:
        uow.execute(
            "INSERT OR IGNORE INTO reported_pickups VALUES (?, ?)", (load_id, at.isoformat())
        )

    def pickup_reported(self, load_id: str) -> bool:
        return bool(self.db.read("SELECT 1 FROM reported_pickups WHERE load_id = ?", (load_id,)))

    def local_application(self, application_no: str) -> dict[str, object] | None:
        rows = self.db.read(
            f"SELECT {', '.join(_APPLICATION_KEYS)} FROM local_applications"
            " WHERE application_no = ?",
            (application_no,),
        )
        if not rows:
            return None
        return dict(zip(_APPLICATION_KEYS, rows[0], strict=True))
