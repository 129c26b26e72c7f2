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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from touchgrass.errors import ConfigError
from touchgrass.mina import decode_address
from touchgrass.node import ops
from touchgrass.node.checks import open_checks
from touchgrass.settings import ProverSettings
from touchgrass.signatures import CURVE_ORDER, SignerKey

__all__ = ["TRUST_FILE_VERSION", "TrustAnchors", "contract_permissions", "resolve_anchors",
           "zkapp_problems"]

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

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "touchgrassTrust": TRUST_FILE_VERSION, "operator": self.operator,
            "signers": [{"curve": key.curve, "publicKey": str(key)} for key in self.signers]}
        if self.zkapps is not None:
            document["zkapps"] = sorted(self.zkapps)
        return document

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
            return cls(signers, str(document["operator"]),
                       frozenset(zkapps) if zkapps is not None else None)
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"{source}: {type(error).__name__}: {error}") from None

    @classmethod
    def read(cls, path: Path) -> TrustAnchors:
        try:
            document = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"the trust file {path} cannot be read: {error}") from None
        return cls.from_json(document, f"the trust file {path}")


async def resolve_anchors(*, trust_file: Path | None, operator: str | None,
                          signer: SignerKey | None, fee_payer_key: str | None,
                          prover: ProverSettings) -> TrustAnchors:
    """The verifier's anchors: the trust file when given; else the operator's address (or the
    one FEE_PAYER_PRIVATE_KEY derives, on the operator's own machine) and the signer key."""
    if trust_file is not None:
        return TrustAnchors.read(trust_file)
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
