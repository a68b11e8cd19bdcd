"""The plug-in seam for the card photo's WLT decoder.

The 1024-byte photo on a resident ID card is in the WLT format, which only the vendors'
licensed libraries decode. None ships with allhours; a site that has one wraps it in a
`WltDecoder` and names it in configuration, either as an entry point in the group
`allhours.wlt_decoders` ("entry-point:NAME") or as a dotted path ("package.module:attr").
The attribute may be a decoder object, or a class or factory called with no arguments.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

ENTRY_POINT_GROUP = "allhours.wlt_decoders"

# Formats a decoder may return, by magic number.
IMAGE_MAGIC = {
    b"\xff\xd8\xff": "jpeg",
    b"\x89PNG\r\n\x1a\n": "png",
    b"BM": "bmp",
}


@runtime_checkable
class WltDecoder(Protocol):
    """Turns the card's WLT photo into an image file (JPEG, PNG or BMP bytes)."""

    def decode(self, wlt: bytes) -> bytes:
        """Decode one 1024-byte WLT photo."""
        ...


class WltDecoderError(Exception):
    """The configured decoder cannot be loaded, or it returned something that is not an image."""


def image_format(data: bytes) -> str | None:
    """'jpeg', 'png' or 'bmp' from the magic number; None if none matches."""
    for magic, name in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return name
    return None


def load_wlt_decoder(spec: str | None) -> WltDecoder | None:
    """Load the decoder named by `spec`; None when `spec` is empty (photo stays None)."""
    if not spec:
        return None
    if spec.startswith("entry-point:"):
        name = spec.removeprefix("entry-point:")
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not found:
            raise WltDecoderError(f"no entry point {name!r} in group {ENTRY_POINT_GROUP}")
        try:
            target = found[0].load()
        except Exception as exc:
            raise WltDecoderError(f"entry point {name!r} failed to load: {exc}") from exc
    else:
        module_name, sep, attr = spec.partition(":")
        if not sep or not module_name or not attr:
            raise WltDecoderError(
                f"WLT decoder {spec!r} is neither 'entry-point:NAME' nor 'package.module:attr'"
            )
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise WltDecoderError(f"WLT decoder {spec!r} cannot be imported: {exc}") from exc
    decoder = target
    # A class has a `decode` attribute too, so test for it before the protocol check.
    if isinstance(target, type) or (not isinstance(target, WltDecoder) and callable(target)):
        try:
            decoder = target()
        except Exception as exc:
            raise WltDecoderError(f"WLT decoder {spec!r} failed to start: {exc}") from exc
    if not isinstance(decoder, WltDecoder):
        raise WltDecoderError(f"WLT decoder {spec!r} has no decode(wlt) method")
    return decoder


def decode_photo(decoder: WltDecoder, wlt: bytes) -> bytes:
    """Run the decoder and check it returned an image; WltDecoderError otherwise."""
    try:
        image = decoder.decode(wlt)
    except Exception as exc:
        raise WltDecoderError(f"WLT decoder failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(image, bytes | bytearray) or image_format(bytes(image)) is None:
        raise WltDecoderError("WLT decoder returned something that is not a JPEG, PNG or BMP")
    return bytes(image)
