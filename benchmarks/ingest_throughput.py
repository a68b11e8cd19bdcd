"""Backend ingest rate over a real Mosquitto, against mosquitto_sub receiving the same stream.

For each number of backend workers (1, 2 and 4 by default), a fresh broker and SQLite
database: the workers (separate processes, as deployed, each with its own client id, in the
contract's shared group) and mosquitto_sub subscribe before the publisher starts; the publisher
sends N distinct, signed application_submitted events at QoS 1 as fast as the broker takes
them. mosquitto_sub only prints each message; the workers check signatures, validate, dedupe,
commit, publish receipts and ack. The ratio says what the backend's guarantees cost against
bare delivery, measured in the same run. On a machine shared with other work the rates move
with its load, so the CPU time each side spent per event is printed too (the workers' from
subscribed to stopped, in all and by thread: the MQTT network thread, the ingest thread and
the rest; mosquitto_sub's whole run): that figure barely moves with load. Last,
the CPU the machine's cores leave the workers per event at 0.8 x mosquitto_sub's rate, once the
publisher, Mosquitto and mosquitto_sub of the same run have had theirs: a worker using more than
that cannot reach the goal on this machine however it is split.

A broker-free figure comes first: the same events through `Ingest.handle_batch` in batches of
the worker's `batch_max`, applied together (the normal path) and apart (a savepoint per
message, the path a batch takes when one of its messages fails), to show what batching is
worth, and together again with two scanned pages named by each submission (as a kiosk's are:
material rows, and the look-up of which files are verified blobs). Then the files themselves:
scanned pages of 170 KB as a terminal's outbox cuts them (48 KiB chunks), through
`handle_batch` on SQLite and on PostgreSQL, together and apart (each chunk in a savepoint of
its own, as every chunk was applied before chunks joined `_TOGETHER`).

    .venv/bin/python benchmarks/ingest_throughput.py [N] [WORKERS ...]
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import TERMINAL, application, site_broker, stored, wait

from allhours.postgres import PostgresError, PrivatePostgres
from backend import ingest as ingest_module
from backend.__main__ import freeze_startup_heap
from backend.db import Database
from backend.enrollment import worker_identity
from backend.models import Blob
from backend.mqtt import MqttSettings
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing
from cloud_bridge.contract.signing import TerminalSigner
from provisioning.authority import BACKEND, SiteAuthority

BATCH = MqttSettings().batch_max  # the size a loaded worker's batches reach
GOAL = 0.8  # issue 14: one worker at 0.8 x mosquitto_sub's rate


class _Discard:
    def publish(self, _message) -> None:
        pass


def _signature(signer: TerminalSigner, topic: str, payload: bytes) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = (signing.SIG, signer.sign(topic, payload))
    return props


def _worker(
    db_url: str, blob_dir: str, host: str, port: int, ca_dir: str, name: str, ready, stop, cpu
):
    """One backend worker process: ingest only, until `stop` is set; puts its CPU seconds by
    thread ({"network": ..., "ingest": ..., "other": ...}) on the queue `cpu`."""
    client_id = f"backend.{name}"
    service = BackendService(
        db_url,
        blob_dir,
        host,
        port,
        client_id=client_id,
        credentials=worker_identity(SiteAuthority(Path(ca_dir)), client_id),
    )
    service.start()
    freeze_startup_heap()  # as `python -m backend` does
    assert service.mqtt is not None and service.mqtt.wait_ready(60)
    start = _threads_cpu()
    ready.set()
    stop.wait()
    end = _threads_cpu()
    cpu.put({part: end.get(part, 0.0) - start.get(part, 0.0) for part in end})
    service.stop()


_PARTS = {"backend-ingest": "ingest"}  # and paho's thread, named after its client id


def _threads_cpu() -> dict[str, float]:
    """This process's CPU seconds by part: the MQTT network thread (paho, the signature check,
    acks), the ingest thread, and the rest (scheduled jobs, the main thread), from /proc."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    parts: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        name = names.get(int(task.name), "")
        part = "network" if name.startswith("paho-mqtt-client") else _PARTS.get(name, "other")
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            parts[part] = parts.get(part, 0.0) + _stat_cpu(task / "stat")
    return parts


