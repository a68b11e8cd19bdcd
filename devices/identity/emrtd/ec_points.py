"""Elliptic-curve point arithmetic for PACE's generic mapping (which needs a new generator).

PACE maps the nonce to a generator G' = s*G + H (Doc 9303-11 §4.4.3.3.1), and the ephemeral
keys then live on G'. The cryptography package only does ECDH on a curve's own generator, so
the few point operations PACE needs are done here, in Jacobian coordinates. The curves are
the standardized domain parameters PACE names by id (BSI TR-03110-3 table 4): 12 = NIST
P-256 (FIPS 186-4), 13 = brainpoolP256r1 (RFC 5639). Not constant-time: the terminal's
ephemeral scalars live for one read and never leave the process.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .errors import SecureMessagingError

Point = tuple[int, int] | None  # None is the point at infinity


@dataclass(frozen=True)
class Curve:
    """y^2 = x^3 + ax + b over GF(p), base point (gx, gy) of prime order n."""

    name: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int

    @property
    def generator(self) -> Point:
        return (self.gx, self.gy)

    @property
    def size(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def contains(self, point: Point) -> bool:
        if point is None:
            return False
        x, y = point
        return (
            0 <= x < self.p
            and 0 <= y < self.p
            and (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0
        )

    def encode(self, point: Point) -> bytes:
        """Uncompressed encoding 04 || x || y."""
        if point is None:
            raise ValueError("the point at infinity has no uncompressed encoding")
        return b"\x04" + point[0].to_bytes(self.size, "big") + point[1].to_bytes(self.size, "big")

    def decode(self, data: bytes) -> Point:
        """A point from 04 || x || y; SecureMessagingError unless it lies on the curve."""
        if len(data) != 1 + 2 * self.size or data[0] != 0x04:
            raise SecureMessagingError(
                f"public key of {len(data)} bytes is not an uncompressed point"
            )
        point = (
            int.from_bytes(data[1 : 1 + self.size], "big"),
            int.from_bytes(data[1 + self.size :], "big"),
        )
        if not self.contains(point):
            raise SecureMessagingError("public key is not a point on the curve")
        return point

    def random_scalar(self) -> int:
        return 1 + secrets.randbelow(self.n - 1)

    def add(self, first: Point, second: Point) -> Point:
        return self._affine(self._add(self._jacobian(first), self._jacobian(second)))

    def multiply(self, scalar: int, point: Point) -> Point:
        """scalar * point (double-and-add)."""
        result = None
        addend = self._jacobian(point)
        scalar %= self.n
        while scalar:
            if scalar & 1:
                result = self._add(result, addend)
            addend = self._double(addend)
            scalar >>= 1
        return self._affine(result)

    # Jacobian (X, Y, Z) stands for (X/Z^2, Y/Z^3); None is infinity.
    def _jacobian(self, point: Point):
        return None if point is None else (point[0], point[1], 1)

    def _affine(self, point) -> Point:
        if point is None:
            return None
        x, y, z = point
        z_inv = pow(z, -1, self.p)
        z2 = z_inv * z_inv % self.p
        return (x * z2 % self.p, y * z2 * z_inv % self.p)

    def _double(self, point):
        if point is None:
            return None
        x, y, z = point
        p = self.p
        if y == 0:
            return None
        ysq = y * y % p
        s = 4 * x * ysq % p
        z2 = z * z % p
        m = (3 * x * x + self.a * z2 * z2) % p
        nx = (m * m - 2 * s) % p
        ny = (m * (s - nx) - 8 * ysq * ysq) % p
        nz = 2 * y * z % p
        return (nx, ny, nz)

    def _add(self, first, second):
        if first is None:
            return second
        if second is None:
            return first
        p = self.p
        x1, y1, z1 = first
        x2, y2, z2 = second
        z1s, z2s = z1 * z1 % p, z2 * z2 % p
        u1, u2 = x1 * z2s % p, x2 * z1s % p
        s1, s2 = y1 * z2s * z2 % p, y2 * z1s * z1 % p
        if u1 == u2:
            return self._double(first) if s1 == s2 else None
        h, r = (u2 - u1) % p, (s2 - s1) % p
        h2 = h * h % p
        h3 = h * h2 % p
        nx = (r * r - h3 - 2 * u1 * h2) % p
        ny = (r * (u1 * h2 - nx) - s1 * h3) % p
        return (nx, ny, h * z1 * z2 % p)


P256 = Curve(
    "secp256r1",
    p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    a=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
    b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    gx=0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    gy=0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
)
BRAINPOOL_P256R1 = Curve(
    "brainpoolP256r1",
    p=0xA9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377,
    a=0x7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9,
    b=0x26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6,
    gx=0x8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262,
    gy=0x547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997,
    n=0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7,
)
STANDARD_DOMAIN_PARAMETERS = {12: P256, 13: BRAINPOOL_P256R1}
