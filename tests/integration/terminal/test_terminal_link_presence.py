"""Presence on the wire: a retained `online` status, and the broker's retained `offline` will."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from terminal_integration_parts import TERMINAL

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[3]

# A whole terminal link in its own process, so the test can kill it like a power cut.
TINY_TERMINAL = textwrap.dedent(
    """
    import sys, time
    from cloud_bridge.commands import CommandDispatcher, HandledCommands
    from cloud_bridge.link import LinkSettings, TerminalLink
    from cloud_bridge.local_db import LocalDatabase
    from cloud_bridge.outbox import Outbox
    from provisioning.tls import ClientTls

    terminal_id, port, data, identity = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    db = LocalDatabase(data + "/terminal.sqlite")
    outbox = Outbox(db, data + "/blobs", terminal_id)
    settings = LinkSettings(
        port=port, keepalive=60, tls=ClientTls.in_dir(identity), backend_keys=(sys.argv[5],)
    )
    link = TerminalLink(
        terminal_id, outbox, CommandDispatcher(outbox, HandledCommands(db), terminal_id), settings,
        software_version="0.1.0",
    )
    link.start()
    if not link.wait_connected(10):
        sys.exit("no connection")
    print("connected", flush=True)
    time.sleep(60)
    """
)


def _status(backend, terminal_id: str, since: float = 0.0) -> list:
    return [r for r in backend.messages(m.Status, since) if r.message.terminal_id == terminal_id]


def test_link_publishes_a_retained_online_status_on_connect(start_node, start_backend):
    first = start_backend(client_id="backend.first", filters=(topics.status(TERMINAL),))
    node = start_node()
    assert first.wait_for(lambda: _status(first, TERMINAL))  # the broker has it now

    # A backend that connects only now still learns the terminal is online.
    backend = start_backend(client_id="backend.late", filters=(topics.status(TERMINAL),))

    assert backend.wait_for(lambda: _status(backend, TERMINAL))
    [retained] = _status(backend, TERMINAL)
    assert retained.retain is True
    assert retained.topic == topics.status(TERMINAL)
    assert retained.message.state == m.TerminalState.ONLINE
    assert retained.message.software_version == "0.1.0"
    assert node.link.connections == 1


def test_clean_stop_leaves_a_retained_offline_status(start_node, start_backend, broker):
    node = start_node()
    node.stop()

    late = start_backend(filters=(topics.status(TERMINAL),))

    assert late.wait_for(lambda: _status(late, TERMINAL))
    [retained] = _status(late, TERMINAL)
    assert retained.retain is True
    assert retained.message.state == m.TerminalState.OFFLINE


def test_broker_publishes_the_retained_offline_will_when_a_terminal_dies(
    start_backend, broker, tmp_path: Path
):
    terminal_id = "T0042"
    watcher = start_backend(client_id="backend.watcher", filters=(topics.status(terminal_id),))
    identity = broker.client_tls(terminal_id).cert_file.parent
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            TINY_TERMINAL,
            terminal_id,
            str(broker.port),
            str(tmp_path),
            str(identity),
            broker.authority.backend_signing_keys()[0],
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"connected\n", proc.stderr.read() if proc.stderr else line
        assert watcher.wait_for(lambda: _status(watcher, terminal_id))
        assert _status(watcher, terminal_id)[-1].message.state == m.TerminalState.ONLINE

        proc.send_signal(signal.SIGKILL)  # no DISCONNECT, no offline publish: only the will
        proc.wait(timeout=5)

        assert watcher.wait_for(
            lambda: _status(watcher, terminal_id)[-1].message.state == m.TerminalState.OFFLINE,
            timeout=5,
        )
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert proc.returncode == -signal.SIGKILL

    newcomer = start_backend(client_id="backend.newcomer", filters=(topics.status(terminal_id),))
    assert newcomer.wait_for(lambda: _status(newcomer, terminal_id))
    [retained] = _status(newcomer, terminal_id)
    assert retained.retain is True
    assert retained.message.state == m.TerminalState.OFFLINE
    assert retained.message.terminal_id == terminal_id


def test_each_connection_gets_a_higher_number_in_its_will_and_status_across_restarts(
    start_node, start_backend
):
    backend = start_backend(filters=(topics.status(TERMINAL),))
    first = start_node()
    assert backend.wait_for(lambda: _status(backend, TERMINAL))
    n1 = _status(backend, TERMINAL)[-1].message.connection
    first.stop()  # its clean offline status carries the same number
    assert backend.wait_for(lambda: _status(backend, TERMINAL)[-1].message.state == "offline")
    assert _status(backend, TERMINAL)[-1].message.connection == n1

    start_node()  # the same data directory: the count goes on
    assert backend.wait_for(
        lambda: _status(backend, TERMINAL)[-1].message.state == m.TerminalState.ONLINE
    )
    n2 = _status(backend, TERMINAL)[-1].message.connection
    assert n1 is not None and n2 is not None and n2 > n1
