"""Scanning one material on the document camera, with its live picture."""

from __future__ import annotations

from terminal.flows.submission import PageRefused
from terminal.materials.quality import REASONS
from terminal.ui.live import LiveFeed
from terminal.ui.screens.base import KioskScreen
from terminal.ui.widgets import Preview


class ScanScreen(KioskScreen):
    """Live picture of the document camera; one press captures every page of the material."""

    title_key = "scan.title"

    def build(self) -> None:
        self.hint = self.label("", "body")
        self.body.add_widget(self.hint)
        self.preview = Preview()
        self.body.add_widget(self.preview)
        self.status = self.label("", tone="danger")
        self.body.add_widget(self.status)
        self.feed = LiveFeed(self.k, self.preview, "scan")
        self.scan_button = self.button("scan.capture", self.capture)
        self.nav_buttons(
            self.button("nav.back", lambda: self.k.go("materials"), "secondary"),
            self.scan_button,
        )
        self.code = ""

    def enter(self, code: str = "", **kw: object) -> None:
        flow = self.k.submission
        if flow is None or flow.item is None:
            return
        spec = next(s for s in flow.item.materials if s.code == code)
        self.code = code
        t = self.k.t
        self.say(
            self.hint,
            lambda: t("scan.hint", name=t.pick(spec.name_zh, spec.name_en), pages=spec.pages),
        )
        self.unsay(self.status)
        self.scan_button.disabled = False
        self.feed.start(self.k.node.parts.document_camera(spec.name_en, spec.pages))

    def capture(self) -> None:
        flow = self.k.submission
        if flow is None or self.scan_button.disabled:
            return
        self.scan_button.disabled = True
        self.say(self.status, "scan.working")
        code = self.code

        def scan():
            with self.feed.camera_lock:
                return flow.scan_material(code)

        def failed(exc: BaseException) -> None:
            self.scan_button.disabled = False
            wording = REASONS.get(exc.reason) if isinstance(exc, PageRefused) else None
            if wording is None:
                self.say(self.status, "scan.failed")
                return
            t = self.k.t
            page = exc.page
            self.say(
                self.status,
                lambda: t("scan.refused", page=page, why=t.pick(wording.zh, wording.en)),
            )
            self.k.speak(self.status.text)

        self.k.run("scan", scan, lambda _r: self.k.go("materials"), failed)

    def leave(self) -> None:
        self.feed.forget()

    def wipe(self) -> None:
        self.feed.forget()
        self.unsay(self.hint)
        self.unsay(self.status)
        self.code = ""
