"""Encoding a face and matching it 1:1 against the document photo."""

from __future__ import annotations

import io
import threading

import face_recognition
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

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


# face_recognition switches on Pillow's process-wide LOAD_TRUNCATED_IMAGES when imported, which
# turns a cut-off photo into one padded with grey. A photo cut off in transfer must be refused.
_STRICT_DECODE = threading.Lock()


def decode_image(data: bytes) -> np.ndarray:
    """RGB uint8 pixels of a JPEG, PNG or JPEG 2000 image; UnreadableImage if cut off or not one."""
    with _STRICT_DECODE:
        tolerant = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                return np.asarray(img.convert("RGB"))
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            detail = "cut off" if "truncated" in str(exc) else "not a decodable image"
            raise UnreadableImage(f"{detail} ({type(exc).__name__})") from None
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = tolerant


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
