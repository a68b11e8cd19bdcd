"""Configuration bundle rollout: from the push to every terminal's ack in the commands table.

A real mutual-TLS Mosquitto and the backend in process. Each simulated terminal is its own paho
client with its own certificate (enrolled through the site CA), subscribed to its commands topic
as a terminal is: it verifies the backend's signature and sequence number, decodes the command,
checks the catalog document with the terminal's real schema, and publishes a signed ack. The
backend verifies and ingests every ack and marks the command done. The figure is the time from
`ConfigBundles.push` to the last terminal's command being done, for N terminals, against one
terminal in the same run (the baseline).

    .venv/bin/python benchmarks/bundle_rollout.py [N]        # default 200
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import site_backend, wait
from sqlalchemy import func, select

from allhours.broker import PrivateMosquitto
from backend.catalog_bundles import ConfigBundles
from backend.models import CommandRow
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing, topics
from cloud_bridge.contract.catalog import BUILTIN_PATH, parse_catalog
from cloud_bridge.contract.signing import BackendKeys, TerminalSigner
from provisioning.authority import SiteAuthority

DOC = tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8"))


class SimTerminal:
    """Receives commands, checks them as a terminal does, acks them signed."""

    def __init__(self, host: str, port: int, keys: list[str], terminal_id: str, files):
        self.id = terminal_id
        self.signer = TerminalSigner.from_pem(files.key_file.read_bytes())
        self.keys = BackendKeys(keys)
        self.subscribed = threading.Event()
        self.refused = 0
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=terminal_id, protocol=mqtt.MQTTv5
        )
        self.client.tls_set(str(files.ca_file), str(files.cert_file), str(files.key_file))
        self.client.on_connect = lambda c, *_: c.subscribe(topics.commands(terminal_id), 1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 10)
        self.client.connect_async(host, port)
        self.client.loop_start()

    def _on_message(self, _c, _u, msg: mqtt.MQTTMessage) -> None:
        props = signing.user_properties(msg.properties)
        try:
            self.keys.verify(
                msg.topic, int(props[signing.SEQ]), msg.payload, props.get(signing.SIG)
            )
            cmd = m.decode(msg.payload)
            assert isinstance(cmd, m.ApplyConfigBundle)
            version = parse_catalog(cmd.catalog).version
        except Exception:
            self.refused += 1
            return
        ack = m.CommandAck(
            terminal_id=self.id,
            command_id=cmd.message_id,
            command_type=m.type_name(type(cmd)),
            operation_id=cmd.operation_id,
            outcome=m.AckOutcome.DONE,
            result={"config_version": version},
        )
        payload = ack.encode()
        out = Properties(PacketTypes.PUBLISH)
        out.UserProperty = (signing.SIG, self.signer.sign(ack.topic(), payload))
        self.client.publish(ack.topic(), payload, qos=1, properties=out)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# paho waits on select(): about 330 clients (three descriptors each) fill its 1024, so the
# terminals are spread over processes of at most this many.
PER_PROCESS = 250


def _sim_process(host, port, keys, group, ready, stop, refused) -> None:
    sims = [SimTerminal(host, port, keys, tid, files) for tid, files in group]
    deadline = time.monotonic() + 600  # a thousand TLS handshakes on a busy machine
    for sim in sims:
        if not sim.subscribed.wait(max(0.0, deadline - time.monotonic())):
            raise SystemExit(f"{sim.id} did not subscribe")
    ready.set()
    stop.wait()
    with refused.get_lock():
        refused.value += sum(s.refused for s in sims)
    for sim in sims:
        sim.close()


def _done(service, version: str) -> int:
    with service.db.transaction() as s:
        return s.scalar(
            select(func.count())
            .select_from(CommandRow)
            .where(CommandRow.operation_id == version, CommandRow.status == "done")
        )


def rollout(service, bundles: ConfigBundles, terminals: list[str], version: str) -> float:
    doc = dict(DOC, version=version)
    start = time.perf_counter()
    bundles.push(doc, terminals, by="benchmark")
    wait(lambda: _done(service, version) == len(terminals), timeout=600, interval=0.05)
    return time.perf_counter() - start


@contextmanager
def simulated_fleet(tmpdir: Path, n: int) -> Iterator[tuple[BackendService, list[str]]]:
    """A real broker, the backend in process and `n` simulated terminals connected to it.

    On leaving, the terminals stop first (none may have refused a command), then the backend
    and the broker, whatever failed in between."""
    # Every certificate is issued before the broker starts: issuing one while it runs updates
    # the running broker's site each time, which is not what is measured here.
    broker = PrivateMosquitto(tmpdir / "broker", SiteAuthority.create(tmpdir / "site-ca"))
    service, procs = None, []
    spawn = multiprocessing.get_context("spawn")
    stop, refused = spawn.Event(), spawn.Value("i", 0)
    try:
        ids = [f"T{i:05d}" for i in range(1, n + 1)]
        t0 = time.perf_counter()
        files = {tid: broker.client_tls(tid) for tid in ids}
        service = site_backend(broker, tmpdir)
        print(f"{n} terminal certificates issued in {time.perf_counter() - t0:.1f} s")
        broker.start()
        for tid in ids:
            service.register_terminal(tid, b"k" * 32)
        service.start()
        assert service.mqtt is not None and service.mqtt.wait_ready(60)
        t0 = time.perf_counter()
        keys = list(broker.authority.backend_signing_keys())
        for first in range(0, n, PER_PROCESS):
            group = [(tid, files[tid]) for tid in ids[first : first + PER_PROCESS]]
            ready = spawn.Event()
            args = (broker.host, broker.port, keys, group, ready, stop, refused)
            proc = spawn.Process(target=_sim_process, args=args, daemon=True)
            proc.start()
            procs.append((proc, ready))
        for proc, ready in procs:
            while not ready.wait(1):
                assert proc.is_alive(), "a process of simulated terminals ended early"
        print(f"{n} simulated terminals connected in {time.perf_counter() - t0:.1f} s")
        yield service, ids
        stop.set()
        for proc, _ in procs:
            proc.join(60)
        assert refused.value == 0, "a terminal refused a command"
    finally:
        stop.set()
        for proc, _ in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
        if service is not None:
            service.stop()
        broker.stop()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp, simulated_fleet(Path(tmp), n) as (service, ids):
        bundles = ConfigBundles(service.db, service)
        size = len(
            m.ApplyConfigBundle(
                terminal_id=ids[0],
                operation_id="x",
                bundle_version="x",
                catalog=DOC,
                expires_at=m.utcnow(),
            ).encode()
        )
        print(f"bundle: {len(DOC['item'])} items, {size} bytes per command")
        one = rollout(service, bundles, ids[:1], "bench-1")
        many = rollout(service, bundles, ids, "bench-n")
        print(f"baseline, 1 terminal:  {one * 1000:8.0f} ms")
        print(
            f"{n} terminals:        {many * 1000:8.0f} ms  ({many / n * 1000:.1f} ms per terminal)"
        )
        print(f"ratio: {many / one:.1f} x the one-terminal time for {n} x the terminals")


if __name__ == "__main__":
    main()
