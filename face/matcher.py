"""Encoding a face and matching it 1:1 against the document photo."""

from __future__ import annotations

import io

import face_recognition
import numpy as np
from PIL import Image, UnidentifiedImageError

from face.landmarks import FoundFace, find_faces

# Document photos (eMRTD DG2, ID-card prints) are small: under this width they are upsampled
# once for detection, so a 240 px portrait still yields its face; larger ones are detected at
# DOCUMENT_DETECT_WIDTH.
SMALL_DOCUMENT = 640
DOCUMENT_DETECT_WIDTH = 1024


class UnreadableImage(ValueError):
    """The bytes are not an image this terminal can decode (JPEG, PNG, JPEG 2000)."""


class NoFaceFound(ValueError):
    """The image decodes but no face was found in it."""


def decode_image(data: bytes) -> np.ndarray:
    """RGB uint8 pixels of a JPEG, PNG or JPEG 2000 image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UnreadableImage(f"not a decodable image ({type(exc).__name__})") from None


def encode(frame: np.ndarray, face: FoundFace) -> np.ndarray:
    """The 128-number face_recognition encoding of `face` in `frame`."""
    found = face_recognition.face_encodings(frame, known_face_locations=[face.css], model="small")
    return np.asarray(found[0], dtype=np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two encodings: under the threshold means the same person."""
    return float(np.linalg.norm(a - b))


def document_encoding(photo: bytes | np.ndarray) -> np.ndarray:
    """The encoding of the largest face in a document photo; NoFaceFound if there is none."""
    pixels = decode_image(photo) if isinstance(photo, bytes) else photo
    upsample = 1 if pixels.shape[1] < SMALL_DOCUMENT else 0
    faces = find_faces(pixels, detect_width=DOCUMENT_DETECT_WIDTH, upsample=upsample)
    if not faces:
        raise NoFaceFound("no face found in the document photo")
    return encode(pixels, faces[0])
