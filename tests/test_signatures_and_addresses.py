"""Signer keys and signatures on both curves; Mina address validation vectors."""

from __future__ import annotations

import hashlib

import coincurve
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from tests.support.api import high_s
from touchgrass import mina
from touchgrass.errors import ConfigError
from touchgrass.settings import SignerSettings, load
from touchgrass.signatures import CURVE_ORDER, Signature, SignerKey, generate_private_key, low_s, sign

DIGEST = hashlib.sha256(b"a photo of grass").digest()


def coincurve_signature(secret: bytes, digest: bytes) -> tuple[SignerKey, Signature]:
    private = coincurve.PrivateKey(secret)
    point = private.public_key.format(compressed=False)
    key = SignerKey("secp256k1", int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big"))
    r, s = decode_dss_signature(private.sign(digest, hasher=None))
    return key, Signature(r, s)


def cryptography_signature(curve: ec.EllipticCurve, name: str, digest: bytes):
    private = ec.generate_private_key(curve)
    numbers = private.public_key().public_numbers()
    r, s = decode_dss_signature(private.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    return SignerKey(name, numbers.x, numbers.y), Signature(r, s)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [
    lambda d: coincurve_signature(bytes(range(1, 33)), d),
    lambda d: cryptography_signature(ec.SECP256K1(), "secp256k1", d),
    lambda d: cryptography_signature(ec.SECP256R1(), "secp256r1", d),
], ids=["secp256k1-coincurve", "secp256k1-cryptography", "p256-cryptography"])
def test_low_and_high_s_verify_and_other_digests_do_not(make) -> None:
    key, signature = make(DIGEST)
    assert key.verify(DIGEST, low_s(signature, key.curve))
    assert key.verify(DIGEST, high_s(signature, key.curve))
    assert not key.verify(hashlib.sha256(b"another").digest(), signature)
    assert not key.verify(DIGEST, Signature(signature.r, signature.s ^ 1))


def test_p256_signature_fails_under_secp256k1() -> None:
    key, signature = cryptography_signature(ec.SECP256R1(), "secp256r1", DIGEST)
    assert key.verify(DIGEST, signature)
    with pytest.raises(ValueError, match="not a point on secp256k1"):
        SignerKey.parse(str(key), "secp256k1")  # the P-256 key is not even a secp256k1 point
    k1_private, k1_key = generate_private_key("secp256k1")
    assert not k1_key.verify(DIGEST, signature)


@pytest.mark.parametrize("curve", ["secp256k1", "secp256r1"])
@pytest.mark.parametrize("bad", [Signature(0, 1), Signature(1, 0),
                                 Signature(CURVE_ORDER["secp256k1"], 1)])
def test_out_of_range_components_never_verify(curve: str, bad: Signature) -> None:
    _, key = generate_private_key(curve)  # type: ignore[arg-type]
    assert not key.verify(DIGEST, bad)


@pytest.mark.parametrize("curve", ["secp256k1", "secp256r1"])
def test_sign_round_trip_and_key_parsing(curve: str) -> None:
    private, public = generate_private_key(curve)  # type: ignore[arg-type]
    assert public.verify(DIGEST, sign(private, DIGEST, curve))  # type: ignore[arg-type]
    assert SignerKey.parse(str(public), curve) == public  # type: ignore[arg-type]
    assert SignerKey.parse(f" 0x{public.x:064x} , {public.y:064x} ", curve) == public  # type: ignore[arg-type]


@pytest.mark.parametrize("value, message", [
    ("12,34", "two 64-hex coordinates"),
    ("a" * 64, "two 64-hex coordinates"),
    (f"{1:064x},{2:064x}", "not a point on secp256k1"),
])
def test_a_bad_signer_key_stops_the_api_naming_the_variable(monkeypatch, value, message) -> None:
    monkeypatch.setenv("SIGNER_PUBLIC_KEY", value)
    with pytest.raises(ConfigError, match=f"SIGNER_PUBLIC_KEY is invalid: .*{message}"):
        load(SignerSettings)


# ---------------------------------------------------------------- Mina addresses

P = mina.PALLAS_P
VALID_X = P - 1  # the Pallas point (-1, 2)


def _non_residue_x() -> int:
    x = 2
    while pow((x ** 3 + 5) % P, (P - 1) // 2, P) != P - 1:
        x += 1
    return x


def test_valid_addresses() -> None:
    for address in (mina.encode_address(VALID_X, 0), mina.encode_address(VALID_X, 1),
                    "B62qiy32p8kAKnny8ZFwoMhYpBppM1DWVCqAPBYNcXnsAHhnfAAuXgg"):
        assert mina.is_valid_address(address), address
    assert mina.decode_address(mina.encode_address(VALID_X, 1)) == (VALID_X, 1)


def test_bad_checksum() -> None:
    good = mina.encode_address(VALID_X, 0)
    bad = good[:-1] + ("2" if good[-1] != "2" else "3")
    with pytest.raises(ValueError, match="checksum"):
        mina.decode_address(bad)


def test_wrong_version() -> None:
    import hashlib as h

    payload = bytes([0xCB, 0x01, 0x02]) + VALID_X.to_bytes(32, "little") + b"\x00"
    checksum = h.sha256(h.sha256(payload).digest()).digest()[:4]
    address = mina._b58encode(payload + checksum)
    assert len(address) == 55 and address.startswith("B62q")
    with pytest.raises(ValueError, match="version"):
        mina.decode_address(address)


def test_x_not_below_p() -> None:
    with pytest.raises(ValueError, match="Pallas modulus"):
        mina.decode_address(mina.encode_address(P + 4, 0))


def test_x_with_no_point() -> None:
    with pytest.raises(ValueError, match="no point"):
        mina.decode_address(mina.encode_address(_non_residue_x(), 0))


def test_parity_must_be_a_bit() -> None:
    with pytest.raises(ValueError, match="parity"):
        mina.decode_address(mina.encode_address(VALID_X, 2))


@pytest.mark.parametrize("address", ["", "B62q", mina.encode_address(VALID_X, 0) + "1",
                                     mina.encode_address(VALID_X, 0)[:-1], "B62q" + "0" * 51,
                                     "C" + mina.encode_address(VALID_X, 0)[1:], None, 42])
def test_wrong_length_prefix_or_alphabet(address) -> None:
    assert not mina.is_valid_address(address)
