"""The terminal's local record of what citizens did here, in the outbox's own SQLite file.

Sharing the file lets one transaction hold both the local record and the messages that report
it: either the citizen's submission and its outbound event are both on disk, or neither is.
Only masked personal data is kept here; the full record travels in the outbox and is gone
once the backend has it.
"""

from __future__ import annotations

from datetime import datetime

from cloud_bridge.outbox import Outbox, OutboxTransaction

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS local_applications (
        application_no TEXT PRIMARY KEY,
        item_code TEXT NOT NULL,
        applicant_masked TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        deposit_compartment TEXT,
        materials INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS reported_pickups (load_id TEXT PRIMARY KEY, at TEXT NOT NULL)""",
)


class TerminalStore:
    """Application numbers, local submission records and pickup reports."""

    def __init__(self, outbox: Outbox):
        self.outbox = outbox
        with outbox.transaction() as tx:
            for stmt in _SCHEMA:
                tx.execute(stmt)

    def next_application_no(self, now: datetime) -> str:
        """`AH-{terminal}-{yyyymmdd}-{nnnn}`, unique per terminal, never reused."""
        day = now.strftime("%Y%m%d")
        key = f"application:{day}"
        with self.outbox.transaction() as tx:
            tx.execute(
                "INSERT INTO counters VALUES (?, 1)"
                " ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (key,),
            )
            (value,) = tx.execute("SELECT value FROM counters WHERE name = ?", (key,)).fetchone()
        terminal = self.outbox.terminal_id.upper().replace("_", "-")
        return f"AH-{terminal}-{day}-{value:04d}"

    @staticmethod
    def record_submission(
        tx: OutboxTransaction,
        application_no: str,
        item_code: str,
        applicant_masked: str,
        submitted_at: datetime,
        deposit_compartment: str | None,
        materials: int,
    ) -> None:
        tx.execute(
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

    @staticmethod
    def record_pickup_reported(tx: OutboxTransaction, load_id: str, at: datetime) -> None:
        tx.execute(
            "INSERT OR IGNORE INTO reported_pickups VALUES (?, ?)", (load_id, at.isoformat())
        )

    def pickup_reported(self, load_id: str) -> bool:
        return bool(
            self.outbox.query("SELECT 1 FROM reported_pickups WHERE load_id = ?", (load_id,))
        )

    def local_application(self, application_no: str) -> dict[str, object] | None:
        rows = self.outbox.query(
            "SELECT application_no, item_code, applicant_masked, submitted_at,"
            " deposit_compartment, materials FROM local_applications WHERE application_no = ?",
            (application_no,),
        )
        if not rows:
            return None
        keys = (
            "application_no",
            "item_code",
            "applicant_masked",
            "submitted_at",
            "deposit_compartment",
            "materials",
        )
        return dict(zip(keys, rows[0], strict=True))
