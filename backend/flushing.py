"""Ingest's flush: parents before children, append-only records in one statement per table.

The models have no relationship(), so SQLAlchemy's unit of work does not order inserts by
foreign key, and rows with an id the database generates go in one INSERT each: the ORM wants
each new id back, and on SQLite it cannot match a multi-row INSERT … RETURNING to its rows.
A batch of 200 submissions made 400 single-row INSERTs (history and SMS), most of ingest's time.

The records ingest writes once and nobody reads back as objects in the same transaction
(`APPEND_ONLY`) leave the unit of work at the flush and go in as one executemany per table,
without asking for their ids; everything else flushes as before.

While a batch is applied together (`holding`), `insert` keeps new rows out of the session
altogether: no unit of work tracks them (adding, cascading, expunging and the ORM's INSERT of
each were half of a submission's ingest), and they go in through Core at the flush, parents
first. Only there: a failure there rolls back the whole transaction, while a savepoint's
rollback would not take back rows that never were in the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert as _core_insert
from sqlalchemy.orm import Session

from .models import (
    ApplicationPromise,
    Base,
    BlobChunkRow,
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
        BlobChunkRow,
    }
)


# session.info keys: whether new rows are held out of the session, and the rows held.
_HOLDING = "holding_rows"
_HELD = "held_rows"


@contextmanager
def holding(session: Session) -> Iterator[None]:
    """While it lasts, `insert` holds new rows for the next `flush_parents_first`.

    Only around work whose failure rolls back the whole transaction (a batch applied
    together): rows held past a savepoint's rollback would still go in.
    """
    session.info[_HOLDING] = True
    try:
        yield
    finally:
        session.info[_HOLDING] = False


def is_holding(session: Session) -> bool:
    """Whether new rows are held now: work that a savepoint's rollback never takes back."""
    return bool(session.info.get(_HOLDING))


def insert(session: Session, obj: Any) -> None:
    """A new row that nothing in this transaction changes through `obj` after the flush.

    Held (see `holding`), it goes in through Core at the next `flush_parents_first` and a later
    read loads it anew; otherwise it is added to the session like any object.
    """
    if session.info.get(_HOLDING):
        # Its attributes as they stand at the flush: a caller may still set some.
        session.info.setdefault(_HELD, []).append((type(obj), obj.__dict__))
    else:
        session.add(obj)


def insert_row(session: Session, cls: type[Any], **values: Any) -> None:
    """A new `APPEND_ONLY` row of `cls`, by its attributes' values.

    Held (see `holding`), no object is made at all; otherwise it is added as an object.
    """
    if session.info.get(_HOLDING):
        session.info.setdefault(_HELD, []).append((cls, values))
    else:
        session.add(cls(**values))


def pending(session: Session) -> bool:
    """Whether a flush has anything to write: objects in the session or rows held."""
    return bool(session.new or session.dirty or session.deleted or session.info.get(_HELD))


def flush_parents_first(session: Session) -> None:
    """Flush, inserting rows of a table before the rows that point at them.

    Held rows (`insert`) and pending rows of an `APPEND_ONLY` class whose table no other row of
    the flush points at are taken out of the session and inserted after the others, one
    executemany per table; held rows that others point at (an application and its history) go
    in first. The rest flush in rounds: rows of a table pointing at another table with rows
    pending wait out of the session for the next round; an application with a row of its own
    pointing at it takes two rounds.
    """
    held: list[tuple[type[Any], dict[str, Any]]] = session.info.pop(_HELD, [])
    new = list(session.new)
    tables = {type(o).__table__ for o in new} | {cls.__table__ for cls, _attrs in held}
    pointed_at = set().union(*(_PARENTS[t] & tables for t in tables)) if tables else set()
    bulk: dict[Any, list[dict[str, Any]]] = {}
    first: dict[Any, list[dict[str, Any]]] = {}
    rest = []
    for obj in new:
        cls = type(obj)
        if cls in APPEND_ONLY and cls.__table__ not in pointed_at:
            bulk.setdefault(cls, []).append(obj.__dict__)
            session.expunge(obj)
        else:
            rest.append(obj)
    for cls, attrs in held:
        (first if cls.__table__ in pointed_at else bulk).setdefault(cls, []).append(attrs)
    _insert(session, first)
    _flush_in_rounds(session, rest)
    _insert(session, bulk)


def _insert(session: Session, rows: dict[Any, list[dict[str, Any]]]) -> None:
    """Rows by their attributes, through Core, parents first, one executemany per table and set
    of columns given (Core fills in the columns' defaults). On the session's connection: the
    session's own execute would flush the objects pending first, before the parents held here.

    Rows whose primary key is given go in in key order. Two PostgreSQL workers holding the same
    redelivered messages in opposite orders each inserted one key and then waited for the key
    the other had inserted, until PostgreSQL broke the deadlock (a second lost, and the batch
    applied again apart). In one order, the second to come waits for the first's commit at its
    first key in common, holding none of the others."""
    connection = session.connection()
    for cls in sorted(rows, key=lambda c: _ORDER[c.__table__]):
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for attrs in rows[cls]:
            row = _values(cls, attrs)
            groups.setdefault(tuple(row), []).append(row)
        key = [c.key for c in cls.__table__.primary_key]
        for columns, values in groups.items():
            if set(key) <= set(columns):
                values.sort(key=lambda row: tuple(row[k] for k in key))
            connection.execute(_core_insert(cls.__table__), values)


def _values(cls: type[Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """The columns a new row sets; an id left None is the database's to choose."""
    columns, generated = _columns(cls)
    return {
        columns[k]: v
        for k, v in sorted(attrs.items())
        if k in columns and not (v is None and k in generated)
    }


_COLUMNS: dict[type[Any], tuple[dict[str, str], set[str]]] = {}


def _columns(cls: type[Any]) -> tuple[dict[str, str], set[str]]:
    """A class's attribute names to column names, and its attributes the database generates."""
    if cls not in _COLUMNS:
        auto = cls.__table__.autoincrement_column
        attrs = cls.__mapper__.column_attrs
        _COLUMNS[cls] = (
            {p.key: p.columns[0].key for p in attrs},
            {p.key for p in attrs if p.columns[0] is auto},
        )
    return _COLUMNS[cls]


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
