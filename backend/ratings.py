"""Satisfaction ratings (好差评): stored once per application, summarised for staff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.application_no import made_by

from .effects import AfterCommit
from .models import Application, ServiceRating, Terminal, utcnow
from .outcomes import DUPLICATE, STORED, Applied, Conflict

log = logging.getLogger(__name__)

# Scores at or below this are listed one by one for staff to follow up.
LOW_SCORE = 2
UNKNOWN_ITEM = "unknown"


class ServiceRatings:
    """The `event.service_rated` handler and the staff summary."""

    def __init__(self, clock: Callable[[], datetime] = utcnow):
        self.clock = clock

    def record(
        self, session: Session, msg: m.Message, terminal: Terminal, _after: AfterCommit
    ) -> Applied:
        """Store a rating; any later one for the same application is a duplicate."""
        assert isinstance(msg, m.ServiceRated)
        # Rated where it was submitted: another terminal's rating would take the citizen's place.
        if not made_by(msg.application_no, terminal.id):
            raise Conflict(f"{msg.application_no} is not an application number {terminal.id} makes")
        if session.get(ServiceRating, msg.application_no) is not None:
            return Applied(DUPLICATE)
        # No check that the application has arrived: with several ingest workers the rating
        # may be read before its submission commits, and a rating is worth keeping anyway.
        session.add(
            ServiceRating(
                application_no=msg.application_no,
                terminal_id=terminal.id,
                score=msg.score,
                reasons=sorted({r.value for r in msg.reasons}),
                rated_at=msg.rated_at,
                received_at=self.clock(),
            )
        )
        log.info("rating %d for %s from %s", msg.score, msg.application_no, terminal.id)
        return Applied(STORED)

    def summary(
        self,
        session: Session,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        """Counts and averages per item and per terminal, and low scores to follow up."""
        query = select(ServiceRating, Application.item_code).outerjoin(
            Application, Application.application_no == ServiceRating.application_no
        )
        if since is not None:
            query = query.where(ServiceRating.rated_at >= since)
        if until is not None:
            query = query.where(ServiceRating.rated_at < until)
        rows = session.execute(query.order_by(ServiceRating.rated_at)).all()
        by_item: dict[str, list[int]] = {}
        by_terminal: dict[str, list[int]] = {}
        low = []
        for rating, item_code in rows:
            by_item.setdefault(item_code or UNKNOWN_ITEM, []).append(rating.score)
            by_terminal.setdefault(rating.terminal_id, []).append(rating.score)
            if rating.score <= LOW_SCORE:
                low.append(
                    {
                        "application_no": rating.application_no,
                        "item_code": item_code or UNKNOWN_ITEM,
                        "terminal_id": rating.terminal_id,
                        "score": rating.score,
                        "reasons": list(rating.reasons or []),
                        "rated_at": rating.rated_at,
                        "closed_at": rating.closed_at,
                        "closed_by": rating.closed_by,
                        "closure_note": rating.closure_note,
                    }
                )
        scores = [r.score for r, _ in rows]
        return {
            "total": _figures(scores),
            "by_item": {k: _figures(v) for k, v in sorted(by_item.items())},
            "by_terminal": {k: _figures(v) for k, v in sorted(by_terminal.items())},
            "low_scores": low,
        }


def _figures(scores: list[int]) -> dict[str, Any]:
    return {
        "count": len(scores),
        "average": round(sum(scores) / len(scores), 2) if scores else None,
        "by_score": {str(s): scores.count(s) for s in range(5, 0, -1)},
    }


class NotLowScore(ValueError):
    """Only a low score is followed up and closed."""


def close_follow_up(
    session: Session, application_no: str, by: str, note: str, now: datetime
) -> ServiceRating:
    """Record how a low score was followed up (核实整改) and close it; once only."""
    rating = session.get(ServiceRating, application_no)
    if rating is None or rating.score > LOW_SCORE:
        raise NotLowScore(f"no low rating for {application_no}")
    if rating.closed_at is None:
        rating.closed_at, rating.closed_by, rating.closure_note = now, by, note[:500]
    return rating
