"""Baseline: the schema of the first release (tables as create_all made them).

A database made by that release's create_all is stamped with this revision, not upgraded
(backend.db.migrate does it: tables present, no alembic_version). From here on every change
to backend/models.py comes with a revision (docs/backend.md, "Adding a migration").

Revision ID: 0001_baseline
Revises:
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backend_keys",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("storage_path", sa.String(length=255), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_chunk_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replayed_by", sa.String(length=64), nullable=True),
        sa.Column("replay_outcome", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "downstream_sequences",
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("terminal_id"),
    )
    op.create_table(
        "ingest_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "login_throttle",
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("out_id", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=True),
        sa.Column("application_no", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("template_code", sa.String(length=32), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("secret_names", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("biz_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
        sa.UniqueConstraint("out_id"),
    )
    op.create_index(
        op.f("ix_notifications_application_no"), "notifications", ["application_no"], unique=False
    )
    op.create_index(op.f("ix_notifications_phone"), "notifications", ["phone"], unique=False)
    op.create_index(
        "ix_notifications_phone_sent",
        "notifications",
        ["phone", "kind", "accepted_at"],
        unique=False,
    )
    op.create_index(
        "ix_notifications_state_due", "notifications", ["state", "next_attempt_at"], unique=False
    )
    op.create_table(
        "processed_messages",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_table(
        "rejected_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "reuse_queries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("operation_id", sa.String(length=128), nullable=False),
        sa.Column("applicant_ref", sa.String(length=64), nullable=False),
        sa.Column("offered", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_reuse_queries_applicant_ref"), "reuse_queries", ["applicant_ref"], unique=False
    )
    op.create_index(
        op.f("ix_reuse_queries_terminal_id"), "reuse_queries", ["terminal_id"], unique=False
    )
    op.create_table(
        "service_ratings",
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("application_no"),
    )
    op.create_index(
        op.f("ix_service_ratings_rated_at"), "service_ratings", ["rated_at"], unique=False
    )
    op.create_index(
        op.f("ix_service_ratings_terminal_id"), "service_ratings", ["terminal_id"], unique=False
    )
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "status_queries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("operation_id", sa.String(length=128), nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_status_queries_no_at", "status_queries", ["application_no", "at"], unique=False
    )
    op.create_index(
        op.f("ix_status_queries_terminal_id"), "status_queries", ["terminal_id"], unique=False
    )
    op.create_table(
        "terminal_connections",
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("connection", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("terminal_id"),
    )
    op.create_table(
        "terminals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("pickup_code_key", sa.LargeBinary(), nullable=False),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("software_version", sa.String(length=32), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("telemetry", sa.JSON(), nullable=True),
        sa.Column("telemetry_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "alarms",
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("operation_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("compartment_id", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
        ),
        sa.PrimaryKeyConstraint("terminal_id", "operation_id"),
    )
    op.create_table(
        "applications",
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("applicant_name", sa.String(length=64), nullable=False),
        sa.Column("id_document_type", sa.String(length=32), nullable=False),
        sa.Column("id_number", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("applicant_ref", sa.String(length=64), nullable=True),
        sa.Column("identity", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("deposit_expected", sa.Boolean(), nullable=False),
        sa.Column("deposit_compartment_id", sa.String(length=16), nullable=True),
        sa.Column("deposited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
        ),
        sa.PrimaryKeyConstraint("application_no"),
    )
    op.create_index(
        op.f("ix_applications_applicant_ref"), "applications", ["applicant_ref"], unique=False
    )
    op.create_index(op.f("ix_applications_phone"), "applications", ["phone"], unique=False)
    op.create_index(op.f("ix_applications_status"), "applications", ["status"], unique=False)
    op.create_index(
        op.f("ix_applications_terminal_id"), "applications", ["terminal_id"], unique=False
    )
    op.create_table(
        "blob_chunks",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["blobs.sha256"],
        ),
        sa.PrimaryKeyConstraint("sha256", "index"),
    )
    op.create_table(
        "commands",
        sa.Column("command_id", sa.String(length=32), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("operation_id", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
        ),
        sa.PrimaryKeyConstraint("command_id"),
    )
    op.create_index(op.f("ix_commands_operation_id"), "commands", ["operation_id"], unique=False)
    op.create_index("ix_commands_status", "commands", ["status"], unique=False)
    op.create_table(
        "notification_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("err_code", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_notification_reports_notification_id"),
        "notification_reports",
        ["notification_id"],
        unique=False,
    )
    op.create_table(
        "staff_actions",
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("version_seen", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_index(
        op.f("ix_staff_actions_application_no"), "staff_actions", ["application_no"], unique=False
    )
    op.create_index(op.f("ix_staff_actions_staff_id"), "staff_actions", ["staff_id"], unique=False)
    op.create_table(
        "staff_api_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_staff_api_tokens_staff_id"), "staff_api_tokens", ["staff_id"], unique=False
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index(
        op.f("ix_staff_sessions_staff_id"), "staff_sessions", ["staff_id"], unique=False
    )
    op.create_table(
        "application_promises",
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("promised_days", sa.Integer(), nullable=False),
        sa.Column("promised_by", sa.Date(), nullable=False),
        sa.Column("calendar_covered", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_no"],
            ["applications.application_no"],
        ),
        sa.PrimaryKeyConstraint("application_no"),
    )
    op.create_table(
        "load_operations",
        sa.Column("load_id", sa.String(length=128), nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("compartment_id", sa.String(length=16), nullable=True),
        sa.Column("size", sa.String(length=1), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code_rotation", sa.Integer(), nullable=False),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_no"],
            ["applications.application_no"],
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
        ),
        sa.PrimaryKeyConstraint("load_id"),
    )
    op.create_index(
        op.f("ix_load_operations_application_no"),
        "load_operations",
        ["application_no"],
        unique=False,
    )
    op.create_table(
        "material_supplements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("calendar_covered", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("supplied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_no"],
            ["applications.application_no"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_material_supplements_application_no"),
        "material_supplements",
        ["application_no"],
        unique=False,
    )
    op.create_index(
        op.f("ix_material_supplements_due_on"), "material_supplements", ["due_on"], unique=False
    )
    op.create_table(
        "materials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("reused_from", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_no"],
            ["applications.application_no"],
        ),
        sa.ForeignKeyConstraint(
            ["reused_from"],
            ["materials.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index(
        op.f("ix_materials_application_no"), "materials", ["application_no"], unique=False
    )
    op.create_index("ix_materials_sha256", "materials", ["sha256"], unique=False)
    op.create_table(
        "workflow_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_no"],
            ["applications.application_no"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_workflow_history_application_no"),
        "workflow_history",
        ["application_no"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_workflow_history_application_no"), table_name="workflow_history")
    op.drop_table("workflow_history")
    op.drop_index("ix_materials_sha256", table_name="materials")
    op.drop_index(op.f("ix_materials_application_no"), table_name="materials")
    op.drop_table("materials")
    op.drop_index(op.f("ix_material_supplements_due_on"), table_name="material_supplements")
    op.drop_index(op.f("ix_material_supplements_application_no"), table_name="material_supplements")
    op.drop_table("material_supplements")
    op.drop_index(op.f("ix_load_operations_application_no"), table_name="load_operations")
    op.drop_table("load_operations")
    op.drop_table("application_promises")
    op.drop_index(op.f("ix_staff_sessions_staff_id"), table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_index(op.f("ix_staff_api_tokens_staff_id"), table_name="staff_api_tokens")
    op.drop_table("staff_api_tokens")
    op.drop_index(op.f("ix_staff_actions_staff_id"), table_name="staff_actions")
    op.drop_index(op.f("ix_staff_actions_application_no"), table_name="staff_actions")
    op.drop_table("staff_actions")
    op.drop_index(
        op.f("ix_notification_reports_notification_id"), table_name="notification_reports"
    )
    op.drop_table("notification_reports")
    op.drop_index("ix_commands_status", table_name="commands")
    op.drop_index(op.f("ix_commands_operation_id"), table_name="commands")
    op.drop_table("commands")
    op.drop_table("blob_chunks")
    op.drop_index(op.f("ix_applications_terminal_id"), table_name="applications")
    op.drop_index(op.f("ix_applications_status"), table_name="applications")
    op.drop_index(op.f("ix_applications_phone"), table_name="applications")
    op.drop_index(op.f("ix_applications_applicant_ref"), table_name="applications")
    op.drop_table("applications")
    op.drop_table("alarms")
    op.drop_table("terminals")
    op.drop_table("terminal_connections")
    op.drop_index(op.f("ix_status_queries_terminal_id"), table_name="status_queries")
    op.drop_index("ix_status_queries_no_at", table_name="status_queries")
    op.drop_table("status_queries")
    op.drop_table("staff_accounts")
    op.drop_index(op.f("ix_service_ratings_terminal_id"), table_name="service_ratings")
    op.drop_index(op.f("ix_service_ratings_rated_at"), table_name="service_ratings")
    op.drop_table("service_ratings")
    op.drop_index(op.f("ix_reuse_queries_terminal_id"), table_name="reuse_queries")
    op.drop_index(op.f("ix_reuse_queries_applicant_ref"), table_name="reuse_queries")
    op.drop_table("reuse_queries")
    op.drop_table("rejected_messages")
    op.drop_table("processed_messages")
    op.drop_index("ix_notifications_state_due", table_name="notifications")
    op.drop_index("ix_notifications_phone_sent", table_name="notifications")
    op.drop_index(op.f("ix_notifications_phone"), table_name="notifications")
    op.drop_index(op.f("ix_notifications_application_no"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("login_throttle")
    op.drop_table("job_leases")
    op.drop_table("ingest_counters")
    op.drop_table("downstream_sequences")
    op.drop_table("dead_letters")
    op.drop_table("blobs")
    op.drop_table("backend_keys")
