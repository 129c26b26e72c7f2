"""`touchgrass verify`: the public check of a photo, one verdict per check.

digest (the bytes hash to the submission's SHA-256), signature (the signer key signed that
digest), stored proof (verified, when one is still stored: it is cleared once published),
on-chain receipt (the token account under the challenge's zkApp holds the chain id, the
digest and the signer key). All must hold for exit 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from touchgrass.chain.client import ChainClient
from touchgrass.errors import ChainError, UnknownSubmission
from touchgrass.signature import Signature
from touchgrass.signing import SignerKey
from touchgrass.store import challenges, submissions

__all__ = ["Check", "expected_receipt_state", "verify"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: does not apply (e.g. no stored proof any more)
    detail: str


def expected_receipt_state(chain_id_int: int, digest: bytes, signer: SignerKey) -> list[int]:
    """The receipt's app state as AuthenticityZkApp writes it (128-bit halves)."""
    low = (1 << 128) - 1
    return [chain_id_int, int.from_bytes(digest[:16], "big"), int.from_bytes(digest[16:], "big"),
            signer.x >> 128, signer.x & low, signer.y >> 128, signer.y & low]


async def verify(pool: asyncpg.Pool, chain: ChainClient, signer: SignerKey, *, sha256_hex: str,
                 image: bytes | None = None,
                 verify_proof: Callable[[dict[str, Any], bytes], Awaitable[tuple[bool, str]]]
                 | None = None) -> list[Check]:
    checks: list[Check] = []
    if image is not None:
        actual = hashlib.sha256(image).hexdigest()
        checks.append(Check("digest", actual == sha256_hex,
                            f"the image hashes to {actual}"))
    try:
        row = await submissions.find_by_sha256(pool, sha256_hex)
    except UnknownSubmission:
        return [*checks, Check("submission", False, f"no submission has SHA-256 {sha256_hex}")]
    digest = bytes.fromhex(sha256_hex)
    full = await pool.fetchrow("SELECT signature, proof_json FROM submissions WHERE id = $1",
                               row["id"])
    try:
        signature = Signature.from_json(full["signature"])
        signed = signer.verify(digest, signature)
        checks.append(Check("signature", signed, f"{'valid' if signed else 'INVALID'} for the "
                            f"configured {signer.curve} signer key"))
    except ValueError as error:
        checks.append(Check("signature", False, f"stored signature unreadable: {error}"))
    if full["proof_json"] is None:
        checks.append(Check("stored proof", None, "not stored (cleared once published; the "
                                                  "receipt below is the record)"))
    elif verify_proof is None:
        checks.append(Check("stored proof", None, "present, not checked"))
    else:
        valid, reason = await verify_proof(full["proof_json"], digest)
        checks.append(Check("stored proof", valid, "verifies" if valid else reason))
    checks.append(await _receipt(pool, chain, signer, row, digest))
    return checks


async def _receipt(pool: asyncpg.Pool, chain: ChainClient, signer: SignerKey,
                   row: dict[str, Any], digest: bytes) -> Check:
    owner = row["token_owner_address"]
    challenge = await challenges.get(pool, row["challenge_id"])
    token = challenge.get("zkapp_token_id")
    if not owner or not token:
        return Check("on-chain receipt", False, f"not published yet (status {row['status']})")
    try:
        account = await chain.account(owner, token)
    except ChainError as error:
        return Check("on-chain receipt", False, f"cannot read the chain: {error}")
    if account is None or account.zkapp_state is None:
        return Check("on-chain receipt", False, f"no receipt at {owner} under the challenge's "
                                                f"zkApp {challenge['zkapp_address']}")
    expected = expected_receipt_state(row["chain_id"].int, digest, signer)
    if account.zkapp_state[:7] != expected:
        return Check("on-chain receipt", False, f"the receipt at {owner} holds other values")
    return Check("on-chain receipt", True, f"{owner} under zkApp {challenge['zkapp_address']} "
                                           f"holds this digest, signer and chain "
                                           f"({row['chain_status'] or 'sent'})")
