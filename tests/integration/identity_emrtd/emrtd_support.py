"""Test documents for the eMRTD tests: the ICAO specimen holder with a real sample photo."""

from __future__ import annotations

import functools
import io

from PIL import Image

from demo_support.samples import sample_bytes
from devices.identity.emrtd.mrz import SPECIMEN_MRZ, compose_td3

MRZ = SPECIMEN_MRZ
OTHER_MRZ = compose_td3(
    issuing_state="UTO",
    surname="MUSTERMANN",
    given_names="ERIKA",
    document_number="C01X00T47",
    nationality="UTO",
    birth_date="640812",
    sex="F",
    expiry_date="310101",
)


@functools.cache
def passport_photo(
    image_format: str = "jpeg",
    person: str = "obama",
    size: tuple[int, int] = (360, 450),
    quality: int = 80,
) -> bytes:
    """A passport-sized portrait (about 20-30 KB, as on real chips) as JPEG or JPEG 2000."""
    with Image.open(io.BytesIO(sample_bytes(person))) as source:
        image = source.convert("RGB")
    image.thumbnail(size)
    out = io.BytesIO()
    if image_format == "jp2":
        image.save(out, "JPEG2000", irreversible=True, quality_mode="rates", quality_layers=[20])
    else:
        image.save(out, "JPEG", quality=quality)
    return out.getvalue()
