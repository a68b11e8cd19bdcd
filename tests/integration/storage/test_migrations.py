"""Alembic migrations: from empty, from the first release's data, one head, models == schema."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import storage_release_models as release
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from backend import models
from backend.blobs import BlobStore
from backend.db import (
    BASELINE_REVISION,
    TABLE_MODULES,
    Database,
    MigrationError,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    metadata,
)
from backend.dead_letters import DeadLetter
from backend.ingest import Ingest
from backend.notifications.models import NotificationRow
from backend.sms import HeldSms
from cloud_bridge.contract import messages as m

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _schema_diff(engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata())


def test_exactly_one_head():
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, f"merge the heads {heads} (docs/backend.md, Adding a migration)"
    assert head_revision() == heads[0]
    # alembic_version.version_num is VARCHAR(32): PostgreSQL refuses a longer id mid-upgrade.
    too_long = [r.revision for r in script.walk_revisions() if len(r.revision) > 32]
    assert too_long == [], f"revision ids longer than 32 characters: {too_long}"


def test_every_table_module_is_known_to_the_migrations():
    """A table declared in a module outside TABLE_MODULES would escape the migrations."""
    root = Path(__file__).parents[3] / "backend"
    declaring = set()
    for path in root.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        if re.search(r"^class \w+\((models\.)?Base\):", path.read_text(), re.MULTILINE):
            rel = path.relative_to(root.parent).with_suffix("")
            declaring.add(".".join(rel.parts))
    assert declaring == set(TABLE_MODULES)


def test_from_empty_the_schema_equals_the_models(empty_database_url: str):
    db = Database(empty_database_url)
    try:
        assert current_revision(db.engine) is None
        assert db.migrate() == head_revision()
        diff = _schema_diff(db.engine)
        assert diff == [], (
            "backend/models.py differs from the migrated schema: add a revision "
            f"(docs/backend.md, Adding a migration): {diff}"
        )
        # A second start changes nothing.
        assert db.migrate() == head_revision()
    finally:
        db.dispose()


def _fill_release_database(url: str) -> None:
    """What a site running the first release holds: create_all's tables, with rows."""
    engine = create_engine(url)
    release.Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(release.Terminal(id="t-yuexiu-01", pickup_code_key=b"k" * 32, registered_at=T0))
        s.flush()
        s.add(
            release.Application(
                application_no="GZ-2026-000001",
                terminal_id="t-yuexiu-01",
                item_code="hukou-move",
                applicant_name="张三",
                id_document_type="cn_id",
                id_number="440104199001011234",
                phone="13800138000",
                applicant_ref="ref-1",
                identity={"name": "张三", "verified": True},
                status="submitted",
                submitted_at=T0,
                received_at=T0,
                updated_at=T0,
            )
        )
        s.flush()
        s.add(
            release.Material(
                application_no="GZ-2026-000001",
                material_code="hukou-book",
                sha256="a" * 64,
                size=12345,
                content_type="application/pdf",
                pages=2,
                valid_until=date(2026, 9, 1),
            )
        )
        s.add(
            release.WorkflowHistory(
                application_no="GZ-2026-000001", to_state="submitted", actor="terminal", at=T0
            )
        )
        s.add(
            release.ServiceRating(
                application_no="GZ-2026-000001",
                terminal_id="t-yuexiu-01",
                score=5,
                reasons=["快"],
                rated_at=T0,
            )
        )
        s.add(release.StaffAccount(username="clerk1", roles=["clerk"], password_hash="x"))
        s.add(
            release.AlarmRow(
                terminal_id="t-yuexiu-01",
                operation_id="op-1",
                kind="door_forced",
                severity="critical",
                raised_at=T0,
            )
        )
        s.add(
            release.NotificationRow(
                out_id="o1",
                application_no="GZ-2026-000001",
                kind="accepted",
                phone="13800138000",
                params={"no": "GZ-2026-000001"},
                next_attempt_at=T0,
            )
        )
        s.add(
            release.DeadLetter(
                topic="allhours/v1/t/t-yuexiu-01/up/submission",
                payload=b"{}",
                size=2,
                reason="IntegrityError",
                attempts=3,
                failed_at=T0,
            )
        )
        s.commit()
    engine.dispose()


