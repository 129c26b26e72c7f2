"""Whom `touchgrass verify` trusts, stated and checked: its trust anchors.

A record on chain proves only that *some* key signed the photo and that *some* account ran
our contract. Two anchors make that mean something, as a C2PA validator's trust list does:

- the signer keys: a record counts only when its signer is one of them (anyone can sign any
  photo with a key of their own, prove it, and record it in a zkApp of their own);
- the operator: the Mina key that deploys and administers the zkApps (the contract's `admin`
  state). A zkApp counts only when its admin is the operator, its permissions are exactly
  those the contract sets, and those still hold on the node's transaction version; when the
  operator lists its zkApps, only those count.

The anchors come from the verifier, never from what it checks: a trust file the operator
published (`touchgrass trust` writes one), or --signer/--operator (SIGNER_PUBLIC_KEY,
OPERATOR_PUBLIC_KEY). What remains trusted is written in docs/receipts.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from touchgrass.errors import ConfigError
from touchgrass.mina import decode_address
from touchgrass.node import ops
from touchgrass.node.checks import open_checks
from touchgrass.settings import ProverSettings
from touchgrass.signatures import CURVE_ORDER, SignerKey

__all__ = ["TRUST_FILE_VERSION", "TrustAnchors", "contract_permissions", "read_trust",
           "resolve_anchors", "sign", "zkapp_problems"]

TRUST_FILE_VERSION = 1


def contract_permissions(transaction_version: int) -> dict[str, str]:
    """The permissions AuthenticityZkApp's deploy sets (js/src/zkapp.js: o1js's
    Permissions.default() with four changes), as the node names them. Only a proof of the
    contract may add actions or change state; nobody may change the permissions, nor the
    verification key while the network runs `transaction_version`."""
    return {
        "editState": "Proof", "send": "Proof", "receive": "None", "access": "None",
        "setDelegate": "Signature", "setZkappUri": "Signature", "setTokenSymbol": "Signature",
        "incrementNonce": "Signature", "setVotingFor": "Signature", "setTiming": "Signature",
        "editActionState": "Proof",
        "setPermissions": "Impossible",
        "setVerificationKey": f"Impossible/{transaction_version}",
    }


@dataclass(frozen=True)
class TrustAnchors:
    signers: tuple[SignerKey, ...]
    operator: str  # a Mina address: the admin of the operator's zkApps
    zkapps: frozenset[str] | None = None  # the operator's zkApps, when it lists them
    # the operator's Mina signature over `statement()` (`touchgrass trust --sign`): what lets
    # a verifier that pinned only the operator's address take the rest from anywhere
    signature: str | None = None

    def __post_init__(self) -> None:
        try:
            decode_address(self.operator)
        except ValueError as error:
            raise ConfigError(f"the operator key {self.operator[:12]}… is not a Mina "
                              f"address: {error}") from None
        if not self.signers:
            raise ConfigError("no trusted signer key: give --signer (SIGNER_PUBLIC_KEY) or a "
                              "trust file listing one")

    def signer(self, curve: str, x: int, y: int) -> SignerKey | None:
        """The trusted key with these coordinates, if any."""
        return next((key for key in self.signers
                     if (key.curve, key.x, key.y) == (curve, x, y)), None)

    def as_json(self, *, signed: bool = True) -> dict[str, Any]:
        document: dict[str, Any] = {
            "touchgrassTrust": TRUST_FILE_VERSION, "operator": self.operator,
            "signers": [{"curve": key.curve, "publicKey": str(key)} for key in self.signers]}
        if self.zkapps is not None:
            document["zkapps"] = sorted(self.zkapps)
        if signed and self.signature is not None:
            document["signature"] = self.signature
        return document

    def statement(self) -> list[int]:
        """What the operator signs: the SHA-256 of the file without its signature, as
        canonical JSON (sorted keys, no spaces), in two 128-bit field elements."""
        canonical = json.dumps(self.as_json(signed=False), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).digest()
        return [int.from_bytes(digest[:16], "big"), int.from_bytes(digest[16:], "big")]

    @classmethod
    def from_json(cls, document: Any, source: str) -> TrustAnchors:
        """A trust file's contents; ConfigError naming what is wrong."""
        if not isinstance(document, dict) or document.get("touchgrassTrust") != TRUST_FILE_VERSION:
            raise ConfigError(f"{source} is not a touchgrass trust file (version "
                              f"{TRUST_FILE_VERSION})")
        try:
            signers = tuple(_signer(entry) for entry in document["signers"])
            zkapps = document.get("zkapps")
            if zkapps is not None:
                for address in zkapps:
                    decode_address(address)
            signature = document.get("signature")
            if signature is not None and not isinstance(signature, str):
                raise TypeError("signature must be a base58 string")
            return cls(signers, str(document["operator"]),
                       frozenset(zkapps) if zkapps is not None else None, signature)
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"{source}: {type(error).__name__}: {error}") from None



