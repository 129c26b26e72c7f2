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

from touchgrass import db
from touchgrass.chain.client import ChainClient
from touchgrass.errors import ChainError, UnknownSubmission
from touchgrass.proof.o1js import O1jsProver, open_prover
from touchgrass.settings import ChainSettings, DatabaseSettings, ProverSettings
from touchgrass.signature import Signature
from touchgrass.signing import SignerKey
from touchgrass.store import challenges, submissions

__all__ = ["RECEIPT_CHECK", "Check", "Report", "check_photo", "expected_receipt_state", "verify"]

RECEIPT_CHECK = "on-chain receipt"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: does not apply (e.g. no stored proof any more)
    detail: str
    decisive: bool = False  # the check that must hold (not just not fail) for a verdict


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def verified(self) -> bool:
        """No check failed, and the decisive one (the receipt on chain) holds."""
        return all(check.ok is not False for check in self.checks) and any(
            check.decisive and check.ok for check in self.checks)


async def check_photo(database: DatabaseSettings, chain: ChainSettings, signer: SignerKey, *,
                      sha256_hex: str, image: bytes | None, prover: ProverSettings | None
                      ) -> Report:
    """Open what the checks need (a database pool, the node, a prover only when `prover` is
    given), run them, close everything."""
    pool = await db.create_pool(database.asyncpg_dsn, size=2,
                                application_name="touchgrass-verify")
    client = ChainClient(chain.mina_node_endpoint)
    opened: O1jsProver | None = None
    try:
        async def proof_check(proof: dict[str, Any], digest: bytes) -> tuple[bool, str]:
            nonlocal opened
            assert prover is not None
            opened = opened or await open_prover(prover, signer, size=1)
            verdict = await opened.verify(proof, digest=digest)
            return verdict.valid, verdict.reason

        return Report(await verify(pool, client, signer, sha256_hex=sha256_hex, image=image,
                                   verify_proof=proof_check if prover else None))
    finally:
        if opened is not None:
            await opened.close()
        await client.close()
        await pool.close()


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
    stored_signature, stored_proof = await submissions.evidence(pool, row["id"])
    try:
        signature = Signature.from_json(stored_signature)
        signed = signer.verify(digest, signature)
        checks.append(Check("signature", signed, f"{'valid' if signed else 'INVALID'} for the "
                            f"configured {signer.curve} signer key"))
    except ValueError as error:
        checks.append(Check("signature", False, f"stored signature unreadable: {error}"))
    if stored_proof is None:
        checks.append(Check("stored proof", None, "not stored (cleared once published; the "
                                                  "receipt below is the record)"))
    elif verify_proof is None:
        checks.append(Check("stored proof", None, "present, not checked"))
    else:
        valid, reason = await verify_proof(stored_proof, digest)
        checks.append(Check("stored proof", valid, "verifies" if valid else reason))
    checks.append(await _receipt(pool, chain, signer, row, digest))
    return checks


def _receipt_check(ok: bool, detail: str) -> Check:
    return Check(RECEIPT_CHECK, ok, detail, decisive=True)


async def _receipt(pool: asyncpg.Pool, chain: ChainClient, signer: SignerKey,
                   row: dict[str, Any], digest: bytes) -> Check:
    owner = row["token_owner_address"]
    challenge = await challenges.get(pool, row["challenge_id"])
    token = challenge.get("zkapp_token_id")
    if not owner or not token:
        return _receipt_check(False, f"not published yet (status {row['status']})")
    try:
        account = await chain.account(owner, token)
    except ChainError as error:
        return _receipt_check(False, f"cannot read the chain: {error}")
    if account is None or account.zkapp_state is None:
        return _receipt_check(False, f"no receipt at {owner} under the challenge's "
                                     f"zkApp {challenge['zkapp_address']}")
    expected = expected_receipt_state(row["chain_id"].int, digest, signer)
    if account.zkapp_state[:7] != expected:
        return _receipt_check(False, f"the receipt at {owner} holds other values")
    return _receipt_check(True, f"{owner} under zkApp {challenge['zkapp_address']} holds this "
                                f"digest, signer and chain ({row['chain_status'] or 'sent'})")