def _with_files(event: m.ApplicationSubmitted, n: int) -> m.ApplicationSubmitted:
    """The event naming two scanned pages (files not sent: the look-up still runs)."""
    pages = [
        m.MaterialRef(
            material_code=f"page-{k}",
            sha256=hashlib.sha256(f"{n}-{k}".encode()).hexdigest(),
            size=170_000,
            content_type="image/jpeg",
            pages=1,
        )
        for k in range(2)
    ]
    return event.model_copy(update={"materials": pages})


def broker_free(n: int) -> tuple[list[float], list[float]]:
    """Events/s through handle_batch and CPU us/event: applied together, apart, and together
    with two files named by each submission."""
    rates: list[float] = []
    cpus: list[float] = []
    for together, files in ((True, False), (False, False), (True, True)):
        saved = ingest_module._TOGETHER
        if not together:
            ingest_module._TOGETHER = ()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                service = BackendService(f"sqlite:///{tmp}/b.sqlite", Path(tmp), broker_port=None)
                service.register_terminal(TERMINAL, b"k" * 32)
                service.ingest.publisher = _Discard()  # no broker: receipts go nowhere
                events = [application(i) for i in range(n)]
                if files:
                    events = [_with_files(e, i) for i, e in enumerate(events)]
                items = [(e.topic(), e.encode()) for e in events]
                freeze_startup_heap()
                start, cpu = time.perf_counter(), time.thread_time()
                for s in range(0, n, BATCH):
                    service.ingest.handle_batch(items[s : s + BATCH])
                rates.append(n / (time.perf_counter() - start))
                cpus.append((time.thread_time() - cpu) / n * 1e6)
                assert stored(service.db) == n
                service.stop()
        finally:
            ingest_module._TOGETHER = saved
    return rates, cpus


PAGE_BYTES = 170_000  # a scanned A4 page as uploaded (benchmarks/page_finding.py)


def _page_chunks(n: int) -> list[m.BlobChunk]:
    """A distinct scanned page's chunks, cut as the terminal's outbox cuts them."""
    return m.blob_chunks(TERMINAL, random.Random(n).randbytes(PAGE_BYTES))


def chunks_broker_free(pages: int, db_url: str, blob_dir: Path, together: bool) -> float:
    """CPU us per chunk of `pages` scanned pages through handle_batch in batches of BATCH."""
    saved = ingest_module._TOGETHER
    if not together:
        ingest_module._TOGETHER = ()
    try:
        service = BackendService(db_url, blob_dir, broker_port=None)
        service.register_terminal(TERMINAL, b"k" * 32)
        service.ingest.publisher = _Discard()
        items = [(c.topic(), c.encode()) for n in range(pages) for c in _page_chunks(n)]
        freeze_startup_heap()
        cpu = time.thread_time()
        for s in range(0, len(items), BATCH):
            service.ingest.handle_batch(items[s : s + BATCH])
        us = (time.thread_time() - cpu) / len(items) * 1e6
        with service.db.transaction() as session:
            complete = session.scalar(select(func.count()).where(Blob.complete.is_(True)))
        assert complete == pages
        service.stop()
        return us
    finally:
        ingest_module._TOGETHER = saved


def _report_chunks(label: str, pages: int, urls: list[str]) -> None:
    """Together and apart on fresh databases (urls: one per run), alternated, twice."""
    runs = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for n, together in enumerate((True, False, True, False)):
            runs[together].append(chunks_broker_free(pages, urls[n], Path(tmp) / f"b{n}", together))
    best = {k: min(v) for k, v in runs.items()}
    each = " / ".join(", ".join(f"{x:.0f}" for x in runs[k]) for k in (True, False))
    print(
        f"{pages} scanned pages of {PAGE_BYTES // 1000} KB, {label}: CPU per 48 KiB chunk"
        f" together {best[True]:5.0f} us, apart {best[False]:5.0f} us (runs {each})"
    )
    print(f"apart / together CPU per chunk, {label}: {best[False] / best[True]:.2f}")


@dataclass(frozen=True)
class Run:
    """One run over the broker; CPU in seconds, for all N events."""

    sub_rate: float  # mosquitto_sub's events/s
    backend_rate: float  # the workers' events/s, stored
    published: float  # seconds until the publisher had every PUBACK
    sub_cpu: float  # mosquitto_sub's whole run
    workers_cpu: dict[str, float]  # the worker processes by part, subscribed to stopped
    publisher_cpu: float  # this process while it publishes (paho, signing done before)
    broker_cpu: float  # Mosquitto, from the first publish until the backend stored all


