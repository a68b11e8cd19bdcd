"""A material from a USB stick, by touch: insert, choose a file, check its pages, use them.

The stick is the emulated removable-media port (a real directory that appears and vanishes);
every file is read by the real sandboxed importer.
"""

from __future__ import annotations

import os

import pypdfium2
from ui_unit_kiosk import leftovers, offline_kiosk, walk_to_materials

from devices.storage.emulated import sample_documents
from terminal.materials.checklist import MaterialStatus
from terminal.materials.usb_import import ImportRefused
from terminal.ui.i18n import Translator

CODE = "household-register"
NAMES = {"household-register.pdf", "photos/id-card-copy.jpg", "scan-damaged.pdf", "notes.pdf"}


def open_usb_screen(drv, devices, poll_s: float = 0.05):
    s = drv.kiosk.screens
    s["usb_import"].poll_s = poll_s
    walk_to_materials(drv, devices)
    drv.tap(s["materials"].actions[CODE]["usb"])
    drv.wait_screen("usb_import")
    return s["usb_import"]


def choose(drv, usb, path: str) -> None:
    drv.wait_for(lambda: path in usb.file_buttons, what=f"{path} listed")
    drv.tap(usb.file_buttons[path])


def test_good_files_are_listed_bad_ones_explained_and_the_chosen_pages_become_the_material(
    tmp_path,
):
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        k = drv.kiosk
        usb = open_usb_screen(drv, devices)
        assert usb.hint.text == k.t("usb.insert_hint", name="户口簿")
        drv.pump(3)
        assert usb.file_buttons == {}  # no stick yet
        devices.stick.insert(sample_documents())
        drv.wait_for(lambda: usb.state == "files", what="the stick listed")
        assert set(usb.file_buttons) == {
            "household-register.pdf",
            "photos/id-card-copy.jpg",
            "scan-damaged.pdf",  # looks like a PDF: only reading it shows it is broken
        }
        assert "notes.pdf" in usb.refusals
        assert (
            ImportRefused("unsupported_type").text(Translator("zh"))
            in usb.refusals["notes.pdf"].text
        )

        choose(drv, usb, "household-register.pdf")
        drv.wait_for(lambda: usb.state == "preview", what="the preview")
        assert len(usb.thumbs) == 2
        assert all(t.texture is not None and t.get_root_window() for t in usb.thumbs)
        assert usb.hint.text.startswith(k.t("usb.preview", pages=2, files=1))

        drv.tap(usb.use_button)
        drv.wait_screen("materials")
        flow = k.submission
        assert flow.checklist.entry(CODE).status == MaterialStatus.IMPORTED
        held = flow.scanned[CODE]
        assert held.pages == 2
        pdf = pypdfium2.PdfDocument(k.node.outbox.blob_path(held.blob.sha256).read_bytes())
        assert len(pdf) == 2
        pdf.close()
        assert k.screens["materials"].states[CODE].text == "✓ " + k.t("materials.imported", pages=2)
        assert usb.thumbs == [] and usb.chosen == []


