"""ECDSA signatures over an image's SHA-256, in one place: the stored form of a signature
(the JSON string `{"r": "<64 hex>", "s": ...}` on a submission) and its checking and making,
on secp256k1 (coincurve) or P-256 (`cryptography`), as the TouchGrass clients sign.

The message is the 32-byte digest itself (no second hash). Both low-S and high-S
signatures are accepted; libsecp256k1 only takes low-S, so S is normalised first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

import coincurve
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

__all__ = ["CURVES", "CURVE_ORDER", "Curve", "Signature", "SignerKey", "generate_private_key",
           "low_s", "public_key_of", "sign"]

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Signature:
    """r and s as integers; how they are checked against a curve is the verifier's business."""

    r: int
    s: int

    @classmethod
    def from_hex(cls, r_hex: str, s_hex: str) -> Signature:
        if not (_HEX64.match(r_hex) and _HEX64.match(s_hex)):
            raise ValueError("signature components must be 64 hex characters each")
        return cls(int(r_hex, 16), int(s_hex, 16))

    @classmethod
    def from_json(cls, text: str) -> Signature:
        """Parse the stored form; ValueError names what is wrong (stored rows are input too)."""
        try:
            value = json.loads(text)
        except (TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"stored signature is not JSON: {error}") from None
        if not isinstance(value, dict) or not isinstance(value.get("r"), str) or not isinstance(
            value.get("s"), str
        ):
            raise ValueError('stored signature must be {"r": "<hex>", "s": "<hex>"}')
        return cls.from_hex(value["r"], value["s"])

    def to_json(self) -> str:
        return json.dumps({"r": f"{self.r:064x}", "s": f"{self.s:064x}"}, separators=(",", ":"))


Curve = Literal["secp256k1", "secp256r1"]
CURVES: tuple[Curve, ...] = ("secp256k1", "secp256r1")

CURVE_ORDER: dict[str, int] = {
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


def low_s(signature: Signature, curve: Curve) -> Signature:
    """The same signature with s <= n/2 (both verify; the circuit gets one canonical form)."""
    order = CURVE_ORDER[curve]
    return signature if signature.s <= order // 2 else Signature(signature.r, order - signature.s)


@dataclass(frozen=True)
class SignerKey:
    """The configured signer public key (`SIGNER_PUBLIC_KEY` = "x,y" in hex)."""

    curve: Curve
    x: int
    y: int

    @classmethod
    def parse(cls, text: str, curve: Curve) -> SignerKey:
        """ValueError (without echoing the text) when malformed or not on the curve."""
        parts = [part.strip().removeprefix("0x") for part in text.split(",")]
        if len(parts) != 2 or not all(_HEX64.match(part) for part in parts):
            raise ValueError("must be two 64-hex coordinates separated by a comma: x,y")
        key = cls(curve, int(parts[0], 16), int(parts[1], 16))
        try:
            key._backend()
        except ValueError:
            raise ValueError(f"is not a point on {curve}") from None
        return key

    def __str__(self) -> str:
        return f"{self.x:064x},{self.y:064x}"

    def _backend(self) -> coincurve.PublicKey | ec.EllipticCurvePublicKey:
        if self.curve == "secp256k1":
            return coincurve.PublicKey(
                b"\x04" + self.x.to_bytes(32, "big") + self.y.to_bytes(32, "big")
            )
        return ec.EllipticCurvePublicNumbers(self.x, self.y, ec.SECP256R1()).public_key()

    def verify(self, digest: bytes, signature: Signature) -> bool:
        """True when `signature` signs the 32-byte `digest` with this key."""
        order = CURVE_ORDER[self.curve]
        if len(digest) != 32 or not (0 < signature.r < order and 0 < signature.s < order):
            return False
        if self.curve == "secp256k1":
            canonical = low_s(signature, self.curve)
            der = encode_dss_signature(canonical.r, canonical.s)
            secp256k1 = self._backend()
            assert isinstance(secp256k1, coincurve.PublicKey)
            return bool(secp256k1.verify(der, digest, hasher=None))
        try:
            p256 = self._backend()
            assert isinstance(p256, ec.EllipticCurvePublicKey)
            p256.verify(encode_dss_signature(signature.r, signature.s), digest, _PREHASHED)
        except InvalidSignature:
            return False
        return True


def generate_private_key(curve: Curve) -> tuple[str, SignerKey]:
    """A new key pair: (private key hex, public key)."""
    if curve == "secp256k1":
        private = coincurve.PrivateKey()
        point = private.public_key.format(compressed=False)
        return private.secret.hex(), SignerKey(curve, int.from_bytes(point[1:33], "big"),
                                               int.from_bytes(point[33:], "big"))
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    return f"{key.private_numbers().private_value:064x}", SignerKey(curve, numbers.x, numbers.y)


def public_key_of(private_hex: str, curve: Curve) -> SignerKey:
    secret = int(private_hex, 16)
    if curve == "secp256k1":
        point = coincurve.PrivateKey(secret.to_bytes(32, "big")).public_key.format(compressed=False)
        return SignerKey(curve, int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big"))
    numbers = ec.derive_private_key(secret, ec.SECP256R1()).public_key().public_numbers()
    return SignerKey(curve, numbers.x, numbers.y)


def sign(private_hex: str, digest: bytes, curve: Curve) -> Signature:
    """Sign a 32-byte digest as the clients do (used by `touchgrass upload` and tests)."""
    if not _HEX64.match(private_hex):
        raise ValueError("a private key is 64 hex characters")
    secret = int(private_hex, 16)
    if curve == "secp256k1":
        der = coincurve.PrivateKey(secret.to_bytes(32, "big")).sign(digest, hasher=None)
    else:
        der = ec.derive_private_key(secret, ec.SECP256R1()).sign(digest, _PREHASHED)
    r, s = decode_dss_signature(der)
    return Signature(r, s)
