"""Ingest's flush: parents before children, append-only records in one statement per table.

The models have no relationship(), so SQLAlchemy's unit of work does not order inserts by
foreign key, and rows with an id the database generates go in one INSERT each: the ORM wants
each new id back, and on SQLite it cannot match a multi-row INSERT … RETURNING to its rows.
A batch of 200 submissions made 400 single-row INSERTs (history and SMS), most of ingest's time.

The records ingest writes once and nobody reads back as objects in the same transaction
(`APPEND_ONLY`) leave the unit of work at the flush and go in as one executemany per table,
without asking for their ids; everything else flushes as before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from .models import (
    ApplicationPromise,
    Base,
    Material,
    MaterialSupplement,
    ProcessedMessage,
    RejectedMessage,
    WorkflowHistory,
)
from .notifications.models import NotificationRow

# Each table with the tables its foreign keys point at, parents before children.
_PARENTS = {
    t: {fk.column.table for fk in t.foreign_keys} - {t} for t in Base.metadata.sorted_tables
}
_ORDER = {t: n for n, t in enumerate(Base.metadata.sorted_tables)}

# Rows written once, never changed through the object that made them, and pointed at by no
# other row a batch writes (the inserted objects are not kept: a later read loads them anew).
APPEND_ONLY: frozenset[type[Any]] = frozenset(
    {
        WorkflowHistory,
        NotificationRow,
        ProcessedMessage,
        RejectedMessage,
        Material,
        MaterialSupplement,
        ApplicationPromise,
    }
)


# Attribute name to column name, and the ids the database generates, of each such class.
_COLUMNS = {
    cls: {p.key: p.columns[0].key for p in cls.__mapper__.column_attrs} for cls in APPEND_ONLY
}


def _generated(cls: type[Any]) -> set[str]:
    auto = cls.__table__.autoincrement_column
    return {p.key for p in cls.__mapper__.column_attrs if p.columns[0] is auto}


_GENERATED = {cls: _generated(cls) for cls in APPEND_ONLY}


def flush_parents_first(session: Session) -> None:
    """Flush, inserting rows of a table before the rows that point at them.

    Pending rows of an `APPEND_ONLY` class whose table no other pending row points at are
    taken out of the session and inserted after the others, one executemany per table. The
    rest flush in rounds: rows of a table pointing at another table with rows pending wait out
    of the session for the next round; an application with a row of its own pointing at it
    takes two rounds.
    """
    pending = list(session.new)
    tables = {type(o).__table__ for o in pending}
    pointed_at = set().union(*(_PARENTS[t] & tables for t in tables)) if tables else set()
    bulk: dict[Any, list[Any]] = {}
    rest = []
    for obj in pending:
        cls = type(obj)
        if cls in APPEND_ONLY and cls.__table__ not in pointed_at:
            bulk.setdefault(cls, []).append(obj)
        else:
            rest.append(obj)
    for objs in bulk.values():
        for obj in objs:
            session.expunge(obj)
    _flush_in_rounds(session, rest)
    for cls in sorted(bulk, key=lambda c: _ORDER[c.__table__]):
        # One executemany per set of columns given (Core fills in the columns' defaults).
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for obj in bulk[cls]:
            row = _values(cls, obj)
            groups.setdefault(tuple(row), []).append(row)
        for rows in groups.values():
            session.execute(insert(cls.__table__), rows)


def _values(cls: type[Any], obj: Any) -> dict[str, Any]:
    """The columns set on a new object; an id left None is the database's to choose."""
    columns = _COLUMNS[cls]
    return {
        columns[k]: v
        for k, v in sorted(obj.__dict__.items())
        if k in columns and not (v is None and k in _GENERATED[cls])
    }


def _flush_in_rounds(session: Session, pending: list[Any]) -> None:
    tables = {type(o).__table__ for o in pending}
    level: dict[Any, int] = {}
    for table in _PARENTS:
        if table in tables:
            parents = _PARENTS[table] & tables
            level[table] = 1 + max((level[t] for t in parents), default=-1)
    for round_ in range(max(level.values(), default=0)):
        held = [o for o in pending if level[type(o).__table__] > round_]
        for obj in held:
            session.expunge(obj)
        session.flush()
        session.add_all(held)
        pending = held
    session.flush()