def test_a_broken_file_is_explained_and_another_file_can_still_be_used(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        devices.stick.insert(sample_documents())
        usb = open_usb_screen(drv, devices)
        choose(drv, usb, "scan-damaged.pdf")
        drv.wait_for(lambda: usb.status.text, what="a refusal")
        assert usb.status.text == str(ImportRefused("broken"))
        assert usb.state == "files" and usb.thumbs == []
        choose(drv, usb, "photos/id-card-copy.jpg")
        drv.wait_for(lambda: usb.state == "preview", what="the preview")
        assert len(usb.thumbs) == 1 and usb.status.text == ""


def test_pages_of_two_files_are_used_together(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        devices.stick.insert(sample_documents())
        usb = open_usb_screen(drv, devices)
        choose(drv, usb, "household-register.pdf")
        drv.wait_for(lambda: usb.state == "preview", what="the first preview")
        drv.tap(usb.add_button)
        choose(drv, usb, "photos/id-card-copy.jpg")
        drv.wait_for(lambda: usb.state == "preview" and len(usb.thumbs) == 3, what="3 pages")
        drv.tap(usb.use_button)
        drv.wait_screen("materials")
        assert drv.kiosk.submission.scanned[CODE].pages == 3


def test_a_stick_from_a_pc_set_to_gbk_is_listed_readable_and_its_files_used(tmp_path):
    # The kernel hands over such names as bytes that are no UTF-8; drawing them raised in the
    # text renderer, and the kiosk stopped at the file list.
    gbk = os.fsdecode("户口簿.pdf".encode("gbk"))
    broken = os.fsdecode(b"scan-\xff\xfe.pdf")
    files = dict(sample_documents())
    stick = {gbk: files["household-register.pdf"], broken: files["scan-damaged.pdf"]}
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        devices.stick.insert(stick)
        usb = open_usb_screen(drv, devices)
        choose(drv, usb, gbk)
        assert usb.file_buttons[gbk].text.startswith("户口簿.pdf  (")
        assert usb.file_buttons[broken].text.startswith("scan-\ufffd\ufffd.pdf  (")
        drv.wait_for(lambda: usb.state == "preview", what="the preview")
        assert len(usb.thumbs) == 2


def test_a_stick_pulled_out_while_reading_keeps_nothing_and_says_so(tmp_path):
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        k = drv.kiosk
        devices.stick.insert(sample_documents())
        usb = open_usb_screen(drv, devices)
        choose(drv, usb, "household-register.pdf")
        devices.stick.remove()
        drv.wait_for(lambda: usb.status.text == k.t("usb.removed"), what="the removal noticed")
        drv.pump(3)
        assert usb.state == "waiting" and usb.chosen == [] and usb.thumbs == []
        assert usb.file_buttons == {} and usb.refusals == {}
        assert CODE not in k.submission.scanned
        devices.stick.insert(sample_documents())  # plugged in again: the files come back
        drv.wait_for(lambda: "household-register.pdf" in usb.file_buttons, what="relisted")


def test_a_stick_pulled_out_during_the_preview_cannot_be_used(tmp_path):
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        k = drv.kiosk
        devices.stick.insert(sample_documents())
        usb = open_usb_screen(drv, devices, poll_s=3600)  # only the tap on "use" notices
        choose(drv, usb, "household-register.pdf")
        drv.wait_for(lambda: usb.state == "preview", what="the preview")
        devices.stick.remove()
        drv.tap(usb.use_button)
        drv.pump(3)
        assert k.current == "usb_import" and usb.status.text == k.t("usb.removed")
        assert usb.thumbs == [] and CODE not in k.submission.scanned
        assert k.submission.checklist.entry(CODE).status == MaterialStatus.MISSING


def test_after_the_idle_timeout_no_file_name_or_page_remains(tmp_path):
    with offline_kiosk(tmp_path) as (drv, devices, _key):
        k = drv.kiosk
        devices.stick.insert(sample_documents())
        usb = open_usb_screen(drv, devices)
        choose(drv, usb, "household-register.pdf")
        drv.wait_for(lambda: usb.state == "preview", what="the preview")
        drv.tap(usb.add_button)  # the file list and the chosen pages both held
        drv.wait_for(lambda: usb.file_buttons, what="the list again")
        assert leftovers(k, NAMES), "the list shows file names (else this test proves nothing)"
        k.idle.clock.now += k.idle.timeout_s + k.idle.warn_s + 1
        drv.wait_screen("home")
        drv.pump(3)
        assert leftovers(k, NAMES) == []
        assert usb.chosen == [] and usb.thumbs == [] and usb.candidates == []
        assert usb._poll_event is None


def test_a_usb_port_that_cannot_be_read_sends_the_citizen_to_the_scanner(tmp_path):
    with offline_kiosk(tmp_path, lang="en") as (drv, devices, _key):
        k = drv.kiosk
        devices.stick.broken = True  # the mount table cannot be read
        usb = open_usb_screen(drv, devices)
        assert usb.status.text == k.t("usb.port_trouble")
        drv.tap(usb.back_button)
        drv.wait_screen("materials")
        assert usb._poll_event is None  # nothing polls the port once the screen is left
