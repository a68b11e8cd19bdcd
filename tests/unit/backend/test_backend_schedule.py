"""Jobs once per cluster: the lease row, taken by one worker, handed over on expiry or stop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.__main__ import flag_overrides, parse_args
from backend.db import Database
from backend.schedule import ClusterLease
from backend.settings import BackendSettings, load_backend_settings

T0 = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'cluster.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_one_worker_of_two_holds_a_job_and_renews_it(db):
    clock = _Clock()
    one = ClusterLease(db, "command-resend", "backend.1", timedelta(minutes=3), clock)
    two = ClusterLease(db, "command-resend", "backend.2", timedelta(minutes=3), clock)

    assert one.hold() is True
    assert two.hold() is False
    clock.now += timedelta(minutes=2)
    assert one.hold() is True  # renewed: three more minutes from now
    clock.now += timedelta(minutes=2)
    assert two.hold() is False


def test_a_dead_holder_loses_the_job_when_its_lease_expires(db):
    clock = _Clock()
    one = ClusterLease(db, "command-resend", "backend.1", timedelta(minutes=3), clock)
    two = ClusterLease(db, "command-resend", "backend.2", timedelta(minutes=3), clock)
    assert one.hold()

    clock.now += timedelta(minutes=3)  # one stopped renewing (SIGKILL)

    assert two.hold() is True
    assert one.hold() is False


def test_a_stopping_worker_hands_the_job_over_at_once(db):
    clock = _Clock()
    one = ClusterLease(db, "command-resend", "backend.1", timedelta(minutes=3), clock)
    two = ClusterLease(db, "command-resend", "backend.2", timedelta(minutes=3), clock)
    assert one.hold()

    one.release()

    assert two.hold() is True
    assert one.held is False


def test_jobs_have_leases_of_their_own(db):
    clock = _Clock()
    resend = ClusterLease(db, "command-resend", "backend.1", timedelta(minutes=3), clock)
    sms = ClusterLease(db, "notifications", "backend.2", timedelta(minutes=3), clock)

    assert resend.hold() and sms.hold()


def test_workers_racing_for_a_new_lease_get_exactly_one_holder(db):
    """Eight workers start at once against one database: one runs the job."""
    start = threading.Barrier(8)
    won: list[str] = []

    def worker(n: int) -> None:
        lease = ClusterLease(db, "reminders", f"backend.{n}", timedelta(minutes=3))
        start.wait()
        if lease.hold():
            won.append(lease.holder)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert len(won) == 1


def test_a_lease_needs_a_positive_ttl(db):
    with pytest.raises(ValueError, match="positive ttl"):
        ClusterLease(db, "x", "backend.1", timedelta(0))


def test_worker_id_names_the_client_and_refuses_what_a_client_id_cannot_be(capsys):
    assert parse_args(["--ca-dir", "ca", "--worker-id", "hz-3"]).worker_id == "hz-3"
    assert load_backend_settings(
        None, flag_overrides(parse_args(["--ca-dir", "ca"]))
    ).client_id == ("backend.1")
    for bad in ("Bad_Name", "", "-x", "a" * 33, "a/b", "a+b"):
        with pytest.raises(SystemExit):
            parse_args(["--ca-dir", "ca", f"--worker-id={bad}"])
        assert "worker id" in capsys.readouterr().err


def test_named_brokers_come_from_flags_file_and_environment(tmp_path, monkeypatch):
    named = ("west=mq-west:8883", "north=b:1", "same=127.0.0.1:1883", "twin=b:1")
    args = parse_args(["--ca-dir", "ca", *(f"--broker={b}" for b in named)])
    settings = load_backend_settings(None, flag_overrides(args))
    assert settings.broker_addresses == {
        "west": ("mq-west", 8883),
        "north": ("b", 1),
        "same": ("127.0.0.1", 1883),
        "twin": ("b", 1),
    }
    # Ingested from once each, the default broker (127.0.0.1:1883) not twice.
    assert settings.extra_broker_addresses == [("mq-west", 8883), ("b", 1)]
    assert BackendSettings(ca_dir=Path("ca")).extra_broker_addresses == []
    conf = tmp_path / "backend.toml"
    conf.write_text('ca_dir = "ca"\nbrokers = { east = "mq-east:8883" }\n')
    assert load_backend_settings(conf).broker_addresses == {"east": ("mq-east", 8883)}
    monkeypatch.setenv("ALLHOURS_BACKEND_BROKERS", '{"south": "mq-south:8883"}')
    assert load_backend_settings(conf).broker_addresses == {"south": ("mq-south", 8883)}
    for bad in ("mq-west", "mq-west:0", "mq-west:http", ":8883", "mq:70000"):
        with pytest.raises(ValueError, match="expected HOST:PORT"):
            BackendSettings(ca_dir=Path("ca"), brokers={"west": bad})
    for name in ("West", "", "a" * 33, "a.b", "-x"):
        with pytest.raises(ValueError, match="broker's name"):
            BackendSettings(ca_dir=Path("ca"), brokers={name: "mq:8883"})
    with pytest.raises(SystemExit):
        parse_args(["--ca-dir", "ca", "--broker", "mq-west:8883"])


def test_allhours_backend_passes_named_brokers_to_the_worker_settings(tmp_path, capsys):
    from allhours.cli import main

    ca = ["--ca-dir", str(tmp_path / "ca"), "--database-url", f"sqlite:///{tmp_path}/b.db"]
    assert main(["backend", *ca, "--broker", "west=mq-west:0"]) == 2
    assert "brokers: west: 'mq-west:0': expected HOST:PORT" in capsys.readouterr().err
