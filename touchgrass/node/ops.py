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
from touchgrass.signatures import Signature, SignerKey

__all__ = ["DeployTransaction", "ProverInfo", "ReceiptTransaction", "Runner", "action_state",
           "action_states", "deploy_transaction", "info", "prove", "public_key_of",
           "resign_transaction", "sign_fields", "token_id", "verify",
           "record_transaction", "RecordedPhoto", "verify_fields", "verify_with_key"]


class Runner(Protocol):
    """What runs an op: a `ProverPool` (or a stub in tests)."""

    async def run(self, op: str, params: Mapping[str, Any],
                  timeout_s: float | None = None) -> Any: ...


@dataclass(frozen=True)
class ProverInfo:
    curve: str
    verification_key_hash: str
    rss_bytes: int
    zkapp_verification_key_hash: str | None = None  # processes that compiled the contract


@dataclass(frozen=True)
class DeployTransaction:
    """A proven and signed zkApp deploy, and the hash it will have on chain."""

    command: dict[str, Any]
    hash: str
    zkapp_address: str
    token_id: str


@dataclass(frozen=True)
class ReceiptTransaction:
    """A proven and signed command recording receipts (one action per photo)."""

    command: dict[str, Any]
    hash: str


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
    zkapp = answer.get("zkappVerificationKey") if isinstance(answer, dict) else None
    return ProverInfo(_field(answer, "info", "curve"),
                      _field(answer, "info", "verificationKeyHash"),
                      _field(answer, "info", "rss", int),
                      str(zkapp["hash"]) if isinstance(zkapp, dict) else None)


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
    return await _verdict(runner, "verify", {"proof": dict(proof)}, digest, signer)


async def _verdict(runner: Runner, op: str, params: dict[str, Any], digest: bytes | None,
                   signer: SignerKey | None) -> tuple[bool, str]:
    if digest is not None and signer is not None:
        params.update(digest=digest.hex(), signer=_signer(signer))
    try:
        answer = await runner.run(op, params)
    except ProverRequestError as error:
        return False, error.message
    valid = _field(answer, op, "valid", bool)
    return valid, "" if valid else str(answer.get("reason", ""))


async def public_key_of(runner: Runner, private_key: str) -> str:
    """The Mina address (B62...) of a private key (EK...); `bad_request` when it is not one."""
    answer = await runner.run("public_key_of", {"privateKey": private_key})
    return str(_field(answer, "public_key_of", "publicKey"))


async def token_id(runner: Runner, zkapp_address: str) -> str:
    """The token id a zkApp's token accounts live under (the receipts before actions)."""
    answer = await runner.run("token_id", {"zkappAddress": zkapp_address})
    return str(_field(answer, "token_id", "tokenId"))


async def resign_transaction(runner: Runner, *, command: Mapping[str, Any], nonce: int,
                             network_id: str, fee_payer_key: str) -> ReceiptTransaction:
    """The proven command with another fee payer nonce, signed again; proofs untouched.
    Milliseconds, where proving takes seconds (nothing proven depends on the nonce)."""
    answer = await runner.run("resign_transaction", {
        "command": dict(command), "nonce": nonce, "networkId": network_id,
        "feePayerKey": fee_payer_key,
    })
    op = "resign_transaction"
    return ReceiptTransaction(_field(answer, op, "command", dict), _field(answer, op, "hash"))


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


@dataclass(frozen=True)
class RecordedPhoto:
    """One photo for a `record` account update: its proof and its chain's field."""

    chain_id_field: str
    proof: Mapping[str, Any]


async def record_transaction(
    runner: Runner, *, endpoint: str, network_id: str, fee_payer_key: str, nonce: int,
    fee_nanomina: int, zkapp_address: str, photos: list[RecordedPhoto],
) -> ReceiptTransaction:
    """Build, prove and sign a command whose one account update records one or two photos'
    receipts (`recordOne`/`recordTwo`). Its update joins others in a batch (chain/batch.py)."""
    if not 1 <= len(photos) <= 2:
        raise ValueError("an account update records one or two photos")
    answer = await runner.run("record_transaction", {
        "endpoint": endpoint, "networkId": network_id, "feePayerKey": fee_payer_key,
        "nonce": nonce, "fee": fee_nanomina, "zkappAddress": zkapp_address,
        "photos": [{"chainId": p.chain_id_field, "proof": dict(p.proof)} for p in photos],
    })
    op = "record_transaction"
    return ReceiptTransaction(_field(answer, op, "command", dict), _field(answer, op, "hash"))


# -- the checks process (js/src/tools.js): nothing compiled ---------------------------------

async def verify_with_key(runner: Runner, proof: Mapping[str, Any], *, curve: str,
                          verification_key: Mapping[str, str], digest: bytes | None = None,
                          signer: SignerKey | None = None) -> tuple[bool, str]:
    """`verify`, against a stored verification key instead of a compiled circuit."""
    return await _verdict(runner, "verify_proof", {
        "proof": dict(proof), "curve": curve, "verificationKey": dict(verification_key)},
        digest, signer)


async def action_state(runner: Runner, updates: list[list[list[str]]]) -> str:
    """The action-state hash of a zkApp after these actions (one list per account update, in
    chain order), from the empty state: a node's `actionState[0]` when the list is whole."""
    answer = await runner.run("action_state", {"updates": updates})
    return str(_field(answer, "action_state", "actionState"))


async def action_states(runner: Runner, start: int | None,
                        blocks: list[list[list[list[str]]]]) -> list[int]:
    """The action state after each block (a list of account updates, each a list of actions)
    folded from `start` (None: the empty state)."""
    answer = await runner.run("action_states", {"start": None if start is None else str(start),
                                                "blocks": blocks})
    states = _field(answer, "action_states", "states", list)
    try:
        return [int(value) for value in states]
    except (TypeError, ValueError):
        raise ProverError(f"action_states answered non-field states: {states!r:.200}") from None


async def sign_fields(runner: Runner, private_key: str, fields: list[int]) -> str:
    """A Mina signature (base58) by `private_key` over these field elements."""
    answer = await runner.run("sign_fields", {"privateKey": private_key,
                                              "fields": [str(v) for v in fields]})
    return str(_field(answer, "sign_fields", "signature"))


async def verify_fields(runner: Runner, public_key: str, fields: list[int],
                        signature: str) -> bool:
    """Whether `signature` is `public_key`'s over these field elements."""
    answer = await runner.run("verify_fields", {"publicKey": public_key, "signature": signature,
                                                "fields": [str(v) for v in fields]})
    return bool(_field(answer, "verify_fields", "valid", bool))
