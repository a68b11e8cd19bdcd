"""The dashboard's figures: submissions, processing time and on-time rate, 好差评 ratings.

All days and hours are Beijing time. Office hours are 09:00-17:00 on working days of the
official calendar; the rest is "after hours", the share the self-service area exists for.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.contract.messages import SERVICE_TZ

from ..models import Application, ApplicationPromise, WorkflowHistory
from ..ratings import LOW_SCORE, ServiceRatings
from ..workdays import WorkingDayCalendar
from ..workflow import State

MAX_DAYS = 366
OFFICE_OPENS, OFFICE_CLOSES = time(9, 0), time(17, 0)
DECIDED = (State.APPROVED.value, State.REJECTED.value)
LEVELS = (5, 4, 3, 2, 1)  # GB/T 39734: 非常满意 满意 基本满意 不满意 非常不满意


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def after_hours(calendar: WorkingDayCalendar, at: datetime) -> bool:
    local = at.astimezone(SERVICE_TZ)
    if not calendar.is_working_day(local.date()):
        return True
    return not OFFICE_OPENS <= local.time() < OFFICE_CLOSES


def figures(
    session: Session, calendar: WorkingDayCalendar, today: date, days: int
) -> dict[str, Any]:
    """Everything the dashboard draws, for the `days` days up to and including `today`."""
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(0), SERVICE_TZ)
    rows = session.execute(
        select(
            Application.application_no,
            Application.submitted_at,
            Application.terminal_id,
            Application.item_code,
            ApplicationPromise.promised_by,
        )
        .outerjoin(
            ApplicationPromise, ApplicationPromise.application_no == Application.application_no
        )
        .where(Application.submitted_at >= since)
    ).all()
    decided_at = dict(
        session.execute(
            select(WorkflowHistory.application_no, func.min(WorkflowHistory.at))
            .join(Application, Application.application_no == WorkflowHistory.application_no)
            .where(Application.submitted_at >= since, WorkflowHistory.to_state.in_(DECIDED))
            .group_by(WorkflowHistory.application_no)
        ).all()
    )
    per_day: Counter[date] = Counter()
    per_hour: Counter[int] = Counter()
    per_terminal: Counter[str] = Counter()
    per_item: Counter[str] = Counter()
    late_hours = 0
    hours_by_item: dict[str, list[float]] = defaultdict(list)
    all_hours: list[float] = []
    working_days: list[float] = []
    on_time = with_promise = 0
    for no, submitted_at, terminal_id, item_code, promised_by in rows:
        local = submitted_at.astimezone(SERVICE_TZ)
        per_day[local.date()] += 1
        per_hour[local.hour] += 1
        per_terminal[terminal_id] += 1
        per_item[item_code] += 1
        late_hours += after_hours(calendar, submitted_at)
        done = decided_at.get(no)
        if done is None:
            continue
        done = _aware(done)
        hours = max((done - submitted_at).total_seconds() / 3600, 0.0)
        hours_by_item[item_code].append(hours)
        all_hours.append(hours)
        done_day = done.astimezone(SERVICE_TZ).date()
        working_days.append(calendar.working_days_between(local.date(), done_day))
        if promised_by is not None:
            with_promise += 1
            on_time += done_day <= promised_by
    total = len(rows)
    day_axis = [first + timedelta(days=n) for n in range(days)]
    return {
        "first": first,
        "today": today,
        "total": total,
        "per_day": [(d.isoformat(), per_day[d]) for d in day_axis],
        "per_hour": [(h, per_hour[h]) for h in range(24)],
        "per_terminal": sorted(per_terminal.items(), key=lambda kv: (-kv[1], kv[0])),
        "per_item": sorted(per_item.items(), key=lambda kv: (-kv[1], kv[0])),
        "after_hours": late_hours,
        "after_hours_share": round(late_hours / total, 3) if total else None,
        "processing": {
            "decided": len(all_hours),
            "median_hours": _round(percentile(all_hours, 0.5)),
            "p90_hours": _round(percentile(all_hours, 0.9)),
            "median_working_days": percentile(working_days, 0.5),
            "p90_working_days": percentile(working_days, 0.9),
            "with_promise": with_promise,
            "on_time": on_time,
            "on_time_rate": round(on_time / with_promise, 3) if with_promise else None,
            "by_item": [
                (item, len(v), _round(percentile(v, 0.5)), _round(percentile(v, 0.9)))
                for item, v in sorted(hours_by_item.items())
            ],
        },
        "ratings": _ratings(session, since),
    }


def _aware(at: datetime | str) -> datetime:
    """An aggregate's datetime as aware UTC (SQLite hands min() back naive, or as text)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _ratings(session: Session, since: datetime) -> dict[str, Any]:
    summary = ServiceRatings().summary(session, since=since)
    by_score = summary["total"]["by_score"]
    low = summary["low_scores"]
    return {
        "count": summary["total"]["count"],
        "average": summary["total"]["average"],
        "levels": [(level, by_score[str(level)]) for level in LEVELS],
        "low": low,
        "low_open": sum(1 for r in low if r["closed_at"] is None),
        "low_score": LOW_SCORE,
    }
