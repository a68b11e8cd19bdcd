"""Citizen time: how many touches and how many seconds a citizen spends at the kiosk.

The real kiosk (Kivy, offscreen) on emulated devices is driven by touch through two stories:

1. a night submission of two pages: ID card, face check, the item (by its class), the phone
   number, two one-page materials scanned, review, submit, receipt, no rating;
2. a pickup by code: the six-digit code, Next, the phone's last four digits, Open, take the
   result and close the door.

Every tap and every key of a keypad is counted as the driver makes it, and each time a screen
shows new content its visible text is measured. The seconds are a fixed human model, not the
machine's speed (the machine's waits are measured elsewhere, in kiosk_ui and face_pipeline):

- a tap 1.5 s, a keypad digit 0.6 s;
- reading: 6 Chinese characters a second, 3 Latin words a second (figures and codes count as
  words), for the lines on screen each time it changes that the citizen has not read on that
  screen before in the same story (coming back to the checklist, one reads the row that
  changed, not the page again);
- physical actions at fixed times: place the card 3 s, the live face check 6 s, place a page
  under the camera 4 s, take the result and close the door 6 s.

The goals: a submission within 180 s and 15 touches, a pickup within 20 s. Each story prints
its touches, its seconds split into taps, digits, reading and physical, the ratio to its goal,
and the screens that cost the most.

Usage: .venv/bin/python benchmarks/citizen_time.py [--lang zh|en]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

TAP_S = 1.5
DIGIT_S = 0.6
CJK_PER_S = 6.0
WORDS_PER_S = 3.0
PHYSICAL_S = {"place card": 3.0, "face check": 6.0, "place page": 4.0, "take result": 6.0}
SUBMISSION_GOAL_S, SUBMISSION_GOAL_TOUCHES = 180.0, 15
PICKUP_GOAL_S = 20.0
VERBOSE = False
ITEM = "CR-0101"  # Ordinary passport application: two required materials of one page each

CJK = re.compile(r"[\u4e00-\u9fff]")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.-]*")
MARKUP = re.compile(r"\[/?[a-z]+(=[^\]]*)?\]")


@dataclass
class Story:
    """What one story cost, action by action, screen by screen."""

    name: str
    taps: int = 0
    digits: int = 0
    read_s: float = 0.0
    physical_s: float = 0.0
    seen: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_screen: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def touches(self) -> int:
        return self.taps + self.digits

    @property
    def seconds(self) -> float:
        return self.taps * TAP_S + self.digits * DIGIT_S + self.read_s + self.physical_s


def reading_seconds(text: str) -> float:
    text = MARKUP.sub("", text)
    cjk = len(CJK.findall(text))
    words = len(WORD.findall(CJK.sub(" ", text)))
    return cjk / CJK_PER_S + words / WORDS_PER_S


def visible_text(widget) -> str:
    """The text a citizen can see under `widget`: shown labels and buttons, keypad keys aside."""
    from kivy.uix.label import Label

    from terminal.ui.widgets import Keypad

    parts: list[str] = []

    def walk(w) -> None:
        if isinstance(w, Keypad) or w.get_root_window() is None or w.opacity == 0:
            return
        if isinstance(w, Label) and w.text:
            parts.append(w.text)
        for child in w.children:
            walk(child)

    walk(widget)
    return "\n".join(parts)


def run(lang: str) -> list[Story]:
    from terminal.ui import boot

    boot.prepare(headless=True)
    boot.register_fonts()

    from allhours.bootstrap import training_terminal
    from demo_support.enrollment import enroll_at_site
    from demo_support.tour import SAMPLE_CITIZEN, SAMPLE_CODE, SAMPLE_PHONE, _arm_pickup
    from provisioning.authority import SiteAuthority
    from terminal.ui.driver import KioskDriver
    from terminal.ui.kiosk import Kiosk

    class CountingDriver(KioskDriver):
        """A driver that bills each touch to the story and the screen it happened on."""

        story: Story
        typing = False

        def tap(self, widget, *, settle: bool = True) -> None:
            if not self.typing:  # a key of a keypad is billed as a digit by type()
                self.story.taps += 1
                self.story.by_screen[self.kiosk.current] += TAP_S
            super().tap(widget, settle=settle)

        def type(self, keypad, text: str) -> None:
            self.story.digits += len(text)
            self.story.by_screen[self.kiosk.current] += DIGIT_S * len(text)
            self.typing = True
            try:
                super().type(keypad, text)
            finally:
                self.typing = False

        def read(self, screen: str | None = None) -> None:
            """The citizen reads what the current screen shows now."""
            self.pump(3)
            name = screen or self.kiosk.current
            lines = visible_text(self.kiosk.screens[self.kiosk.current]).splitlines()
            new = [line for line in lines if line not in self.story.seen[name]]
            self.story.seen[name].update(lines)
            text = "\n".join(new)
            seconds = reading_seconds(text)
            if VERBOSE:
                print(f"--- {name} {seconds:.1f} s\n{text}")
            self.story.read_s += seconds
            self.story.by_screen[name] += seconds

        def act(self, what: str) -> None:
            self.story.physical_s += PHYSICAL_S[what]
            self.story.by_screen[self.kiosk.current] += PHYSICAL_S[what]

        def arrive(self, name: str, timeout: float = 30.0) -> None:
            self.wait_screen(name, timeout)
            self.read()

    with tempfile.TemporaryDirectory() as tmp:
        # A training kiosk enrolled at a throwaway site whose broker (port 9) never runs.
        data_dir = enroll_at_site(SiteAuthority.create(Path(tmp) / "site-ca"), Path(tmp) / "T0001")
        terminal = training_terminal(data_dir)
        node, devices = terminal.node, terminal.emulated
        assert devices is not None
        key = terminal.config.identity.bundle.pickup_code_key
        drv = CountingDriver(Kiosk(node, lang=lang, card_poll_s=0.05))
        k, s = drv.kiosk, drv.kiosk.screens
        stories = []
        try:
            # --- 1. a night submission of two pages
            drv.story = submission = Story("submission, two pages")
            drv.arrive("home")
            drv.tap(s["home"].choices["submit"])
            drv.arrive("card")
            drv.act("place card")
            devices.reader.place(SAMPLE_CITIZEN)
            drv.wait_for(lambda: k.current in ("face", "catalog"), 30, "the face check")
            drv.act("face check")
            drv.arrive("catalog")
            if ITEM not in s["catalog"].item_buttons:  # not on the opening list: its class
                cls = next(i for i in node.parts.catalog if i.code == ITEM).service_class
                label = k.t.pick(cls.name_zh, cls.name_en)
                drv.tap(next(b for b in s["catalog"].categories.children if b.text == label))
                drv.read()
            drv.tap(s["catalog"].item_buttons[ITEM])
            drv.arrive("item")
            drv.tap(s["item"].apply_button)
            drv.arrive("phone")
            drv.type(s["phone"].keypad, SAMPLE_PHONE)
            drv.tap(s["phone"].nav.children[0])
            drv.arrive("materials")
            assert k.submission is not None and k.submission.item is not None
            for spec in k.submission.item.materials:
                if not spec.required:
                    continue
                drv.tap(s["materials"].row_buttons[spec.code])
                drv.arrive("scan")
                for _ in range(spec.pages):
                    drv.act("place page")
                scan = s["scan"]
                drv.wait_for(lambda sc=scan: sc.preview.frames > 0, 30, "a page on screen")
                if k.current == "scan" and not scan.busy:
                    drv.tap(scan.scan_button)
                drv.arrive("materials", timeout=60)
            drv.tap(s["materials"].nav.children[0])
            drv.arrive("review")
            drv.tap(s["review"].submit_button)
            drv.arrive("receipt", timeout=60)
            drv.tap(s["receipt"].nav.children[0])
            drv.wait_for(lambda: k.current != "receipt", 30, "leaving the receipt")
            stories.append(submission)
            k.end_session("benchmark")

            # --- 2. a pickup by code
            drv.story = pickup = Story("pickup by code")
            _arm_pickup(node, key)
            drv.arrive("home")
            drv.tap(s["home"].choices["pickup"])
            drv.arrive("pickup_code")
            code_screen = s["pickup_code"]
            drv.type(code_screen.keypad, SAMPLE_CODE)
            drv.tap(code_screen.next_button)
            drv.read("pickup_code")  # the second step: the phone's last four digits
            drv.type(code_screen.tail_keypad, SAMPLE_PHONE[-4:])
            drv.tap(code_screen.open_button)
            drv.arrive("pickup_open", timeout=30)
            drv.act("take result")
            stories.append(pickup)
        finally:
            drv.close()
            node.stop()
    return stories


def report(stories: list[Story]) -> bool:
    met = True
    for story in stories:
        goal_s = SUBMISSION_GOAL_S if story.name.startswith("submission") else PICKUP_GOAL_S
        print(f"{story.name}:")
        print(
            f"  touches {story.touches} ({story.taps} taps, {story.digits} digits)"
            + (
                f", goal <= {SUBMISSION_GOAL_TOUCHES}"
                if story.name.startswith("submission")
                else ""
            )
        )
        print(
            f"  seconds {story.seconds:.1f} = taps {story.taps * TAP_S:.1f} + digits "
            f"{story.digits * DIGIT_S:.1f} + reading {story.read_s:.1f} + physical "
            f"{story.physical_s:.1f}; {story.seconds / goal_s:.2f} of the {goal_s:.0f} s goal"
        )
        costly = sorted(story.by_screen.items(), key=lambda kv: -kv[1])[:3]
        print("  costliest screens: " + ", ".join(f"{n} {v:.1f} s" for n, v in costly))
        met &= story.seconds <= goal_s
        if story.name.startswith("submission"):
            met &= story.touches <= SUBMISSION_GOAL_TOUCHES
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("zh", "en"), default="zh")
    parser.add_argument("--show", action="store_true", help="print each screen's text")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.show
    print(f"citizen time ({args.lang}; tap {TAP_S} s, digit {DIGIT_S} s, reading "
          f"{CJK_PER_S:.0f} characters or {WORDS_PER_S:.0f} words a second)")  # fmt: skip
    met = report(run(args.lang))
    print("goals met" if met else "GOALS MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
