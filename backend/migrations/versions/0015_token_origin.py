"""staff_api_tokens.created_from and .created_in_session: where a personal API token was asked
for (the client address, the console session's id hash), shown to its owner on the password
page, so a token minted at someone's unlocked browser is seen and can be revoked.

Tokens made before keep "" and no session: nothing recorded where they came from.

Revision ID: 0015_token_origin
Revises: 0014_blob_uploads_per_terminal
Created: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_token_origin"
down_revision: str | Sequence[str] | None = "0014_blob_uploads_per_terminal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("created_from", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("created_in_session", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_api_tokens", schema=None) as batch_op:
        batch_op.drop_column("created_in_session")
        batch_op.drop_column("created_from")
