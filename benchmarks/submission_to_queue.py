"""From a terminal's submission to the case in a clerk's review queue.

A training terminal enrolled at a private mutual-TLS Mosquitto queues a submission as its
flow does at the end (the event and the scans' blobs in one unit of work of its outbox), and
a signed-in clerk's console queue page is fetched until the application number is on it.
Timed from the outbox's commit to the first queue page listing the case; also when the
backend had stored it (polled in its database), and one queue page's own time. A submission
carries two scanned pages of about 170 KiB each (a night submission's usual two materials).
The baseline in the same run is one queue page: what a clerk waits anyway.

    .venv/bin/python benchmarks/submission_to_queue.py [N]
"""

from __future__ import annotations

import hashlib
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import TERMINAL, application, site_backend, site_broker, wait
from fastapi.testclient import TestClient

from allhours.bootstrap import training_terminal
from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.auth.guard import Auth
from backend.auth.sessions import Sessions
from backend.models import Application
from cloud_bridge.contract import messages as m
from demo_support.enrollment import enroll_at_site

PASSWORD = "Correct-Horse-42"
PAGE_BYTES = 170 * 1024


def signed_in_clerk(service) -> TestClient:
    Accounts(service.db).add(
        "clerk.bench", ["clerk"], password=PASSWORD, must_change_password=False
    )
    client = TestClient(
        create_app(service, Auth(Accounts(service.db), Sessions(service.db), secure_cookies=False))
    )
    page = client.get("/console/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"username": "clerk.bench", "password": PASSWORD, "csrf_token": csrf}
    client.post("/console/login", data=form, follow_redirects=False)
    assert "clerk.bench" in client.get("/console/queue").text, "the clerk did not sign in"
    return client


def submit(node, n: int) -> str:
    """Queue submission `n` with two scanned pages, as the submission flow's last step does."""
    refs = []
    staged = []
    for code in ("id-card-copy", "application-form"):
        data = os.urandom(PAGE_BYTES)  # a JPEG page's size; the content is not looked at
        blob = node.outbox.stage_blob(data, "application/pdf")
        staged.append(blob)
        refs.append(
            m.MaterialRef(
                material_code=code,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                content_type="application/pdf",
                pages=1,
            )
        )
    event = application(n).model_copy(update={"materials": refs})
    with node.db.unit_of_work() as uow:
        node.outbox.add(uow, event)
        for blob in staged:
            node.outbox.add_blob(uow, blob)
    return event.application_no


def main(n: int) -> None:
    key = b"k" * 32
    to_queue, to_stored, pages = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        broker = site_broker(tmpdir)
        service = site_backend(broker, tmpdir)
        service.register_terminal(TERMINAL, key)
        service.start()
        assert service.mqtt and service.mqtt.wait_ready(10)
        data_dir = enroll_at_site(
            broker.authority,
            tmpdir / "t",
            TERMINAL,
            broker_host=broker.host,
            broker_port=broker.port,
            pickup_code_key=key,
        )
        node = training_terminal(data_dir).node
        node.start()
        wait(node.link.connected.is_set, 30)
        clerk = signed_in_clerk(service)
        try:
            for i in range(n):
                start = time.perf_counter()
                no = submit(node, i)

                def stored(no=no) -> bool:
                    with service.db.transaction() as s:
                        return s.get(Application, no) is not None

                wait(stored, 60, 0.002)
                to_stored.append(time.perf_counter() - start)

                def listed(no=no) -> bool:
                    t = time.perf_counter()
                    html = clerk.get("/console/queue").text
                    pages.append(time.perf_counter() - t)
                    return no in html

                wait(listed, 60, 0.0)
                to_queue.append(time.perf_counter() - start)
        finally:
            node.stop()
            service.stop()
            broker.stop()
            broker.remove_data()

    def p90(values: list[float]) -> float:
        return statistics.quantiles(values, n=10)[-1] * 1000

    med_q, med_s = statistics.median(to_queue) * 1000, statistics.median(to_stored) * 1000
    med_page = statistics.median(pages) * 1000
    print(f"submission to the clerk's queue, {n} submissions with two 170 KiB pages each")
    print(f"  stored by the backend: median {med_s:.0f} ms, p90 {p90(to_stored):.0f} ms")
    print(f"  on the queue page:     median {med_q:.0f} ms, p90 {p90(to_queue):.0f} ms")
    print(f"  one queue page (baseline): median {med_page:.1f} ms; ratio {med_q / med_page:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
