"""Submission after identity: phone, materials and scanning, deposit of originals, review."""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from cloud_bridge.contract.messages import mask_id_number, mask_phone
from terminal.catalog import MaterialSpec
from terminal.flows.session import FlowError
from terminal.flows.submission import PageRefused, Step
from terminal.materials.quality import REASONS
from terminal.ui.live import LiveFeed
from terminal.ui.screens.base import KeypadScreen, KioskScreen
from terminal.ui.widgets import Keypad, Preview


def mask_name(name: str) -> str:
    """张三 -> 张*; what the screen shows of a name, enough to recognise one's own."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


class PhoneScreen(KeypadScreen):
    title_key = "phone.title"

    def build(self) -> None:
        self.error = self.label("", tone="danger")
        self.keypad = Keypad(max_len=11, labels=self.t)
        self.keypad_page(self.keypad, self.label("phone.hint"), self.error)
        self.nav_buttons(self.cancel_button(), self.button("nav.next", self.confirm))

    def confirm(self) -> None:
        flow = self.k.submission
        if flow is None:
            return
        try:
            flow.enter_phone(self.keypad.value)
        except FlowError:
            self.say(self.error, "phone.invalid")
            return
        self.keypad.clear()
        self.unsay(self.error)
        self.k.go("materials")


class MaterialsScreen(KioskScreen):
    """The checklist: what is needed, what is scanned; tap a line to scan it."""

    title_key = "materials.title"

    def build(self) -> None:
        self.body.add_widget(self.label("materials.hint", "hint", tone="muted"))
        self.rows = BoxLayout(orientation="vertical", spacing=12)
        self.body.add_widget(self.rows)
        self.error = self.label("", tone="danger")
        self.body.add_widget(self.error)
        self.nav_buttons(self.cancel_button(), self.button("nav.next", self.confirm))
        self.row_buttons = {}

    def enter(self, **kw: object) -> None:
        self.unsay(self.error)
        self.render()

    def render(self) -> None:
        flow = self.k.submission
        self.rows.clear_widgets()
        self.row_buttons = {}
        if flow is None or flow.item is None:
            return
        t = self.k.t
        for spec in flow.item.materials:
            scanned = flow.scanned.get(spec.code)

            def text(s: MaterialSpec = spec, done=scanned) -> str:
                name = t.pick(s.name_zh, s.name_en)
                if done:
                    return f"✓ {name}: {t('materials.scanned', pages=done.pages)}"
                state = "materials.needed" if s.required else "materials.optional"
                return f"{name}: {t(state)}"

            b = self.button(
                text,
                lambda c=spec.code: self.k.go("scan", code=c),
                "secondary" if scanned else "key",
            )
            self.row_buttons[spec.code] = b
            self.rows.add_widget(b)
        self.k.style(self.rows)

    def confirm(self) -> None:
        flow = self.k.submission
        if flow is None:
            return
        try:
            flow.finish_materials()
        except FlowError:
            self.say(self.error, "materials.missing")
            return
        self.k.go("deposit" if flow.step == Step.DEPOSIT else "review")

    def retranslate(self) -> None:
        super().retranslate()
        self.render()

    def wipe(self) -> None:
        self.rows.clear_widgets()
        self.row_buttons = {}
        self.unsay(self.error)


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


class DepositScreen(KioskScreen):
    """Paper originals into a compartment: it opens, the citizen closes the door."""

    title_key = "deposit.title"

    def build(self) -> None:
        self.message = self.label("deposit.hint")
        self.body.add_widget(self.message)
        self.error = self.label("", tone="danger")
        self.body.add_widget(self.error)
        self.open_button = self.button("deposit.open", self.open)
        self.skip_button = self.button("deposit.skip", self.skip, "secondary")
        self.closed_button = self.button("deposit.closed", self.closed)
        self.yes_button = self.button("door.yes", lambda: self.answer(True))
        self.no_button = self.button("door.no", lambda: self.answer(False), "secondary")

    def enter(self, **kw: object) -> None:
        self.say(self.message, "deposit.hint")
        self.unsay(self.error)
        self.nav_buttons(self.cancel_button(), self.skip_button, self.open_button)

    def open(self) -> None:
        flow = self.k.submission
        if flow is None:
            return
        self.k.run("deposit-open", flow.open_deposit, self._opened, self._failed)

    def _opened(self, cid: str) -> None:
        flow = self.k.submission
        self.unsay(self.error)
        if flow is not None and getattr(flow, "deposit_door_unconfirmed", False):
            # No door sensor: only the citizen can tell us whether it opened.
            self.say(self.message, "deposit.did_it_open", compartment=cid)
            self.nav_buttons(self.cancel_button(), self.no_button, self.yes_button)
        else:
            self.say(self.message, "deposit.opened", compartment=cid)
            self.nav_buttons(self.cancel_button(), self.closed_button)
        self.k.speak(self.message.text)

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, FlowError):
            self.k.fatal(exc)
            return
        self.say(self.error, "deposit.failed")
        self.nav_buttons(self.cancel_button(), self.skip_button, self.open_button)

    def answer(self, yes: bool) -> None:
        flow = self.k.submission
        if flow is None:
            return

        def ask():
            flow.deposit_door_opened(yes)
            return flow.deposit_compartment

        self.k.run("deposit-door", ask, self._opened, self._failed)

    def closed(self) -> None:
        flow = self.k.submission
        if flow is None:
            return
        self.k.run("deposit-close", flow.close_deposit, lambda _r: self.k.go("review"))

    def skip(self) -> None:
        flow = self.k.submission
        if flow is not None:
            flow.skip_deposit()
            self.k.go("review")

    def wipe(self) -> None:
        self.say(self.message, "deposit.hint")
        self.unsay(self.error)


class ReviewScreen(KioskScreen):
    """Everything at a glance, masked, before the citizen submits."""

    title_key = "review.title"

    def build(self) -> None:
        self.lines = BoxLayout(orientation="vertical", spacing=8)
        self.body.add_widget(self.lines)
        self.submit_button = self.button("review.submit", self.submit)
        self.nav_buttons(self.cancel_button(), self.submit_button)

    def enter(self, **kw: object) -> None:
        self.submit_button.disabled = False
        self.render()

    def render(self) -> None:
        self.lines.clear_widgets()
        flow = self.k.submission
        if flow is None or flow.document is None or flow.item is None:
            return
        t = self.k.t
        doc, item, phone = flow.document, flow.item, flow.phone or ""
        name, number = mask_name(doc.name), mask_id_number(doc.number)
        rows = [
            lambda: f"{t('review.name')}: {name}",
            lambda: f"{t('review.id_number')}: {number}",
            lambda: f"{t('review.phone')}: {mask_phone(phone)}",
            lambda: f"{t('review.item')}: {t.pick(item.name_zh, item.name_en)}",
            lambda: f"{t('review.materials')}: {len(flow.scanned)}",
            lambda: (
                f"{t('review.deposit')}: "
                + (flow.deposit_compartment if flow.deposit_confirmed else t("review.no_deposit"))
            ),
        ]
        for row in rows:
            self.lines.add_widget(self.label(row))
        self.lines.add_widget(Widget())  # lines start at the top
        self.k.style(self.lines)

    def submit(self) -> None:
        flow = self.k.submission
        if flow is None or self.submit_button.disabled:
            return
        self.submit_button.disabled = True
        self.k.run("submit", flow.submit, lambda receipt: self.k.go("receipt", receipt=receipt))

    def retranslate(self) -> None:
        super().retranslate()
        if self.k.current == self.name:
            self.render()

    def wipe(self) -> None:
        self.lines.clear_widgets()
