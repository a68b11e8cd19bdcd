"""BER-TLV (ISO/IEC 8825-1, as used by ISO 7816 and the LDS): strict parsing and encoding.

Only definite lengths are accepted (the LDS and DER forbid the indefinite form), lengths
use at most four bytes, and tags at most three. Every defect raises `TlvError` naming the
offset and what was wrong; no other exception escapes for any input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import TlvError

MAX_TAG_BYTES = 3
MAX_LENGTH_BYTES = 4


class TruncatedTlv(TlvError):
    """The data ends inside a data object (a short read, or a lying length field)."""


@dataclass(frozen=True)
class Tlv:
    """One data object; `value` may be personal data, so repr shows only its size."""

    tag: int
    value: bytes = field(repr=False)
    offset: int = 0  # where the object started in the buffer it was parsed from

    @property
    def constructed(self) -> bool:
        """Whether the value is itself a sequence of data objects."""
        first = self.tag
        while first > 0xFF:
            first >>= 8
        return bool(first & 0x20)

    def children(self) -> list[Tlv]:
        """The data objects inside a constructed object."""
        if not self.constructed:
            raise TlvError(f"tag {self.tag:X} at offset {self.offset} is primitive, not a template")
        return parse_all(self.value, base=self.offset + _header_size(self))

    def child(self, tag: int) -> Tlv:
        """The first child with `tag`; TlvError if it is missing."""
        for item in self.children():
            if item.tag == tag:
                return item
        raise TlvError(f"tag {tag:X} missing inside tag {self.tag:X} at offset {self.offset}")

    def find(self, tag: int) -> Tlv | None:
        """The first child with `tag`, or None."""
        return next((item for item in self.children() if item.tag == tag), None)

    def encode(self) -> bytes:
        return encode(self.tag, self.value)


def _header_size(item: Tlv) -> int:
    return len(encode_tag(item.tag)) + len(encode_length(len(item.value)))


def read_tag(data: bytes, pos: int) -> tuple[int, int]:
    """Decode the tag at `pos`; returns (tag, position after it)."""
    if pos >= len(data):
        raise TruncatedTlv(f"truncated: tag expected at offset {pos}, data ends at {len(data)}")
    first = data[pos]
    if first in (0x00, 0xFF):
        raise TlvError(f"invalid tag byte {first:02X} at offset {pos} (padding or garbage)")
    tag = first
    pos += 1
    if first & 0x1F != 0x1F:
        return tag, pos
    for count in range(1, MAX_TAG_BYTES):
        if pos >= len(data):
            raise TruncatedTlv(f"truncated: multi-byte tag {tag:X} cut at offset {pos}")
        byte = data[pos]
        if count == 1 and byte == 0x80:
            raise TlvError(f"non-minimal tag encoding at offset {pos}")
        tag = (tag << 8) | byte
        pos += 1
        if not byte & 0x80:
            return tag, pos
    raise TlvError(f"tag longer than {MAX_TAG_BYTES} bytes at offset {pos - MAX_TAG_BYTES}")


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    """Decode the length at `pos`; returns (length, position after it)."""
    if pos >= len(data):
        raise TruncatedTlv(f"truncated: length expected at offset {pos}, data ends at {len(data)}")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0:
        raise TlvError(f"indefinite length at offset {pos - 1} is not allowed here")
    if count > MAX_LENGTH_BYTES:
        raise TlvError(f"length field of {count} bytes at offset {pos - 1} is too long")
    if pos + count > len(data):
        raise TruncatedTlv(f"truncated: {count}-byte length field at offset {pos - 1} is cut")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def parse_one(data: bytes, pos: int = 0, *, base: int = 0) -> tuple[Tlv, int]:
    """Parse the data object at `pos`; returns it and the position after it."""
    start = pos
    tag, pos = read_tag(data, pos)
    length, pos = read_length(data, pos)
    end = pos + length
    if end > len(data):
        raise TruncatedTlv(
            f"truncated: tag {tag:X} at offset {base + start} declares {length} bytes, "
            f"only {len(data) - pos} present"
        )
    return Tlv(tag, bytes(data[pos:end]), base + start), end


def parse_all(data: bytes, *, base: int = 0) -> list[Tlv]:
    """Parse a buffer that holds only complete data objects, back to back."""
    items = []
    pos = 0
    while pos < len(data):
        item, pos = parse_one(data, pos, base=base)
        items.append(item)
    return items


def parse_single(data: bytes, expected_tag: int | None = None) -> Tlv:
    """Parse a buffer holding exactly one data object (an LDS file), optionally of one tag."""
    item, end = parse_one(data)
    if expected_tag is not None and item.tag != expected_tag:
        raise TlvError(f"expected tag {expected_tag:X}, found {item.tag:X}")
    if end != len(data):
        raise TlvError(f"{len(data) - end} unexpected bytes after tag {item.tag:X}")
    return item


def total_length(prefix: bytes) -> int | None:
    """Full size (header + value) of the object starting `prefix`, or None if more is needed."""
    try:
        _tag, pos = read_tag(prefix, 0)
        length, pos = read_length(prefix, pos)
    except TruncatedTlv:
        return None
    return pos + length


def encode_tag(tag: int) -> bytes:
    if tag < 0 or tag > 0xFFFFFF:
        raise ValueError(f"tag {tag:X} out of range")
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(body) > MAX_LENGTH_BYTES:
        raise ValueError(f"length {length} too large")
    return bytes([0x80 | len(body)]) + body


def encode(tag: int, value: bytes) -> bytes:
    """Encode one data object (DER-minimal length)."""
    return encode_tag(tag) + encode_length(len(value)) + value


def encode_many(*items: tuple[int, bytes]) -> bytes:
    return b"".join(encode(tag, value) for tag, value in items)
