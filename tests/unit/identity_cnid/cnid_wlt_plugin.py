"""A stand-in WLT decoder for tests: draws the 1024 bytes as a 32x32 grey PNG (not real WLT)."""

from __future__ import annotations

import io

from PIL import Image


class GreyPngDecoder:
    """Loadable as 'cnid_wlt_plugin:GreyPngDecoder'."""

    def decode(self, wlt: bytes) -> bytes:
        image = Image.frombytes("L", (32, 32), wlt[:1024].ljust(1024, b"\0"))
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()


class BrokenDecoder:
    """Fails like a vendor library given a photo it cannot decode."""

    def decode(self, wlt: bytes) -> bytes:
        raise RuntimeError("vendor library returned -4")


class NotAnImageDecoder:
    def decode(self, wlt: bytes) -> bytes:
        return b"this is not an image"


INSTANCE = GreyPngDecoder()
NOT_A_DECODER = 42
