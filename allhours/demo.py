"""`allhours demo`: a private broker, the backend on SQLite and one emulated terminal, whole story.

The demo plays the citizen, the clerk and the applicant's phone, and talks to the backend only
through its REST API and the broker, as the real parts do. It exits 0 only if the pickup really
opened the compartment (the emulated board drove that compartment's channel) and the backend
recorded the pickup.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from backend.auth.accounts import Accounts
from backend.auth.bootstrap import account_with_token, bearer
from backend.notifications.aliyun_emulator import AliyunSmsEmulator
from cloud_bridge.link import wait_until
from privacy import mask_phone
from terminal.flows.pickup import PickupRefused

from .signals import wait_for_signal
from .site import LocalSite, SiteError
from .story import (
    Citizen,
    citizen_picks_up,
    citizen_submits,
    staff_loads_results,
    staff_signs_in,
)

TERMINAL_ID = "T0001"
CITIZEN = Citizen(name="张三", id_number="11010519491231002X", phone="13800138000")
TAIL = CITIZEN.phone[-4:]  # the second factor the applicant types with the code (ADR 0011)
ITEM = "HJ-0101"
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
DEMO_CLERK = "clerk.li"
DEMO_SUPERVISOR = "sup.ma"  # the console's escalations and statistics


class DemoFailed(RuntimeError):
    """A step of the story did not happen."""


@dataclass
class Narrator:
    """Prints each step with the time since the start, and keeps them for the summary."""

    out: Callable[[str], None] = print
    started: float = field(default_factory=time.monotonic)
    steps: list[tuple[float, str, str]] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.out(f"\n== {title}")

    def say(self, who: str, text: str) -> None:
        at = time.monotonic() - self.started
        self.steps.append((at, who, text))
        self.out(f"  [{at:6.2f}s] {who:<9} {text}")


def _wait_for(what: str, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    value = wait_until(predicate, timeout, interval=0.1)
    if not value:
        raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")
    return value


def run_demo(
    workdir: Path | None = None, keep_running: bool = False, out: Callable[[str], None] = print
) -> int:
    """Play the whole story; 0 when the compartment really opened for the right code."""
    workdir = Path(workdir or Path("var") / f"demo-{datetime.now():%Y%m%d-%H%M%S}").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    n = Narrator(out)
    site = LocalSite(workdir, TERMINAL_ID, telemetry_interval_s=5, live_face=True)
    try:
        n.section("Starting the parts")
        site.start()
        assert site.backend and site.node and site.devices
        backend, node, devices, broker = site.backend, site.node, site.devices, site.broker
        assert site.identity is not None
        n.say("broker", f"private Mosquitto on {broker.url}: mutual TLS only, site CA")
        n.say("backend", f"ingest subscribed; staff API on {backend.base_url}/api/")
        n.say("operator", f"one-time enrollment token issued for {TERMINAL_ID}")
        n.say(
            "technician",
            f"{TERMINAL_ID} enrolled at {backend.enroll_url}: key made on the terminal, "
            f"certificate until {site.identity.not_after:%Y-%m-%d}, backend key pinned",
        )
        n.say("terminal", f"{TERMINAL_ID} online, {len(node.locker.compartments())} compartments")
        # The clerk signs in as staff do; an admin token reads the SMS outbox (masked).
        clerk_password = secrets.token_urlsafe(9)
        Accounts(backend.service.db).add(
            DEMO_CLERK, ["clerk"], password=clerk_password, must_change_password=False
        )
        supervisor_password = secrets.token_urlsafe(9)
        Accounts(backend.service.db).add(
            DEMO_SUPERVISOR,
            ["supervisor"],
            password=supervisor_password,
            must_change_password=False,
        )
        api = _signed_in(backend.base_url, DEMO_CLERK, clerk_password)
        _, phone_token = account_with_token(backend.service.db, "demo.phone", ["admin"])
        phone = httpx.Client(base_url=backend.base_url, timeout=10, headers=bearer(phone_token))
        n.say("staff", f"{DEMO_CLERK} signed in")

        n.section("21:40 — a citizen submits after hours")
        receipt = citizen_submits(node, devices, CITIZEN, ITEM, lambda s: n.say("citizen", s))
        app_no = receipt.application_no

        n.section("Overnight — the backend ingests it")
        detail = _wait_for(
            "the application and all its files at the backend",
            lambda: _verified(api, app_no, receipt.materials),
        )
        n.say(
            "backend",
            f"{app_no}: status {detail['status']}, {receipt.materials} files verified by SHA-256",
        )
        _wait_for("the terminal's outbox to drain", lambda: node.outbox.backlog() == 0)
        n.say("terminal", "outbox empty: every message receipted; scans deleted from the terminal")

        n.section("Next working day — staff review")
        for step in ("accept", "review", "approve"):
            r = api.post(
                f"/api/applications/{app_no}/{step}",
                json={"note": f"demo {step}"},
            )
            _ok(r, step)
            n.say("staff", f"{step} → {r.json()['status']}")
        r = api.post(
            f"/api/applications/{app_no}/load-result",
            json={"terminal_id": TERMINAL_ID, "size": "S"},
        )
        _ok(r, "load-result")
        n.say("staff", f"load result into {TERMINAL_ID}: command sent")

        n.section("At the terminal — the clerk loads the result")
        r = api.post("/api/staff/terminal-code", json={"terminal_id": TERMINAL_ID})
        _ok(r, "terminal sign-in code")
        n.say("staff", f"console shows {DEMO_CLERK} a one-time code for {TERMINAL_ID}")
        member = staff_signs_in(node, r.json()["code"], lambda s: n.say("clerk", s))
        loaded = staff_loads_results(node, member, lambda s: n.say("clerk", s), wait_s=30)
        compartment = loaded[0].id
        channel = loaded[0].spec.channel
        handset = backend.sms_emulator  # the provider's emulator delivers to the citizen's phone
        sms = _wait_for("the pickup-code SMS", lambda: _pickup_sms(handset, CITIZEN.phone))
        code = CODE.search(sms["text"]).group(1)  # type: ignore[union-attr]
        n.say("phone", f"SMS to {mask_phone(CITIZEN.phone)}: {CODE.sub('••••••', sms['text'])}")
        _wait_for("the code to be armed at the terminal", lambda: _armed(node, compartment))

        n.section("23:05 — the applicant picks up")
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        pulses_before = len(devices.board.pulses)
        try:
            citizen_picks_up(node, wrong, lambda s: n.say("applicant", s), TAIL)
            raise DemoFailed("a wrong code was accepted")
        except PickupRefused:
            pass
        if len(devices.board.pulses) != pulses_before:
            raise DemoFailed("a wrong code drove a lock channel")
        opened = citizen_picks_up(node, code, lambda s: n.say("applicant", s), TAIL)
        really_opened = (
            opened.compartment_id == compartment and devices.board.pulses[-1][0] == channel
        )
        final = _wait_for("the pickup at the backend", lambda: _status(api, app_no, "picked_up"))
        n.say("backend", f"{app_no}: status {final['status']}")

        n.section("Summary")
        outbox = phone.get("/api/notifications", params={"application_no": app_no}).json()
        sms_count = sum(x["state"] in ("accepted", "delivered") for x in outbox)
        states: list[str] = []
        for h in final.get("history", []):
            if not states or states[-1] != h["to"]:
                states.append(h["to"])
        history = " → ".join(states)
        rows = [
            ("application", app_no),
            ("workflow", history or final["status"]),
            ("files", f"{receipt.materials} scanned, verified at the backend"),
            ("originals", f"deposited in {receipt.deposit_compartment}"),
            ("result", f"compartment {compartment} (lock channel {channel})"),
            ("SMS sent", str(sms_count)),
            ("wrong code", "refused, nothing opened"),
            ("pickup", "compartment opened" if really_opened else "NOT OPENED"),
            ("elapsed", f"{time.monotonic() - n.started:.1f}s"),
            ("console", f"{backend.base_url}/console/"),
            ("sign in", f"{DEMO_CLERK} / {clerk_password}"),
            ("supervisor", f"{DEMO_SUPERVISOR} / {supervisor_password} (statistics, escalations)"),
        ]
        for k, v in rows:
            out(f"  {k:<12} {v}")
        if keep_running:
            out(
                f"\nStill running: broker {broker.url}, console {backend.base_url}/console/, "
                f"API {backend.base_url}/docs, "
                f"terminal {TERMINAL_ID}. Ctrl-C to stop."
            )
            wait_for_signal()
        else:
            out(
                "\nThe servers stop now. To look around the console, run the demo at a terminal "
                "or with --keep-running: everything then stays up until Ctrl-C."
            )
        return 0 if really_opened else 1
    except (DemoFailed, SiteError) as exc:
        out(f"\nDEMO FAILED: {exc}")
        return 1
    finally:
        site.stop()


def _ok(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise DemoFailed(f"{what} refused by the backend: {response.status_code} {response.text}")


def _signed_in(base_url: str, username: str, password: str) -> httpx.Client:
    """An HTTP client with a staff session: the cookie, and the CSRF token on every request."""
    api = httpx.Client(base_url=base_url, timeout=10)
    r = api.post("/api/session", json={"username": username, "password": password})
    _ok(r, "sign-in")
    api.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return api


def _detail(api: httpx.Client, app_no: str) -> dict[str, Any] | None:
    r = api.get(f"/api/applications/{app_no}")
    return r.json() if r.status_code == 200 else None


def _verified(api: httpx.Client, app_no: str, count: int) -> dict[str, Any] | None:
    d = _detail(api, app_no)
    if d and len(d["materials"]) == count and all(x["verified"] for x in d["materials"]):
        return d
    return None


def _status(api: httpx.Client, app_no: str, status: str) -> dict[str, Any] | None:
    d = _detail(api, app_no)
    return d if d and d["status"] == status else None


def _pickup_sms(handset: AliyunSmsEmulator, phone: str) -> dict[str, Any] | None:
    """The newest text with a pickup code that the provider delivered to `phone`."""
    for sms in reversed(handset.inbox(phone)):
        if "取件码" in sms.text and CODE.search(sms.text):
            return {"text": sms.text}
    return None


def _armed(node: Any, compartment_id: str) -> bool:
    return any(c.id == compartment_id and c.code_digest for c in node.locker.compartments())
