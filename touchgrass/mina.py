"""Mina public keys (wallet addresses): validation exactly as the chain defines them.

An address is base58check (Bitcoin alphabet) over: version byte 0xCB, 0x01, 0x01, the
point's x coordinate (32 bytes little-endian, below the Pallas modulus), one parity byte;
and x^3 + 5 must be a square modulo p, i.e. the point must exist on Pallas.
"""

from __future__ import annotations

import hashlib

__all__ = ["PALLAS_P", "decode_address", "encode_address", "is_valid_address"]

PALLAS_P = 0x40000000000000000000000000000000224698FC094CF91B992D30ED00000001
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(_ALPHABET)}
_PREFIX = bytes([0xCB, 0x01, 0x01])
_ADDRESS_LENGTH = 55


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _INDEX[char]  # KeyError for a non-alphabet character
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading_zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * leading_zeros + body


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_ALPHABET[remainder])
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + "".join(reversed(digits))


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def decode_address(address: str) -> tuple[int, int]:
    """(x, parity) of a valid address; ValueError saying what is wrong otherwise."""
    if not isinstance(address, str) or len(address) != _ADDRESS_LENGTH:
        raise ValueError(f"a Mina address has {_ADDRESS_LENGTH} characters")
    if not address.startswith("B62q"):
        raise ValueError("a Mina address starts with B62q")
    try:
        raw = _b58decode(address)
    except KeyError:
        raise ValueError("not base58") from None
    payload, checksum = raw[:-4], raw[-4:]
    if _checksum(payload) != checksum:
        raise ValueError("bad checksum")
    if len(payload) != len(_PREFIX) + 33 or not payload.startswith(_PREFIX):
        raise ValueError("wrong version bytes or length")
    x = int.from_bytes(payload[3:35], "little")
    parity = payload[35]
    if x >= PALLAS_P:
        raise ValueError("x is not below the Pallas modulus")
    if parity not in (0, 1):
        raise ValueError("parity byte must be 0 or 1")
    if pow((x * x * x + 5) % PALLAS_P, (PALLAS_P - 1) // 2, PALLAS_P) not in (0, 1):
        raise ValueError("no point on Pallas has this x")
    return x, parity


def is_valid_address(address: object) -> bool:
    try:
        decode_address(address)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False
    return True


def encode_address(x: int, parity: int) -> str:
    """The address of the point with this x and parity (no validity check: tests build
    deliberately broken ones from it)."""
    payload = _PREFIX + x.to_bytes(32, "little") + bytes([parity])
    return _b58encode(payload + _checksum(payload))
