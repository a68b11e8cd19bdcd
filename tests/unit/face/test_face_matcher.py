"""1:1 matching on real photos: same person under the threshold, different people over it."""

from __future__ import annotations

import io
import itertools
import struct

import pytest
from PIL import Image

from demo_support.samples import PERSON, sample_bytes
from face.check import FaceCheck
from face.decision import DEFAULT_THRESHOLD
from face.matcher import (
    NoFaceFound,
    UnreadableImage,
    decode_image,
    distance,
    document_encoding,
)


@pytest.fixture(scope="module")
def encodings():
    return {name: document_encoding(sample_bytes(name)) for name in PERSON}


def _pairs(same: bool):
    for a, b in itertools.combinations(sorted(PERSON), 2):
        if (PERSON[a] == PERSON[b]) == same:
            yield a, b


def test_same_person_pairs_match(encodings):
    measured = {(a, b): distance(encodings[a], encodings[b]) for a, b in _pairs(True)}
    print("same person:", {k: round(v, 3) for k, v in measured.items()})
    assert len(measured) == 6
    assert all(d < DEFAULT_THRESHOLD for d in measured.values()), measured


def test_different_people_do_not_match(encodings):
    measured = {(a, b): distance(encodings[a], encodings[b]) for a, b in _pairs(False)}
    print("different people:", {k: round(v, 3) for k, v in measured.items()})
    assert len(measured) == 9
    # Not merely over the threshold: far over it, so the threshold has room on both sides.
    assert all(d > DEFAULT_THRESHOLD + 0.2 for d in measured.values()), measured


def test_a_jpeg2000_document_photo_gives_the_same_face():
    with Image.open(io.BytesIO(sample_bytes("obama2"))) as img:
        img.thumbnail((240, 320))
        out = io.BytesIO()
        img.save(out, "JPEG2000")
    small = document_encoding(out.getvalue())
    assert distance(small, document_encoding(sample_bytes("obama"))) < DEFAULT_THRESHOLD
    assert distance(small, document_encoding(sample_bytes("biden"))) > DEFAULT_THRESHOLD


def test_a_photo_without_a_face_is_refused_as_such():
    with pytest.raises(NoFaceFound):
        document_encoding(sample_bytes("page"))


@pytest.mark.parametrize("data", [b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 20])
def test_bytes_that_are_not_an_image_are_refused_clearly(data):
    with pytest.raises(UnreadableImage, match="not a decodable image"):
        decode_image(data)


def test_a_photo_cut_off_in_transfer_is_refused_not_padded():
    data = sample_bytes("obama")
    with pytest.raises(UnreadableImage, match="cut off"):
        decode_image(data[: len(data) // 2])


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A 16 x 16 JPEG whose frame header (SOF0) claims width x height: a few hundred bytes."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, "JPEG")
    jpeg = bytearray(out.getvalue())
    sof = jpeg.index(b"\xff\xc0")
    struct.pack_into(">HH", jpeg, sof + 5, height, width)
    return bytes(jpeg)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "size",
    [
        (20000, 20000),  # past Pillow's own limit: its DecompressionBombError escaped
        (10000, 10000),  # 100 MP: Pillow only warned and decoded 300 MB before failing
        (5000, 4000),  # 20 MP: under Pillow's limits, over ours
    ],
)
def test_a_photo_declaring_too_many_pixels_is_refused_before_decoding(size):
    with pytest.raises(UnreadableImage, match="too large"):
        decode_image(_jpeg_declaring(*size))


def test_a_chip_photo_declaring_a_huge_size_ends_the_face_check_not_the_session():
    # What begin_face_check builds with an eMRTD's DG2 image: the check must end as
    # "document photo unusable" (the staff take over), not raise out of the kiosk session.
    check = FaceCheck(_jpeg_declaring(20000, 20000))
    assert check.finished and check.staff_alternative_required
    assert check.decision is not None
    assert check.decision.reason == "document_photo_unusable"


def test_the_bound_is_on_the_declared_pixel_count():
    assert decode_image(_jpeg_declaring(16, 16), max_pixels=16 * 16).shape == (16, 16, 3)
    with pytest.raises(UnreadableImage, match="too large: 16 x 16 pixels declared"):
        decode_image(_jpeg_declaring(16, 16), max_pixels=16 * 16 - 1)
