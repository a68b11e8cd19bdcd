"""Terminal groups: named sets of terminals (a district, a pilot site) that rollouts go to.

A terminal may be in several groups. Operators and admins create and delete groups and add or
remove terminals (fleet.configure); every change is written to the rollouts' audit trail
(`rollout_events`, with no rollout) with who made it. A rollout takes its stages' members when
it starts (backend/rollouts.py), so a change to a group later does not move a rollout under way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import Terminal
from .rollout_tables import RolloutEvent, TerminalGroup, TerminalGroupMember

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# "all" is every registered terminal in a rollout's stages, not a group one can create.
ALL = "all"
MAX_MEMBERS_PER_CHANGE = 5000


class GroupRefused(ValueError):
    """The change cannot be made as asked; the message says why."""


class NoSuchGroup(LookupError):
    pass


def _audit(session: Session, action: str, actor: str, detail: str) -> None:
    session.add(RolloutEvent(rollout_id=None, action=action, actor=actor, detail=detail[:2000]))


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise GroupRefused(
            f"group name {name[:50]!r}: lower-case letters, digits, - and _, at most 40"
        )
    if name == ALL:
        raise GroupRefused('"all" is every terminal already; it cannot be a group')
    return name


def create(session: Session, name: str, description: str, by: str) -> TerminalGroup:
    check_name(name)
    if session.get(TerminalGroup, name) is not None:
        raise GroupRefused(f"group {name} exists already")
    group = TerminalGroup(name=name, description=description[:200], created_by=by)
    session.add(group)
    _audit(session, "group_created", by, f"{name}: {description}")
    return group


def delete(session: Session, name: str, by: str) -> None:
    group = session.get(TerminalGroup, name)
    if group is None:
        raise NoSuchGroup(name)
    for member in session.scalars(
        select(TerminalGroupMember).where(TerminalGroupMember.group_name == name)
    ):
        session.delete(member)
    session.delete(group)
    _audit(session, "group_deleted", by, name)


def add_members(session: Session, name: str, terminals: Sequence[str], by: str) -> list[str]:
    """Add terminals to a group; returns those that were not in it yet."""
    if session.get(TerminalGroup, name) is None:
        raise NoSuchGroup(name)
    wanted = list(dict.fromkeys(terminals))
    if not wanted:
        raise GroupRefused("no terminal given")
    if len(wanted) > MAX_MEMBERS_PER_CHANGE:
        raise GroupRefused(f"at most {MAX_MEMBERS_PER_CHANGE} terminals per change")
    known = set(session.scalars(select(Terminal.id).where(Terminal.id.in_(wanted))))
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise GroupRefused(f"unknown terminal(s): {', '.join(unknown[:10])}")
    present = set(
        session.scalars(
            select(TerminalGroupMember.terminal_id).where(
                TerminalGroupMember.group_name == name,
                TerminalGroupMember.terminal_id.in_(wanted),
            )
        )
    )
    added = [t for t in wanted if t not in present]
    for terminal_id in added:
        session.add(TerminalGroupMember(group_name=name, terminal_id=terminal_id, added_by=by))
    if added:
        _audit(session, "members_added", by, f"{name}: {', '.join(added)}")
    return added


def remove_members(session: Session, name: str, terminals: Sequence[str], by: str) -> list[str]:
    if session.get(TerminalGroup, name) is None:
        raise NoSuchGroup(name)
    removed = []
    for terminal_id in dict.fromkeys(terminals):
        member = session.get(TerminalGroupMember, (name, terminal_id))
        if member is not None:
            session.delete(member)
            removed.append(terminal_id)
    if removed:
        _audit(session, "members_removed", by, f"{name}: {', '.join(removed)}")
    return removed


def members(session: Session, name: str) -> list[str]:
    """The terminals of a group, or every registered terminal for "all"."""
    if name == ALL:
        return list(session.scalars(select(Terminal.id).order_by(Terminal.id)))
    if session.get(TerminalGroup, name) is None:
        raise NoSuchGroup(name)
    return list(
        session.scalars(
            select(TerminalGroupMember.terminal_id)
            .where(TerminalGroupMember.group_name == name)
            .order_by(TerminalGroupMember.terminal_id)
        )
    )


def listing(session: Session) -> list[dict[str, Any]]:
    counts = dict(
        session.execute(
            select(TerminalGroupMember.group_name, func.count()).group_by(
                TerminalGroupMember.group_name
            )
        ).all()
    )
    return [
        {
            "name": g.name,
            "description": g.description,
            "members": counts.get(g.name, 0),
            "created_by": g.created_by,
            "created_at": g.created_at.isoformat(),
        }
        for g in session.scalars(select(TerminalGroup).order_by(TerminalGroup.name))
    ]


def groups_of(session: Session, terminal_id: str) -> list[str]:
    return list(
        session.scalars(
            select(TerminalGroupMember.group_name)
            .where(TerminalGroupMember.terminal_id == terminal_id)
            .order_by(TerminalGroupMember.group_name)
        )
    )