async def read_trust(location: str) -> TrustAnchors:
    """A trust file from a path or an http(s) URL (where the operator publishes it)."""
    try:
        if location.startswith(("http://", "https://")):
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http, \
                    http.get(location) as response:
                if response.status != 200:
                    raise ConfigError(f"the trust file at {location} answered HTTP "
                                      f"{response.status}")
                document = await response.json(content_type=None)
        else:
            document = json.loads(Path(location).read_text())
    except (OSError, UnicodeDecodeError, ValueError, aiohttp.ClientError, TimeoutError) as error:
        raise ConfigError(f"the trust file {location} cannot be read: "
                          f"{type(error).__name__}: {error}") from None
    return TrustAnchors.from_json(document, f"the trust file {location}")


async def sign(anchors: TrustAnchors, fee_payer_key: str, prover: ProverSettings
               ) -> TrustAnchors:
    """The trust file signed by the operator's key (which must be the file's operator)."""
    async with open_checks(prover) as checks:
        address = await ops.public_key_of(checks, fee_payer_key)
        if address != anchors.operator:
            raise ConfigError(f"FEE_PAYER_PRIVATE_KEY is the key of {address}, not of the "
                              f"operator {anchors.operator}: it cannot sign for it")
        return replace(anchors, signature=await ops.sign_fields(
            checks, fee_payer_key, anchors.statement()))


async def resolve_anchors(*, trust: str | None, operator: str | None,
                          signer: SignerKey | None, fee_payer_key: str | None,
                          prover: ProverSettings) -> TrustAnchors:
    """The verifier's anchors: the trust file when given (with the operator's address pinned
    too, it must be that operator's and signed by it); else the operator's address (or the
    one FEE_PAYER_PRIVATE_KEY derives, on the operator's own machine) and the signer key."""
    if trust is not None:
        anchors = await read_trust(trust)
        if operator is None and anchors.signature is None:
            return anchors  # the verifier holds the file itself: it is its own anchor
        pinned = operator or anchors.operator
        if anchors.operator != pinned:
            raise ConfigError(f"the trust file {trust} is the operator {anchors.operator}'s, "
                              f"not {pinned}'s")
        if anchors.signature is None:
            raise ConfigError(f"the trust file {trust} is not signed: with --operator "
                              "pinned, it must carry that operator's signature (`touchgrass "
                              "trust --sign`)")
        async with open_checks(prover) as checks:
            valid = await ops.verify_fields(checks, pinned, anchors.statement(),
                                            anchors.signature)
        if not valid:
            raise ConfigError(f"the trust file {trust} is not signed by the operator {pinned}: "
                              "it was changed, or someone else signed it")
        return anchors
    if signer is None:
        raise ConfigError("say whom you trust: --trust FILE (the operator's trust file), or "
                          "--signer x,y (SIGNER_PUBLIC_KEY) with --operator B62... "
                          "(OPERATOR_PUBLIC_KEY)")
    if operator is None and fee_payer_key:
        async with open_checks(prover) as checks:
            operator = await ops.public_key_of(checks, fee_payer_key)
    if operator is None:
        raise ConfigError("say which operator you trust: --operator B62... "
                          "(OPERATOR_PUBLIC_KEY, the Mina address that deploys its zkApps) or "
                          "--trust FILE")
    return TrustAnchors((signer,), operator)


def _signer(entry: Any) -> SignerKey:
    curve = entry.get("curve", "secp256k1")
    if curve not in CURVE_ORDER:
        raise ValueError(f"unknown curve {curve!r}")
    return SignerKey.parse(str(entry["publicKey"]), curve)


def zkapp_problems(address: str, zkapp_state: list[int] | None,
                   permissions: dict[str, str] | None, anchors: TrustAnchors,
                   transaction_version: int | None) -> list[str]:
    """Why this zkApp is not vouched for by the operator (empty: it is).

    `zkapp_state[0:2]` is the contract's admin (a public key as x and its parity)."""
    problems = []
    if anchors.zkapps is not None and address not in anchors.zkapps:
        problems.append("it is not among the zkApps the operator lists")
    operator_x, operator_parity = decode_address(anchors.operator)
    if not zkapp_state or len(zkapp_state) < 2 or \
            (zkapp_state[0], zkapp_state[1]) != (operator_x, operator_parity):
        problems.append(f"its admin is not the operator {anchors.operator}")
    expected = contract_permissions(transaction_version or 0)
    if transaction_version is None:
        problems.append("the node's transaction version is unknown to this version of "
                        "touchgrass, so whether its verification key can still be changed "
                        "cannot be told")
        del expected["setVerificationKey"]
    actual = permissions or {}
    wrong = [f"{name} is {actual.get(name, 'missing')} (the contract sets {want})"
             for name, want in expected.items() if actual.get(name) != want]
    if wrong:
        problems.append("its permissions are not the contract's: " + "; ".join(wrong))
    return problems
