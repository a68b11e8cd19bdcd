"""Satisfaction ratings (好差评): one per application, queued in the outbox like every event.

The rating survives a restart and a cut link because it is an `event.service_rated` in the
durable outbox, settled by the backend's receipt. Its operation id is
`{application_no}#rating`, so the backend stores one per application; this terminal also
refuses to queue a second one, so a second tap costs nothing on the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from cloud_bridge.contract import messages as m
from cloud_bridge.local_db import LocalDatabase
from cloud_bridge.outbox import Outbox

SCORES = (5, 4, 3, 2, 1)
# At or below this score the citizen is offered the reasons to tap.
ASK_REASONS_AT = 2
REASONS = tuple(m.RatingReason)


class RatingRefused(ValueError):
    """A score or reason outside the fixed lists."""


class Ratings:
    """Queues ratings in the terminal's outbox, once per application."""

    def __init__(
        self,
        db: LocalDatabase,
        outbox: Outbox,
        terminal_id: str,
        clock: Callable[[], datetime] = m.utcnow,
    ):
        self.db, self.outbox, self.terminal_id, self.clock = db, outbox, terminal_id, clock

    def rate(
        self, application_no: str, score: int, reasons: Iterable[str | m.RatingReason] = ()
    ) -> bool:
        """Queue the rating; False if this application was rated here before."""
        if score not in SCORES:
            raise RatingRefused(f"score must be one of {SCORES}")
        try:
            chosen = sorted({m.RatingReason(r) for r in reasons})
        except ValueError:
            raise RatingRefused("unknown reason") from None
        now = self.clock()
        event = m.ServiceRated(
            terminal_id=self.terminal_id,
            operation_id=f"{application_no}#rating",
            application_no=application_no,
            score=score,
            reasons=chosen,
            rated_at=now,
        )
        with self.db.unit_of_work() as uow:
            inserted = uow.execute(
                "INSERT OR IGNORE INTO local_ratings VALUES (?, ?)",
                (application_no, now.isoformat()),
            ).rowcount
            if inserted:
                self.outbox.add(uow, event)
        return bool(inserted)

    def rated(self, application_no: str) -> bool:
        """True if this application was rated on this terminal."""
        return bool(
            self.db.read("SELECT 1 FROM local_ratings WHERE application_no = ?", (application_no,))
        )
