"""Work on one thread while another holds a database transaction open (a module: tests import
it by name)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from backend.db import Database

# Under SQLite's busy timeout (10 s), which work waiting for the held transaction would reach.
WITHIN_S = 5.0


def done_while_held(
    db: Database, hold: Callable[[Session], object], work: Callable[[], object], reading: bool
) -> bool:
    """Whether `work` finished on another thread while a transaction that ran `hold` (a write
    flushed, or a read) stayed open; the transaction ends afterwards either way."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with db.reading() if reading else db.transaction() as session:
            hold(session)
            session.flush()
            held.set()
            release.wait(3 * WITHIN_S)

    holding = threading.Thread(target=holder)
    holding.start()
    worker = threading.Thread(target=work)
    try:
        assert held.wait(10), "the transaction did not begin"
        worker.start()
        worker.join(WITHIN_S)
        return not worker.is_alive()
    finally:
        release.set()
        holding.join(3 * WITHIN_S)
        if worker.ident is not None:
            worker.join(6 * WITHIN_S)
