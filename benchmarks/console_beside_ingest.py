"""A clerk's console pages beside ingest on one SQLite file, and ingest beside the clerk.

A backend on SQLite with one case whose scanned PDF is stored, a signed-in clerk (the console
over TestClient) and ingest applying batches of 100 new submissions back to back on a thread,
as a loaded worker does (no broker: `Ingest.handle_batch`). The clerk loads the case page, the
first page image of its scan and `/healthz`, in turn, for a few seconds.

Read two ways in the same run, alternated: through `Database.reading` (deferred, beside the
writer: what the pages do) and through `Database.transaction` (BEGIN IMMEDIATE, the write
lock: how every page was read before). Baselines in the same run: the same pages with ingest
idle, and ingest with no clerk.

    .venv/bin/python benchmarks/console_beside_ingest.py [SECONDS]
"""

from __future__ import annotations

import io
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import TERMINAL, application
from submission_to_queue import signed_in_clerk

from backend.db import Database
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

BATCH = 100
CASE = "AH-T0002-20261120-0001"


class _Discard:
    def publish(self, _message) -> None:
        pass


def _scanned_case(service: BackendService) -> None:
    """A case from another terminal, with a two-page scanned PDF stored and verified."""
    import img2pdf
    from PIL import Image

    pages = []
    for n in range(2):
        out = io.BytesIO()
        Image.new("RGB", (1240, 1754), (255, 255 - 40 * n, 255)).save(out, "JPEG", quality=80)
        pages.append(out.getvalue())
    pdf = img2pdf.convert(pages, layout_fun=img2pdf.get_fixed_dpi_layout_fun((150, 150)))
    chunks = m.blob_chunks("T0002", pdf)
    ref = m.MaterialRef(
        material_code="household-register",
        sha256=chunks[0].sha256,
        size=len(pdf),
        content_type="application/pdf",
        pages=2,
    )
    event = examples()["event.application_submitted"].model_copy(
        update={
            "message_id": m.new_message_id(),
            "application_no": CASE,
            "operation_id": CASE,
            "terminal_id": "T0002",
            "materials": [ref],
            "reused_materials": [],
        }
    )
    service.ingest.handle_batch([(x.topic(), x.encode()) for x in [*chunks, event]])


class _Ingest(threading.Thread):
    """Batches of new submissions back to back until stopped; counts what it stored."""

    def __init__(self, service: BackendService, first: int):
        super().__init__(daemon=True)
        self.service, self.next = service, first
        self.stop = threading.Event()
        self.stored, self.seconds = 0, 0.0

    def run(self) -> None:
        start = time.perf_counter()
        while not self.stop.is_set():
            events = [application(self.next + i, TERMINAL) for i in range(BATCH)]
            self.next += BATCH
            result = self.service.ingest.handle_batch([(e.topic(), e.encode()) for e in events])
            self.stored += result.stored
        self.seconds = time.perf_counter() - start


def _browse(client, urls: list[str], seconds: float) -> list[float]:
    """Milliseconds of each page load, the urls in turn, for `seconds`."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for url in urls:
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
    return times


def _figures(times: list[float]) -> str:
    p90 = statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]
    return f"median {statistics.median(times):6.1f} ms, p90 {p90:7.1f} ms, max {max(times):7.1f} ms"


def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        service = BackendService(f"sqlite:///{tmp}/b.sqlite", Path(tmp) / "blobs", broker_port=None)
        service.ingest.publisher = _Discard()
        for terminal in (TERMINAL, "T0002"):
            service.register_terminal(terminal, bytes(range(32)))
        _scanned_case(service)
        client = signed_in_clerk(service)
        case = client.get(f"/console/applications/{CASE}").text
        scan = re.search(r'href="(/console/applications/[^"]+/materials/\d+)"', case).group(1)
        urls = [f"/console/applications/{CASE}", f"{scan}/pages/1.png", "/healthz"]
        reading = Database.reading
        first = 0
        print(f"SQLite, ingest in batches of {BATCH}, {seconds:.0f} s per figure")
        idle = _figures(_browse(client, urls, seconds))
        print(f"{'pages, ingest idle:':46s}{idle}")
        ingest = _Ingest(service, first)
        ingest.start()
        time.sleep(seconds)
        ingest.stop.set()
        ingest.join()
        first = ingest.next
        alone = ingest.stored / ingest.seconds
        print(f"{'ingest, no clerk:':46s}{alone:.0f} submissions/s")
        rates: dict[str, list[float]] = {"reading": [], "transaction": []}
        pages: dict[str, list[float]] = {"reading": [], "transaction": []}
        for way in ("reading", "transaction", "reading", "transaction"):
            # The pages' reads as they are, or as they were: BEGIN IMMEDIATE, the write lock.
            Database.reading = reading if way == "reading" else Database.transaction
            ingest = _Ingest(service, first)
            ingest.start()
            try:
                pages[way] += _browse(client, urls, seconds)
            finally:
                ingest.stop.set()
                ingest.join()
                Database.reading = reading
            first = ingest.next
            rates[way].append(ingest.stored / ingest.seconds)
        for way in ("reading", "transaction"):
            print(f"{f'pages beside ingest, read by {way}():':46s}{_figures(pages[way])}")
            each = ", ".join(f"{r:.0f}" for r in rates[way])
            print(f"{f'ingest beside the clerk, {way}():':46s}{each} submissions/s")
        ratio = statistics.median(pages["transaction"]) / statistics.median(pages["reading"])
        print(f"page median, transaction() / reading(): {ratio:.2f}")
        best = max(rates["reading"]) / max(rates["transaction"])
        print(f"ingest rate, reading() / transaction(): {best:.2f}")
        beside = max(rates["reading"]) / alone
        print(f"ingest rate beside the clerk / alone, reading(): {beside:.2f}")
        service.stop()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
