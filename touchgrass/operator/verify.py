"""`touchgrass verify`: a photo checked against the chain, one verdict per check.

Public by default: the record is read from a Mina node (and an archive) and checked there
against the verifier's trust anchors (operator/receipts.py, operator/trust.py); the database,
when there is one, and the API are only pointers to it. With DATABASE_URL the operator's own
checks come too: the stored signature against the trusted signer keys, and the stored proof
(while it is kept) against the stored verification key.
"""

from __future__ import annotations

import hashlib
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aiohttp

from touchgrass import db
from touchgrass.chain.archive import ArchiveClient
from touchgrass.chain.client import ChainClient
from touchgrass.errors import ConfigError, NotFound, OperatorError
from touchgrass.node import ops
from touchgrass.node.checks import ChecksProcess, open_checks
from touchgrass.node.keys import known_keys
from touchgrass.operator.receipts import (
    ArchiveReading,
    BlockActions,
    Check,
    Pointer,
    Report,
    check_receipt,
)
from touchgrass.operator.trust import TrustAnchors
from touchgrass.settings import ChainSettings, DatabaseSettings, ProverSettings
from touchgrass.signatures import Signature, SignerKey
from touchgrass.store import receipts, submissions

__all__ = ["ChecksMath", "Sources", "check_photo", "pointer_from_api"]


@dataclass(frozen=True)
class Sources:
    """Where `verify` looks. `zkapp`, `api` and `database` say where the record is (the first
    given wins); the node (and the archive) are where it is checked."""

    chain: ChainSettings
    prover: ProverSettings
    anchors: TrustAnchors
    zkapp: str | None = None
    api: str | None = None
    database: DatabaseSettings | None = None
    reading: ArchiveReading = ArchiveReading()


class ChecksMath:
    """The verifier's own hashing (operator/receipts.py's ChainMath) in a checks process."""

    def __init__(self, checks: ChecksProcess) -> None:
        self.checks = checks

    async def action_states(self, start: int | None, blocks: list[BlockActions]) -> list[int]:
        return await ops.action_states(self.checks, start, blocks)

    async def token_id(self, zkapp_address: str) -> str:
        return await ops.token_id(self.checks, zkapp_address)


class _LazyChecks:
    """The checks process, started on first use (a verify that fails early needs none)."""

    def __init__(self, settings: ProverSettings, stack: AsyncExitStack) -> None:
        self._settings, self._stack = settings, stack
        self._process: ChecksProcess | None = None

    async def get(self) -> ChecksProcess:
        if self._process is None:
            self._process = await self._stack.enter_async_context(open_checks(self._settings))
        return self._process

    async def action_states(self, start: int | None, blocks: list[BlockActions]) -> list[int]:
        return await ChecksMath(await self.get()).action_states(start, blocks)

    async def token_id(self, zkapp_address: str) -> str:
        return await ChecksMath(await self.get()).token_id(zkapp_address)


async def check_photo(sources: Sources, *, sha256_hex: str, image: bytes | None) -> Report:
    digest = bytes.fromhex(sha256_hex)
    checks: list[Check] = []
    if image is not None:
        actual = hashlib.sha256(image).hexdigest()
        checks.append(Check("digest", actual == sha256_hex, f"the image hashes to {actual}"))
    async with AsyncExitStack() as stack:
        lazy = _LazyChecks(sources.prover, stack)
        pool = None
        if sources.database is not None:
            pool = await db.create_pool(sources.database.asyncpg_dsn, size=2,
                                        application_name="touchgrass-verify")
            stack.push_async_callback(pool.close)
        pointer: Pointer | None = None
        if sources.zkapp:
            pointer = Pointer(sources.zkapp, "--zkapp")
        elif sources.api:
            try:
                pointer = await pointer_from_api(sources.api, sha256_hex)
            except OperatorError as error:
                return Report([*checks, Check("receipt", False, str(error), decisive=True)])
        if pool is not None:
            operator_checks, from_db = await _operator_checks(pool, lazy, sources.anchors, digest)
            checks += operator_checks
            pointer = pointer or from_db
        if pointer is None:
            if pool is None:
                raise ConfigError("say where the record is: --zkapp ADDRESS (the challenge's "
                                  "zkApp), --api URL (a touchgrass API) or DATABASE_URL")
            return Report([*checks, Check("receipt", False, "not published yet", decisive=True)])
        node = ChainClient(sources.chain.mina_node_endpoint)
        stack.push_async_callback(node.close)
        archive = None
        if sources.chain.archive_node_endpoint:
            archive = ArchiveClient(sources.chain.archive_node_endpoint)
            stack.push_async_callback(archive.close)
        public = await check_receipt(digest, pointer, node=node, archive=archive, math=lazy,
                                     anchors=sources.anchors, reading=sources.reading)
    return Report(checks + public.checks, public.summary, public.pending)


