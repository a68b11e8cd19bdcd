"""Broker assignment from the registry: a token names the broker (region or site group) its
terminal belongs to, the enrollment bundle carries that broker's address from the backend's
settings, and terminals on two Mosquittos reach one backend worker built from those settings;
a broker's SIGKILL and restart loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from allhours.bootstrap import Terminal, training_terminal
from allhours.broker import PrivateMosquitto, free_port
from allhours.story import Citizen, citizen_submits
from backend.bootstrap import build_backend
from backend.models import Application
from backend.settings import load_backend_settings
from cloud_bridge.link import wait_until
from provisioning.authority import EnrollmentRefused, SiteAuthority
from provisioning.enroll_client import EnrollmentFailed, enroll

pytestmark = pytest.mark.broker

EAST, WEST = "T0101", "T0201"
CITIZEN = Citizen(name="张三", id_number="11010519491231002X", phone="13800138000")
SCAN_ONLY = "SB-0203"


@pytest.fixture
def province(tmp_path: Path, site_ca: SiteAuthority, broker: PrivateMosquitto):
    """Brokers east (the suite's, also the default) and west under one site CA, and one backend
    worker built from settings that name both, with its enrollment endpoint."""
    west = PrivateMosquitto(tmp_path / "west", site_ca, name="west").start()
    settings = load_backend_settings(
        None,
        {
            "database_url": f"sqlite:///{tmp_path / 'backend.db'}",
            "blob_dir": tmp_path / "blobs",
            "ca_dir": site_ca.dir,
            "worker_id": "province",
            "broker_host": broker.host,
            "broker_port": broker.port,
            "brokers": {
                "east": f"{broker.host}:{broker.port}",
                "west": f"{west.host}:{west.port}",
            },
            "enroll_port": free_port(),
        },
    )
    backend = build_backend(settings)
    backend.service.start()
    backend.enrollment.start()
    try:
        assert backend.service.mqtt is not None
        assert len(backend.service.mqtt.links) == 2  # east named twice, linked once
        assert backend.service.mqtt.wait_ready(30)
        yield backend, broker, west
    finally:
        backend.enrollment.stop()
        backend.service.stop()
        west.stop()
        west.remove_data()


def _stored(backend, terminal_id: str) -> int:
    with backend.service.db.transaction() as s:
        q = select(func.count()).select_from(Application)
        return s.scalar(q.where(Application.terminal_id == terminal_id)) or 0


def test_tokens_assign_terminals_to_brokers_and_both_reach_one_backend(province, tmp_path):
    backend, east, west = province
    authority = backend.authority
    url = backend.enrollment.url

    # A token for a broker the backend does not name is refused at enrollment, unspent.
    stray = authority.issue_token("T0301", broker="north")
    with pytest.raises(EnrollmentFailed) as refused:
        enroll(url, str(stray), tmp_path / "T0301")
    assert refused.value.code == "unknown_broker"
    assert "north" in str(refused.value) and "east, west" in str(refused.value)
    assert [t.state for t in authority.tokens() if t.terminal_id == "T0301"] == ["pending"]
    assert not (tmp_path / "T0301" / "identity").exists()
    with pytest.raises(EnrollmentRefused) as bad_name:
        authority.issue_token("T0302", broker="North Region")
    assert bad_name.value.code == "bad_broker"

    identities = {
        tid: enroll(url, str(authority.issue_token(tid, broker=name)), tmp_path / tid)
        for tid, name in ((EAST, "east"), (WEST, "west"))
    }
    assert (identities[EAST].bundle.broker_port, identities[WEST].bundle.broker_port) == (
        east.port,
        west.port,
    )
    bundle = json.loads((tmp_path / WEST / "identity" / "bundle.json").read_text())
    assert bundle["broker"] == {"host": west.host, "port": west.port}
    assert (authority.broker_of(EAST), authority.broker_of(WEST)) == ("east", "west")
    listed = {i.cn: i.broker for i in authority.identities()}
    assert listed[EAST] == "east" and listed[WEST] == "west"

    terminals: list[Terminal] = []
    try:
        for tid in (EAST, WEST):
            terminal = training_terminal(tmp_path / tid)
            terminals.append(terminal)
            terminal.node.start()
            assert terminal.node.link.wait_connected(15), f"{tid} reached its broker"
        east_terminal, west_terminal = terminals
        for terminal in terminals:
            citizen_submits(terminal.node, terminal.emulated, CITIZEN, SCAN_ONLY, lambda _s: None)
        assert wait_until(lambda: _stored(backend, EAST) == _stored(backend, WEST) == 1, 60)
        links = backend.service.mqtt
        assert links.home_of(EAST) is links.links[0] and links.home_of(WEST) is links.links[1]

        # West's broker is SIGKILLed; its terminal keeps serving citizens offline, east carries
        # on; after the restart west's outbox delivers and every application is stored once.
        west.stop(kill=True)
        assert wait_until(lambda: not west_terminal.node.link.connected.is_set(), 30)
        for _ in range(2):
            citizen_submits(
                west_terminal.node, west_terminal.emulated, CITIZEN, SCAN_ONLY, lambda _s: None
            )
            citizen_submits(
                east_terminal.node, east_terminal.emulated, CITIZEN, SCAN_ONLY, lambda _s: None
            )
        assert wait_until(lambda: _stored(backend, EAST) == 3, 60)
        assert _stored(backend, WEST) == 1
        west.start()
        assert wait_until(lambda: _stored(backend, WEST) == 3, 90), "west's outbox delivered"
        assert wait_until(lambda: all(t.node.outbox.backlog() == 0 for t in terminals), 60)
        with backend.service.db.transaction() as s:
            numbers = list(s.scalars(select(Application.application_no)))
        assert len(numbers) == len(set(numbers)) == 6
    finally:
        for terminal in terminals:
            terminal.close()


def test_the_operator_assigns_a_broker_with_provision_token_and_sees_it_listed(
    site_ca: SiteAuthority, capsys
):
    from allhours.cli import main

    ca = ["--ca-dir", str(site_ca.dir)]
    assert main(["provision", "token", "T0401", "--broker", "west", *ca]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("ah1.T0401.")
    assert main(["provision", "token", "T0402", *ca]) == 0
    assert main(["provision", "token", "T0403", "--broker", "West/1", *ca]) == 1
    assert "not a broker name" in capsys.readouterr().err
    assert main(["provision", "list", *ca]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line}
    assert rows["T0401"][3] == "west" and rows["T0402"][3] == "default"  # token rows
    assert "T0403" not in rows
