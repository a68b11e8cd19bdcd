"""Encoding a face and matching it 1:1 against the document photo."""

from __future__ import annotations

import io
import threading

import face_recognition
import numpy as np
from PIL import Image, ImageFile

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


# Pixels an image may declare before it is decoded. A DG2 portrait or an ID-card print is well
# under 1 megapixel and a phone photo given to `allhours face verify` about 12 MP; 16 MP decode
# to 48 MB of RGB. The header is read first, so a chip or file declaring more (a JPEG of a few
# hundred bytes can declare 20000 x 20000, over 1 GB decoded) is refused before any decoding.
# Pillow's own guard only warns up to 179 MP and is process-wide.
MAX_PIXELS = 16_000_000

# face_recognition switches on Pillow's process-wide LOAD_TRUNCATED_IMAGES when imported, which
# turns a cut-off photo into one padded with grey. A photo cut off in transfer must be refused.
_STRICT_DECODE = threading.Lock()


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """RGB uint8 pixels of a JPEG, PNG or JPEG 2000 image.

    UnreadableImage if it is cut off, not an image, declares more than `max_pixels`, or fails
    to decode in any other way: a document photo comes from a chip or card and may be anything.
    """
    with _STRICT_DECODE:
        tolerant = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size  # from the header: nothing is decoded yet
                if width * height > max_pixels:
                    raise UnreadableImage(
                        f"too large: {width} x {height} pixels declared, over {max_pixels}"
                    )
                img.load()
                return np.asarray(img.convert("RGB"))
        except UnreadableImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # Pillow's own bound (Image.MAX_IMAGE_PIXELS, process-wide, checked in Image.open)
            # came first; its warning is an error where a warnings filter says so.
            raise UnreadableImage(f"too large: {exc}") from None
        except Exception as exc:  # every decoder failure (OSError, struct.error, EOFError...)
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
