"""`allhours face verify` on real photos and on frame sequences from the emulated camera."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from PIL import Image

from allhours.cli import main
from demo_support.samples import sample
from devices.camera.face_emulator import LivePersonSource, Portrait


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faces")
    for name in ("obama", "obama2", "biden", "page"):
        shutil.copy(sample(name), folder / sample(name).name)
    with Image.open(sample("obama2")) as img:
        img.thumbnail((240, 320))
        img.save(folder / "card.jp2")
    return folder


@pytest.fixture(scope="module")
def blink_sequence(tmp_path_factory) -> list[Path]:
    """Frames of the emulated holder looking, blinking and looking again, as PNG files."""
    folder = tmp_path_factory.mktemp("sequence")
    person = LivePersonSource(
        Portrait(sample("obama")), rng=random.Random(2), spontaneous_blink_every=None
    )
    frames = [person.capture() for _ in range(2)]
    person.show_prompt("blink_now")
    frames += [person.capture() for _ in range(10)]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(folder / f"frame{i}.png")
        Image.fromarray(frame).save(paths[-1])
    return paths


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["face", "verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_match_prints_distance_threshold_quality_and_says_liveness_not_judged(photos, capsys):
    code, out, _ = _run(capsys, str(photos / "obama2.jpg"), str(photos / "obama.jpg"))
    assert code == 0
    assert "distance 0.3" in out and "threshold 0.50" in out
    assert "sharpness" in out and "<- best" in out
    assert "liveness not judged" in out
    assert out.strip().endswith("decision: MATCH")


def test_another_person_is_no_match_with_exit_1(photos, capsys):
    code, out, _ = _run(capsys, str(photos / "biden.jpg"), str(photos / "obama.jpg"), "--json")
    report = json.loads(out)
    assert code == 1
    assert report["decision"] == "no_match" and report["distance"] > 0.7
    assert report["liveness"] == {
        "judged": False,
        "passed": None,
        "gestures": [],
        "reason": None,
        "frames_needed": 3,
    }


def test_a_jpeg2000_card_photo_is_decoded_and_matched(photos, capsys):
    code, out, _ = _run(capsys, str(photos / "card.jp2"), str(photos / "obama.jpg"), "--json")
    assert code == 0 and json.loads(out)["decision"] == "match"


def test_a_stricter_threshold_turns_a_match_into_no_match(photos, capsys):
    args = [str(photos / "obama2.jpg"), str(photos / "obama.jpg"), "--threshold", "0.2"]
    code, out, _ = _run(capsys, *args)
    assert code == 1 and "decision: NO MATCH" in out


def test_no_face_in_the_live_images_or_the_document_is_exit_1(photos, capsys):
    code, out, _ = _run(capsys, str(photos / "obama2.jpg"), str(photos / "page.png"))
    assert code == 1 and "frame 1" in out and "no face" in out
    code, out, _ = _run(capsys, str(photos / "page.png"), str(photos / "obama.jpg"))
    assert code == 1 and "no face" in out


def test_unreadable_or_missing_files_are_exit_2(photos, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code, _, err = _run(capsys, str(bad), str(photos / "obama.jpg"))
    assert code == 2 and "broken.jpg: not a decodable image" in err
    code, _, err = _run(capsys, str(photos / "obama2.jpg"), str(tmp_path / "missing.png"))
    assert code == 2 and "cannot read" in err
    code, _, err = _run(
        capsys, str(photos / "obama2.jpg"), str(photos / "obama.jpg"), "--threshold", "0"
    )
    assert code == 2


def test_a_blinking_sequence_passes_liveness_and_a_repeated_frame_fails(
    photos, blink_sequence, capsys
):
    code, out, _ = _run(capsys, str(photos / "obama2.jpg"), *map(str, blink_sequence), "--json")
    report = json.loads(out)
    assert code == 0, report
    assert report["liveness"]["passed"] is True and report["liveness"]["gestures"] == ["blink"]
    still = [str(blink_sequence[0])] * 4
    code, out, _ = _run(capsys, str(photos / "obama2.jpg"), *still)
    assert code == 1
    assert "liveness: FAILED (frozen_frames)" in out
    assert "NOT VERIFIED" in out