def test_previous_release_database_upgrades_with_its_data(empty_database_url: str):
    _fill_release_database(empty_database_url)
    db = Database(empty_database_url)
    try:
        assert current_revision(db.engine) is None
        assert db.migrate() == head_revision()
        assert _schema_diff(db.engine) == []
        with db.transaction() as s:
            app = s.get(models.Application, "GZ-2026-000001")
            assert app is not None
            assert (app.applicant_name, app.id_number, app.status) == (
                "张三",
                "440104199001011234",
                "submitted",
            )
            assert app.submitted_at == T0 and app.identity == {"name": "张三", "verified": True}
            material = s.scalars(select(models.Material)).one()
            assert (material.sha256, material.pages, material.valid_until) == (
                "a" * 64,
                2,
                date(2026, 9, 1),
            )
            assert s.get(models.ServiceRating, "GZ-2026-000001").score == 5
            note = s.scalars(select(NotificationRow)).one()
            assert (note.phone, note.params) == ("13800138000", {"no": "GZ-2026-000001"})
            assert s.scalars(select(DeadLetter)).one().payload == b"{}"
            alarm = s.scalars(select(models.AlarmRow)).one()
            # Alarms of the first release became open alarms raised once.
            assert (alarm.kind, alarm.state, alarm.occurrences) == ("door_forced", "open", 1)
            assert alarm.last_raised_at == T0
            # Usable: the current code updates it (optimistic version bump) and adds rows.
            app.status = "accepted"
            s.add(
                models.WorkflowHistory(
                    application_no=app.application_no,
                    from_state="submitted",
                    to_state="accepted",
                    actor="clerk1",
                )
            )
        with db.transaction() as s:
            app = s.get(models.Application, "GZ-2026-000001")
            assert (app.status, app.version) == ("accepted", 2)
            history = s.scalars(
                select(models.WorkflowHistory.to_state).order_by(models.WorkflowHistory.id)
            ).all()
            assert history == ["submitted", "accepted"]
    finally:
        db.dispose()


def test_baseline_then_head_keeps_rows(empty_database_url: str):
    """Revision by revision: rows written at the baseline survive every later revision."""
    db = Database(empty_database_url)
    try:
        assert db.migrate(BASELINE_REVISION) == BASELINE_REVISION
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO terminals (id, pickup_code_key, registered_at) "
                    "VALUES ('t1', :k, :at)"
                ),
                {"k": b"k" * 32, "at": T0},
            )
        assert db.migrate() == head_revision()
        with db.transaction() as s:
            assert s.get(models.Terminal, "t1").registered_at == T0
    finally:
        db.dispose()


def test_chunks_held_across_the_per_terminal_upgrade_finish_their_file(
    empty_database_url: str, tmp_path: Path
):
    """0014 keys chunks by their sender, which earlier chunks do not record: a terminal that
    had sent part of a file before the upgrade sends only the rest after it (it had receipts
    for the rest), and the file must still be made whole."""
    data = bytes(range(256)) * 8
    sha = hashlib.sha256(data).hexdigest()
    db = Database(empty_database_url)
    try:
        db.migrate("0013_sms_first_attempt")
        with db.engine.begin() as conn:
            for digest, complete in ((sha, False), ("b" * 64, True)):
                conn.execute(
                    text(
                        "INSERT INTO blobs (sha256, total_size, chunk_count, complete, verified,"
                        " failures, first_chunk_at) VALUES (:sha, :size, 2, :c, :c, 0, :at)"
                    ),
                    {"sha": digest, "size": len(data), "c": complete, "at": T0},
                )
            conn.execute(
                text('INSERT INTO blob_chunks (sha256, "index", data) VALUES (:sha, 0, :data)'),
                {"sha": sha, "data": data[:1024]},
            )
        assert db.migrate() == head_revision()
        with db.transaction() as s:
            chunk = s.scalars(select(models.BlobChunkRow)).one()
            assert (chunk.terminal_id, chunk.total_size, chunk.count) == ("", len(data), 2)
            assert chunk.received_at == T0
            # A whole file no application names: no terminal's, retention's after two days.
            assert s.get(models.Blob, "b" * 64).held_for == ""
        ingest = Ingest(
            db, BlobStore(tmp_path / "blobs"), HeldSms(), SimpleNamespace(publish=print)
        )
        ingest.register_terminal("T0001", b"k" * 32)
        rest = m.blob_chunks("T0001", data, 1024)[1]

        result = ingest.handle_batch([(rest.topic(), rest.encode())])

        assert (result.stored, result.rejected) == (1, 0)
        assert (tmp_path / "blobs" / sha[:2] / sha).read_bytes() == data
        with db.transaction() as s:
            assert s.scalars(select(models.BlobChunkRow)).all() == []
            assert s.get(models.Blob, sha).verified
    finally:
        db.dispose()


def test_database_of_a_newer_release_is_refused(empty_database_url: str):
    db = Database(empty_database_url)
    try:
        db.migrate()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
        with pytest.raises(MigrationError, match=r"from_the_future.*newer release"):
            db.migrate()
    finally:
        db.dispose()


def test_half_made_database_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'half.db'}"
    engine = create_engine(url)
    release.Terminal.__table__.create(engine)
    engine.dispose()
    db = Database(url)
    try:
        with pytest.raises(MigrationError, match="some backend tables but not all"):
            db.migrate()
        assert "alembic_version" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def test_workers_starting_together_migrate_once(postgres_url: str):
    """Four worker processes upgrading one PostgreSQL database at once all end at the head."""
    code = (
        "import sys; from backend.db import make_engine, migrate; "
        "print(migrate(make_engine(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, postgres_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == [head_revision()] * 4
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def test_the_migrations_command_upgrades_and_reports(tmp_path, capsys):
    from backend.migrations.__main__ import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["upgrade", "--database-url", url]) == 0
    assert capsys.readouterr().out.strip() == f"database at {head_revision()}"
    assert main(["current", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert f"database: {head_revision()}" in out and f"code head: {head_revision()}" in out
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'zz_unknown'"))
    engine.dispose()
    assert main(["upgrade", "--database-url", url]) == 2
    assert "newer release" in capsys.readouterr().err
