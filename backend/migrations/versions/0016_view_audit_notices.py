"""staff_notices.about_staff_id: the person a security notice is about. A person's views of
personal data (applicants shown in full, scans opened) past the hourly signal raise one notice
to each admin naming them (backend/staff.py ViewLimits); escalations keep it empty.

Revision ID: 0016_view_audit_notices
Revises: 0015_token_origin
Created: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_view_audit_notices"
down_revision: str | Sequence[str] | None = "0015_token_origin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("about_staff_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_staff_notices_about_staff_id", "staff_accounts", ["about_staff_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_notices", schema=None) as batch_op:
        batch_op.drop_constraint("fk_staff_notices_about_staff_id", type_="foreignkey")
        batch_op.drop_column("about_staff_id")
