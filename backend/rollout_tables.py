"""Tables of terminal groups and staged rollouts (backend/terminal_groups.py, rollouts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, utcnow


class TerminalGroup(Base):
    """A named set of terminals (a district, a pilot site) that rollouts go to stage by stage."""

    __tablename__ = "terminal_groups"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TerminalGroupMember(Base):
    """One terminal in one group; a terminal may be in several."""

    __tablename__ = "terminal_group_members"

    group_name: Mapped[str] = mapped_column(
        ForeignKey("terminal_groups.name", ondelete="CASCADE"), primary_key=True
    )
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rollout(Base):
    """A software version or a configuration bundle going out stage by stage."""

    __tablename__ = "rollouts"
    __table_args__ = (Index("ix_rollouts_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # software | bundle
    version: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]  # software: archive, sha256, size; bundle: the document
    stages: Mapped[dict[str, Any]]  # {"groups": [name, ..., "all"]}
    stage: Mapped[int] = mapped_column(default=0)  # the stage under way (index into groups)
    state: Mapped[str] = mapped_column(String(16))  # running | paused | aborted | done
    abort_failed: Mapped[int]  # abort when this many terminals failed
    abort_fraction: Mapped[float]  # or when failures reach this share of those sent
    wait_s: Mapped[int]  # a terminal without an outcome after this long counts as failed
    detail: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class RolloutTarget(Base):
    """One terminal of a rollout: its stage, the command sent, and its outcome."""

    __tablename__ = "rollout_targets"

    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    stage: Mapped[int]
    state: Mapped[str] = mapped_column(String(16))  # waiting|sent|accepted|succeeded|failed|skipped
    command_id: Mapped[str | None] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    running: Mapped[str | None] = mapped_column(String(64))  # the version it said it runs
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class RolloutEvent(Base):
    """The audit trail of a rollout and of the groups: who started, paused, resumed, aborted."""

    __tablename__ = "rollout_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int | None] = mapped_column(index=True)  # None: a change to a group
    action: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