async def _operator_checks(pool: Any, lazy: _LazyChecks, anchors: TrustAnchors,
                           digest: bytes) -> tuple[list[Check], Pointer | None]:
    """The database's signature and proof checks, and its pointer to the record."""
    try:
        row = await receipts.receipt(pool, sha256_hex=digest.hex())
    except NotFound:
        return [Check("submission", False, f"no submission has SHA-256 {digest.hex()}")], None
    checks = []
    stored_signature, stored_proof = await submissions.evidence(pool, row.id)
    signer: SignerKey | None = None
    try:
        signature = Signature.from_json(stored_signature)
        signer = next((key for key in anchors.signers if key.verify(digest, signature)), None)
        checks.append(Check("signature", signer is not None, "valid for the trusted "
                            f"{signer.curve} signer key" if signer else "INVALID for every "
                            "trusted signer key"))
    except ValueError as error:
        checks.append(Check("signature", False, f"stored signature unreadable: {error}"))
    if stored_proof is None:
        checks.append(Check("stored proof", None, "not stored (cleared once published; the "
                                                  "record on chain is the proof's trace)"))
    elif signer is not None:
        key = known_keys().current(signer.curve).program
        valid, reason = await ops.verify_with_key(
            await lazy.get(), stored_proof, curve=signer.curve, verification_key=key.as_json(),
            digest=digest, signer=signer)
        checks.append(Check("stored proof", valid, "verifies" if valid else reason))
    if not row.published:
        return checks, None
    assert row.zkapp_address is not None
    return checks, Pointer(
        row.zkapp_address, "the database", transaction_hash=row.transaction_hash,
        block_height=row.block_height, chain_id=row.chain_id,
        signer_x=signer.x if signer else None,
        signer_y=signer.y if signer else None, token_owner_address=row.token_owner_address,
        token_id=row.token_id)


async def pointer_from_api(api_url: str, sha256_hex: str) -> Pointer:
    """GET /api/receipts/:sha256 of a touchgrass API, read as a pointer."""
    url = f"{api_url.rstrip('/')}/api/receipts/{sha256_hex}"
    source = f"the API at {api_url}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session, \
                session.get(url) as response:
            body = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
        raise OperatorError(f"{source} cannot be read: {type(error).__name__}: {error}") from None
    if status == 404:
        raise OperatorError(f"{source} has no receipt: "
                            f"{(body or {}).get('error', 'not found') if isinstance(body, dict) else body}")
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("zkAppAddress"), str):
        raise OperatorError(f"{source} answered HTTP {status} without a receipt")
    try:
        signer = body.get("signer") or {}
        return Pointer(
            body["zkAppAddress"], source, transaction_hash=body.get("transactionHash"),
            block_height=int(body["blockHeight"]) if body.get("blockHeight") is not None
            else None,
            chain_id=UUID(body["chainId"]) if body.get("chainId") else None,
            signer_x=int(signer["x"], 16) if signer.get("x") else None,
            signer_y=int(signer["y"], 16) if signer.get("y") else None,
            token_owner_address=body.get("tokenOwnerAddress"), token_id=body.get("tokenId"))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise OperatorError(f"{source} answered a malformed receipt: {error}") from None
