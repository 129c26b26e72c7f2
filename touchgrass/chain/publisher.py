"""The real Publisher: zkApp transactions for one fee payer, one at a time, never twice.

One lane per fee payer (pipeline.md): every transaction of the key is built, recorded and
sent under one lock, with the nonce tracked here (from the node's `inferredNonce`, then
incremented locally after each accepted send, resynced on a nonce error). Before sending,
the signed command's hash, nonce and receipt key are stored on the row; a retry first asks
the chain about them, and a receipt that exists already means the photo is published.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from touchgrass import logs
from touchgrass.chain import (
    DeployReceipt,
    DeployRequest,
    PublishReceipt,
    PublishRequest,
    transactions,
)
from touchgrass.chain.client import ChainClient, SentCommand
from touchgrass.chain.constants import ACCOUNT_CREATION_FEE_NANOMINA, BEST_CHAIN_WINDOW
from touchgrass.errors import JobError, LeaseLost, PermanentJobError, SendErrorKind, SendRejected
from touchgrass.node.era import require_supported
from touchgrass.node.ops import Runner

__all__ = ["MinaPublisher"]

log = logs.get_logger(__name__)

NONCE_REBUILDS = 3
Built = TypeVar("Built", transactions.DeployTransaction, transactions.ReceiptTransaction)
# Test hook (acceptance test of pipeline.md's idempotency): die right after a send.
CRASH_AFTER_SEND = "TOUCHGRASS_TEST_CRASH_AFTER_SEND"


class MinaPublisher:
    def __init__(self, *, pool: Runner, chain: ChainClient, endpoint: str, network_id: str,
                 fee_payer_key: str, fee_payer_address: str, fee_nanomina: int) -> None:
        self.pool = pool
        self.chain = chain
        self.endpoint = endpoint
        self.network_id = network_id
        self._key = fee_payer_key
        self.fee_payer = fee_payer_address
        self.fee = fee_nanomina
        self._lane = asyncio.Lock()
        self._next_nonce: int | None = None
        self._era_checked = False

    async def _check_era(self) -> None:
        """Once per process, before the first transaction (the start-up check may have found
        the node unreachable): a Mesa node refuses every command our o1js makes."""
        if not self._era_checked:
            require_supported((await self.chain.node_info()).version)
            self._era_checked = True

    # -- what the chain already knows ------------------------------------------------------

    async def _known(self, command_hash: str | None) -> bool:
        """Has the node seen this command (in its mempool or in a recent block)?"""
        if not command_hash:
            return False
        if command_hash in await self.chain.pooled_hashes(hashes=[command_hash]):
            return True
        return any(command_hash in block.zkapp_command_hashes
                   for block in await self.chain.best_chain(BEST_CHAIN_WINDOW))

    async def _receipt_exists(self, token_owner: str, token_id: str | None) -> bool:
        return bool(token_id) and await self.chain.account(token_owner, token_id) is not None

    # -- the lane ------------------------------------------------------------------------

    async def _nonce(self) -> int:
        if self._next_nonce is None:
            account = await self.chain.account(self.fee_payer)
            if account is None:
                raise PermanentJobError(f"the fee payer {self.fee_payer} has no account on the "
                                        "network; fund it first")
            if account.next_nonce is None:
                raise JobError(f"the node did not say the fee payer {self.fee_payer}'s nonce")
            self._next_nonce = account.next_nonce
        return self._next_nonce

    async def _check_balance(self) -> None:
        await self._check_era()
        account = await self.chain.account(self.fee_payer)
        needed = self.fee + ACCOUNT_CREATION_FEE_NANOMINA
        if account is None or account.balance_nanomina < needed:
            have = 0 if account is None else account.balance_nanomina
            raise JobError(f"fee payer {self.fee_payer} balance too low: {have / 1e9:g} MINA, "
                           f"a transaction needs {needed / 1e9:g} MINA (fee + new account)")

    async def _send(self, build: Callable[[int], Awaitable[Built]],
                    record: Callable[[Built, int], Awaitable[bool]]) -> tuple[SentCommand, Built, int]:
        """Build with the lane's nonce, record, send; rebuild on a nonce clash."""
        for _ in range(NONCE_REBUILDS):
            nonce = await self._nonce()
            built = await build(nonce)
            if not await record(built, nonce):
                raise LeaseLost("lease lost before sending; nothing was sent")
            try:
                sent = await self.chain.send_zkapp(built.command)
            except SendRejected as refused:
                if refused.kind in (SendErrorKind.NONCE, SendErrorKind.REPLACE_FEE):
                    log.warning("nonce", "nonce %d refused (%s); resyncing", nonce, refused.message)
                    self._next_nonce = None  # rebuild only the transaction, never the proof
                    continue
                if refused.kind is SendErrorKind.DUPLICATE:
                    sent = SentCommand(hash=built.hash)
                elif refused.kind is SendErrorKind.BALANCE:
                    raise JobError(f"the node refused the fee payer's balance: {refused.message}"
                                   ) from None
                else:
                    raise
            if os.environ.get(CRASH_AFTER_SEND):
                os.kill(os.getpid(), signal.SIGKILL)
            self._next_nonce = nonce + 1
            return sent, built, nonce
        raise JobError(f"nonce kept clashing after {NONCE_REBUILDS} rebuilds")

    # -- the Publisher protocol ------------------------------------------------------------

    async def publish_proof(self, request: PublishRequest) -> PublishReceipt:
        digest = bytes.fromhex(request.sha256_hex)
        if not request.zkapp_address:
            raise JobError("the challenge's zkApp is not deployed yet")
        zkapp_address = request.zkapp_address
        async with self._lane:
            owner = await transactions.receipt_owner(self.pool, self._key, digest)
            # Never twice: a receipt for this photo (same derived owner) means it is done.
            if await self._receipt_exists(owner, request.zkapp_token_id) or \
                    await self._known(request.previous_transaction_hash):
                log.info("publish", "already on chain; not sending again")
                return PublishReceipt(transaction_id=request.previous_transaction_hash or owner,
                                      transaction_hash=request.previous_transaction_hash or "",
                                      nonce=request.previous_nonce or 0, token_owner_address=owner)
            await self._check_balance()

            async def build(nonce: int) -> transactions.ReceiptTransaction:
                return await transactions.build_verify_and_store(
                    self.pool, endpoint=self.endpoint, network_id=self.network_id,
                    fee_payer_key=self._key, nonce=nonce, fee_nanomina=self.fee,
                    zkapp_address=zkapp_address, chain_id=request.chain_id,
                    digest=digest, proof=dict(request.proof_json))

            async def record(built: transactions.ReceiptTransaction, nonce: int) -> bool:
                return await request.record_progress({
                    "transaction_hash": built.hash, "transaction_nonce": nonce,
                    "token_owner_address": built.token_owner})

            sent, built, nonce = await self._send(build, record)
        return PublishReceipt(transaction_id=sent.hash, transaction_hash=sent.hash, nonce=nonce,
                              token_owner_address=built.token_owner)

    async def deploy_zkapp(self, request: DeployRequest) -> DeployReceipt:
        async with self._lane:
            if request.previous_transaction_hash and request.zkapp_address and \
                    await self._known(request.previous_transaction_hash):
                return DeployReceipt(zkapp_address=request.zkapp_address,
                                     zkapp_token_id=request.zkapp_token_id or "",
                                     transaction_id=request.previous_transaction_hash,
                                     transaction_hash=request.previous_transaction_hash,
                                     nonce=request.previous_nonce or 0)
            await self._check_balance()

            async def build(nonce: int) -> transactions.DeployTransaction:
                return await transactions.build_deploy(
                    self.pool, endpoint=self.endpoint, network_id=self.network_id,
                    fee_payer_key=self._key, nonce=nonce, fee_nanomina=self.fee)

            async def record(built: transactions.DeployTransaction, nonce: int) -> bool:
                return await request.record_progress({
                    "zkapp_address": built.zkapp_address, "zkapp_token_id": built.token_id,
                    "transaction_hash": built.hash, "transaction_nonce": nonce})

            sent, built, nonce = await self._send(build, record)
        return DeployReceipt(zkapp_address=built.zkapp_address, zkapp_token_id=built.token_id,
                             transaction_id=sent.hash, transaction_hash=sent.hash, nonce=nonce)
