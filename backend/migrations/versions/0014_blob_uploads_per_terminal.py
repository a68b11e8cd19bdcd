"""Blob uploads per terminal: `blob_chunks` keyed by (sha256, terminal_id, index), with what the
upload announced and when each chunk came; `blobs.held_for`, the terminal an unnamed whole file
counts against; `rejected_messages.received_at` indexed for retention.

One terminal's chunk announcing another size or count for a file blocked every other
terminal's upload of it for good, and nothing tied a file no application names to its sender,
so nothing could cap or expire it per terminal.

Chunks already held keep their upload under terminal_id "" (sender not recorded), with the size
and count their file's row had from them; the first terminal to send that file again takes them
over. Whole files no application names get held_for "": retention's short window reaches them,
no terminal's cap counts them.

Revision ID: 0014_blob_uploads_per_terminal
Revises: 0013_sms_first_attempt
Created: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_blob_uploads_per_terminal"
down_revision: str | Sequence[str] | None = "0013_sms_first_attempt"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _chunks_table(*columns: sa.Column, key: Sequence[str]) -> sa.Table:
    """`blob_chunks` as it stands, for SQLite's copy: its primary key named, so it can be
    dropped (SQLite reflects it unnamed; PostgreSQL named it blob_chunks_pkey)."""
    return sa.Table(
        "blob_chunks",
        sa.MetaData(),
        sa.Column("sha256", sa.String(length=64), sa.ForeignKey("blobs.sha256"), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint(*key, name="blob_chunks_pkey"),
    )


def upgrade() -> None:
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_for", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_blobs_held_for"), ["held_for"], unique=False)
    op.execute(
        "UPDATE blobs SET held_for = '' WHERE complete"
        " AND NOT EXISTS (SELECT 1 FROM materials WHERE materials.sha256 = blobs.sha256)"
    )
    with op.batch_alter_table("blob_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("terminal_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("total_size", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("received_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE blob_chunks SET terminal_id = '',"
        " total_size = (SELECT total_size FROM blobs WHERE blobs.sha256 = blob_chunks.sha256),"
        ' "count" = (SELECT chunk_count FROM blobs WHERE blobs.sha256 = blob_chunks.sha256),'
        " received_at = (SELECT first_chunk_at FROM blobs WHERE blobs.sha256 = blob_chunks.sha256)"
    )
    added = (
        sa.Column("terminal_id", sa.String(length=64), nullable=True),
        sa.Column("total_size", sa.BigInteger(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table(
        "blob_chunks", schema=None, copy_from=_chunks_table(*added, key=("sha256", "index"))
    ) as batch_op:
        for column in added:
            batch_op.alter_column(column.name, existing_type=column.type, nullable=False)
        batch_op.drop_constraint("blob_chunks_pkey", type_="primary")
        batch_op.create_primary_key("blob_chunks_pkey", ["sha256", "terminal_id", "index"])
    with op.batch_alter_table("blob_chunks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_blob_chunks_terminal_id"), ["terminal_id"], unique=False
        )
    with op.batch_alter_table("rejected_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rejected_messages_received_at"), ["received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rejected_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rejected_messages_received_at"))
    # One upload per file again: the chunks of the terminal first in order stay, and the file's
    # row takes what they announced.
    op.execute(
        "DELETE FROM blob_chunks WHERE terminal_id <> (SELECT MIN(c.terminal_id)"
        " FROM blob_chunks c WHERE c.sha256 = blob_chunks.sha256)"
    )
    op.execute(
        "UPDATE blobs SET"
        " total_size = (SELECT MIN(total_size) FROM blob_chunks c WHERE c.sha256 = blobs.sha256),"
        ' chunk_count = (SELECT MIN("count") FROM blob_chunks c WHERE c.sha256 = blobs.sha256)'
        " WHERE EXISTS (SELECT 1 FROM blob_chunks c WHERE c.sha256 = blobs.sha256)"
    )
    with op.batch_alter_table("blob_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blob_chunks_terminal_id"))
    now = (
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table(
        "blob_chunks",
        schema=None,
        copy_from=_chunks_table(*now, key=("sha256", "terminal_id", "index")),
    ) as batch_op:
        batch_op.drop_constraint("blob_chunks_pkey", type_="primary")
        batch_op.create_primary_key("blob_chunks_pkey", ["sha256", "index"])
        for column in now:
            batch_op.drop_column(column.name)
    # In place: a copy of `blobs` could not drop the table its chunks point at (SQLite).
    with op.batch_alter_table("blobs", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_blobs_held_for"))
        batch_op.drop_column("held_for")