def _stat_cpu(stat: Path) -> float:
    """User + system CPU seconds of a process or thread, from its /proc stat file."""
    fields = stat.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def over_broker(n: int, workers: int, db_url: str | None = None) -> Run:
    """A run with `workers` processes on `db_url` (a fresh SQLite file when None)."""
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        broker = site_broker(tmpdir)
        procs, stop, cpu = [], spawn.Event(), spawn.Queue()
        sub = None
        try:
            files = broker.client_tls(TERMINAL)
            db_url = db_url or f"sqlite:///{tmpdir / 'b.sqlite'}"
            registrar = BackendService(db_url, tmpdir / "blobs", broker_port=None)
            registrar.register_terminal(TERMINAL, b"k" * 32)
            registrar.stop()
            for w in range(workers):
                # Certificates issued here, one at a time, before the workers start.
                worker_identity(broker.authority, f"backend.bench-{w}")
                ready = spawn.Event()
                args = (db_url, str(tmpdir / "blobs"), broker.host, broker.port)
                args += (str(broker.authority.dir), f"bench-{w}", ready, stop, cpu)
                proc = spawn.Process(target=_worker, args=args, daemon=True)
                proc.start()
                procs.append((proc, ready))
            for _proc, ready in procs:
                if not ready.wait(120):
                    raise TimeoutError("a backend worker did not subscribe")
            sub_tls = broker.client_tls("backend.bench-sub", BACKEND)
            sub = subprocess.Popen(
                [
                    "mosquitto_sub",
                    *("-h", broker.host, "-p", str(broker.port), "-V", "mqttv5", "-q", "1"),
                    *("--cafile", str(sub_tls.ca_file), "--cert", str(sub_tls.cert_file)),
                    *("--key", str(sub_tls.key_file), "-i", "backend.bench-sub"),
                    *("-t", "allhours/v1/terminals/+/events/#", "-C", str(n)),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            sub_lines, sub_end = 0, [0.0]
            sub_done = threading.Event()

            def count() -> None:
                nonlocal sub_lines
                assert sub is not None and sub.stdout is not None
                for _ in sub.stdout:
                    sub_lines += 1
                sub_end[0] = time.perf_counter()
                sub_done.set()

            threading.Thread(target=count, daemon=True).start()
            time.sleep(0.5)  # let mosquitto_sub subscribe
            payloads = [(e.topic(), e.encode()) for e in (application(i) for i in range(n))]
            pub = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=TERMINAL
            )
            pub.tls_set_context(files.context())
            # Signed as the terminal signs each event when it queues it, before the clock starts.
            signer = TerminalSigner.from_pem(files.key_file.read_bytes())
            signed = [(t, p, _signature(signer, t, p)) for t, p in payloads]
            pub.max_inflight_messages_set(1000)
            pub.connect(broker.host, broker.port)
            pub.loop_start()
            db = Database(db_url)
            assert broker.proc is not None
            broker_stat = Path(f"/proc/{broker.proc.pid}/stat")
            broker_start, own_start = _stat_cpu(broker_stat), time.process_time()
            start = time.perf_counter()
            infos = [pub.publish(t, p, qos=1, properties=props) for t, p, props in signed]
            for info in infos:
                info.wait_for_publish(120)
            published = time.perf_counter() - start
            publisher_cpu = time.process_time() - own_start
            backend_s = wait(lambda: stored(db) >= n, 600, 0.02) + published
            broker_cpu = _stat_cpu(broker_stat) - broker_start
            sub_done.wait(120)
            sub_s = sub_end[0] - start
            _pid, _status, usage = os.wait4(sub.pid, 0)
            sub.returncode = 0
            sub_cpu = usage.ru_utime + usage.ru_stime
            pub.loop_stop()
            pub.disconnect()
            db.dispose()
            stop.set()
            workers_cpu: dict[str, float] = {}
            for _ in procs:
                for part, seconds in cpu.get(timeout=60).items():
                    workers_cpu[part] = workers_cpu.get(part, 0.0) + seconds
            for proc, _ready in procs:
                proc.join(30)
            return Run(
                sub_lines / sub_s,
                n / backend_s,
                published,
                sub_cpu,
                workers_cpu,
                publisher_cpu,
                broker_cpu,
            )
        finally:
            stop.set()
            for proc, _ready in procs:
                proc.join(30)
                if proc.is_alive():
                    proc.kill()
            if sub is not None and sub.returncode is None:
                sub.kill()
                sub.wait(10)
            broker.stop()
            broker.remove_data()


def _report(label: str, n: int, workers: int, db_url: str | None = None) -> None:
    run = over_broker(n, workers, db_url)
    print(f"-- {label}, {workers} worker process(es); publisher done after {run.published:.2f} s")
    workers_cpu = sum(run.workers_cpu.values())
    sub_us, backend_us = run.sub_cpu / n * 1e6, workers_cpu / n * 1e6
    print(f"mosquitto_sub received all at {run.sub_rate:7.0f} events/s, CPU {sub_us:5.0f} us/ev")
    backend_rate = run.backend_rate
    print(
        f"backend stored all at         {backend_rate:7.0f} events/s, CPU {backend_us:5.0f} us/ev"
    )
    ratio = run.backend_rate / run.sub_rate
    print(f"backend / mosquitto_sub rate ratio, {label}, {workers} worker(s): {ratio:.2f}")
    print(
        f"backend / mosquitto_sub CPU per event, {label}, {workers} worker(s): "
        f"{workers_cpu / run.sub_cpu:.1f}"
    )
    parts = ", ".join(
        f"{part} {run.workers_cpu.get(part, 0.0) / n * 1e6:.0f} us"
        for part in ("network", "ingest", "other")
    )
    print(f"workers' CPU per event by thread, {label}: {parts}")
    # What the machine's cores leave the workers per event at the goal (0.8 x mosquitto_sub's
    # rate), once the publisher, Mosquitto and mosquitto_sub of the same run have had theirs.
    # Above it, no split of the workers into threads or processes reaches the goal here.
    cores = len(os.sched_getaffinity(0))
    others_us = (run.publisher_cpu + run.broker_cpu + run.sub_cpu) / n * 1e6
    budget_us = cores / (GOAL * run.sub_rate) * 1e6 - others_us
    print(
        f"CPU per event, {label}: publisher {run.publisher_cpu / n * 1e6:.0f} us, Mosquitto "
        f"{run.broker_cpu / n * 1e6:.0f} us, mosquitto_sub {sub_us:.0f} us; at {GOAL} x "
        f"mosquitto_sub's rate the {cores} cores leave the workers {budget_us:.0f} us per event"
        f" (they used {backend_us:.0f}{'' if label == 'SQLite' else ', the database server apart'})"
    )


def main(n: int, worker_counts: list[int]) -> None:
    (together, apart, files), (together_cpu, apart_cpu, files_cpu) = broker_free(n)
    print(f"events: {n} application_submitted, QoS 1, one publisher")
    print(
        f"broker-free ingest (SQLite), batches of {BATCH}: together {together:7.0f} events/s,"
        f" CPU {together_cpu:4.0f} us/event"
    )
    print(
        f"                                             apart    {apart:7.0f} events/s,"
        f" CPU {apart_cpu:4.0f} us/event"
    )
    print(
        f"                       together, two files each   {files:7.0f} events/s,"
        f" CPU {files_cpu:4.0f} us/event"
    )
    print(f"together / apart ratio: {together / apart:.2f}")
    print(f"two files / none CPU ratio: {files_cpu / together_cpu:.2f}")
    pages = max(10, n // 100)
    with tempfile.TemporaryDirectory() as tmp:
        _report_chunks("SQLite", pages, [f"sqlite:///{tmp}/chunks-{k}.sqlite" for k in range(4)])
    for workers in worker_counts:
        _report("SQLite", n, workers)
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as pg_dir:
        try:
            pg = PrivatePostgres(Path(pg_dir)).start()
        except PostgresError as exc:
            print(f"-- PostgreSQL: not measured ({exc})")
            return
        try:
            _report_chunks(
                "PostgreSQL", pages, [pg.create_database(f"chunks_{k}") for k in range(4)]
            )
            for workers in worker_counts:
                name = f"ingest_{workers}"
                url = pg.create_database(name)
                try:
                    _report("PostgreSQL", n, workers, url)
                finally:
                    pg.drop_database(name)
        finally:
            pg.cleanup()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    main(count, [int(x) for x in sys.argv[2:]] or [1, 2, 4])
