"""One typed Python function per op of the JS program (js/src/service.js, js/src/chain.js).

Callers never spell an op name or a JSON field: what crosses the JSON-lines protocol is
written here once, and the answers are checked before they leave this module (a program
that answers something else raises `ProverError`, which the queue retries).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from touchgrass.errors import ProverError, ProverRequestError
from touchgrass.signature import Signature
from touchgrass.signing import SignerKey

__all__ = ["DeployTransaction", "ProverInfo", "ReceiptTransaction", "Runner", "derive_public_key",
           "deploy_transaction", "info", "prove", "public_key_of", "resign_transaction",
           "token_id", "verify", "verify_and_store_transaction"]


class Runner(Protocol):
    """What runs an op: a `ProverPool` (or a stub in tests)."""

    async def run(self, op: str, params: Mapping[str, Any],
                  timeout_s: float | None = None) -> Any: ...


@dataclass(frozen=True)
class ProverInfo:
    curve: str
    verification_key_hash: str
    rss_bytes: int


@dataclass(frozen=True)
class DeployTransaction:
    """A proven and signed zkApp deploy, and the hash it will have on chain."""

    command: dict[str, Any]
    hash: str
    zkapp_address: str
    token_id: str


@dataclass(frozen=True)
class ReceiptTransaction:
    """A proven and signed `verifyAndStore`, and the receipt account it creates."""

    command: dict[str, Any]
    hash: str
    token_owner: str


def _field(answer: Any, op: str, name: str, kind: type = str) -> Any:
    value = answer.get(name) if isinstance(answer, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ProverError(f"the prover's {op} answer has no valid {name!r}")
    return value


def _hex(value: int) -> str:
    return f"{value:064x}"


def _signer(key: SignerKey) -> dict[str, str]:
    return {"x": _hex(key.x), "y": _hex(key.y)}


async def info(runner: Runner) -> ProverInfo:
    answer = await runner.run("info", {})
    return ProverInfo(_field(answer, "info", "curve"),
                      _field(answer, "info", "verificationKeyHash"),
                      _field(answer, "info", "rss", int))


async def prove(runner: Runner, *, digest: bytes, signer: SignerKey,
                signature: Signature) -> dict[str, Any]:
    """The AuthenticityProgram proof (o1js `toJSON()` form) that `signature` signs `digest`.

    Raises `ProverRequestError` with code `invalid_signature` when it does not verify.
    """
    answer = await runner.run("prove", {
        "digest": digest.hex(), "signer": _signer(signer),
        "signature": {"r": _hex(signature.r), "s": _hex(signature.s)},
    })
    return dict(_field(answer, "prove", "proof", dict))


async def verify(runner: Runner, proof: Mapping[str, Any], *, digest: bytes | None = None,
                 signer: SignerKey | None = None) -> tuple[bool, str]:
    """(valid, reason): does the proof verify, and (given both) for this digest and signer?"""
    params: dict[str, Any] = {"proof": dict(proof)}
    if digest is not None and signer is not None:
        params.update(digest=digest.hex(), signer=_signer(signer))
    try:
        answer = await runner.run("verify", params)
    except ProverRequestError as error:
        return False, error.message
    valid = _field(answer, "verify", "valid", bool)
    reason = answer.get("reason", "")
    return valid, str(reason) if not valid else ""


async def public_key_of(runner: Runner, private_key: str) -> str:
    """The Mina address (B62...) of a private key (EK...); `bad_request` when it is not one."""
    answer = await runner.run("public_key_of", {"privateKey": private_key})
    return str(_field(answer, "public_key_of", "publicKey"))


async def derive_public_key(runner: Runner, seed: str) -> str:
    """The address of the key derived from a 64-hex seed (a photo's receipt account)."""
    answer = await runner.run("derive_public_key", {"seed": seed})
    return str(_field(answer, "derive_public_key", "publicKey"))


async def token_id(runner: Runner, zkapp_address: str) -> str:
    """The token id a zkApp's receipts live under."""
    answer = await runner.run("token_id", {"zkappAddress": zkapp_address})
    return str(_field(answer, "token_id", "tokenId"))


async def resign_transaction(runner: Runner, *, command: Mapping[str, Any], nonce: int,
                             network_id: str, fee_payer_key: str,
                             token_owner_seed: str | None = None) -> tuple[dict[str, Any], str]:
    """The proven command with another fee payer nonce, signed again (fee payer, and the
    receipt key when given); proofs untouched. Milliseconds, where proving takes seconds.
    Returns (command, hash)."""
    answer = await runner.run("resign_transaction", {
        "command": dict(command), "nonce": nonce, "networkId": network_id,
        "feePayerKey": fee_payer_key, "tokenOwnerSeed": token_owner_seed,
    })
    op = "resign_transaction"
    return _field(answer, op, "command", dict), _field(answer, op, "hash")


async def deploy_transaction(runner: Runner, *, endpoint: str, network_id: str,
                             fee_payer_key: str, nonce: int, fee_nanomina: int
                             ) -> DeployTransaction:
    """Build, prove and sign a new zkApp's deploy (with a fresh zkApp key)."""
    answer = await runner.run("deploy_transaction", {
        "endpoint": endpoint, "networkId": network_id, "feePayerKey": fee_payer_key,
        "nonce": nonce, "fee": fee_nanomina,
    })
    op = "deploy_transaction"
    return DeployTransaction(_field(answer, op, "command", dict), _field(answer, op, "hash"),
                             _field(answer, op, "zkappAddress"), _field(answer, op, "tokenId"))


async def verify_and_store_transaction(
    runner: Runner, *, endpoint: str, network_id: str, fee_payer_key: str, nonce: int,
    fee_nanomina: int, zkapp_address: str, token_owner_seed: str, chain_id_field: str,
    proof: Mapping[str, Any],
) -> ReceiptTransaction:
    """Build, prove and sign the `verifyAndStore` call that records one photo's receipt."""
    answer = await runner.run("verify_and_store_transaction", {
        "endpoint": endpoint, "networkId": network_id, "feePayerKey": fee_payer_key,
        "nonce": nonce, "fee": fee_nanomina, "zkappAddress": zkapp_address,
        "tokenOwnerSeed": token_owner_seed, "chainId": chain_id_field, "proof": dict(proof),
    })
    op = "verify_and_store_transaction"
    return ReceiptTransaction(_field(answer, op, "command", dict), _field(answer, op, "hash"),
                              _field(answer, op, "tokenOwner"))
