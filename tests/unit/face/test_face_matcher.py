"""1:1 matching on real photos: same person under the threshold, different people over it."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image

from demo_support.samples import PERSON, sample_bytes
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
