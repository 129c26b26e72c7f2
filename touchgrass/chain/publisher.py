"""The real Publisher: zkApp transactions for one fee payer, one at a time, never twice.

One lane per fee payer (docs/pipeline.md), held as briefly as possible. A photo's `verifyAndStore`
transaction is built and proven **outside** the lane (seconds of o1js work) with any nonce,
and kept on the row; inside the lane it only gets the next nonce, new signatures
(milliseconds: nothing proven depends on the fee payer's nonce, docs/decisions.md), its
hash and nonce recorded, and is sent. The nonce is tracked here (from the
node's `inferredNonce`, incremented after each accepted send, resynced on a nonce error). A
nonce clash, a replace-fee refusal or a dropped transaction costs a re-sign, never a proof;
the command is proven again only when the chain state its proof was made against changed
(the challenge's zkApp was redeployed, or the node refuses the proof). Before sending, a
retry asks the chain about the earlier attempt: a command the node has seen is not sent
again.

With `--concurrency N` the role gives this publisher N builder processes: up to N photos are
proven at once, each with the nonce it will most likely get (the lane's next nonce plus the
photos proving or waiting ahead of it), and they enter the lane one at a time, in arrival
order. A command that got the nonce it was proven with is sent as it is; any other is
re-signed. The nonce moves on only after the node accepted a command, so a refused or failed
one leaves no gap: the next command takes its nonce.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from touchgrass import logs, metrics
from touchgrass.chain import DeployReceipt, DeployRequest, PublishReceipt, PublishRequest
from touchgrass.chain.client import ChainClient, SentCommand
from touchgrass.chain.constants import (
    ACCOUNT_CREATION_FEE_NANOMINA,
    DEFAULT_K,
    LOST_ANSWER_BLOCKS,
    LOST_ANSWER_LOOKS,
    SEND_TIMEOUT_S,
)
from touchgrass.chain.records import chain_id_field
from touchgrass.errors import (
    JobError,
    LeaseLost,
    NodeNotReady,
    PermanentJobError,
    SendAnswerLost,
    SendErrorKind,
    SendRejected,
)
from touchgrass.node import ops
from touchgrass.node.era import require_usable
from touchgrass.node.ops import DeployTransaction, ReceiptTransaction, Runner

__all__ = ["MinaPublisher"]

log = logs.get_logger(__name__)

NONCE_REBUILDS = 3
Built = TypeVar("Built", DeployTransaction, ReceiptTransaction)
# Test hook (acceptance test of docs/pipeline.md's "Never twice"): die right after a send.
CRASH_AFTER_SEND = "TOUCHGRASS_TEST_CRASH_AFTER_SEND"


def targets(command: Mapping[str, Any], zkapp_address: str) -> bool:
    """Does the command call this zkApp? A kept command for a zkApp since replaced (a
    redeployed challenge) proves against the wrong contract and must be proven again."""
    updates = command.get("accountUpdates")
    return isinstance(updates, list) and any(
        isinstance(u, dict) and u.get("body", {}).get("publicKey") == zkapp_address
        for u in updates)


@dataclass(frozen=True)
class _Proven:
    """A proven `verifyAndStore` command, and when it was built just now, the signed
    transaction with the nonce it was built for (sent as it is when the lane gives that one)."""

    command: Mapping[str, Any]
    built: ReceiptTransaction | None = None
    built_nonce: int | None = None


class MinaPublisher:
    def __init__(self, *, pool: Runner, chain: ChainClient, endpoint: str, network_id: str,
                 fee_payer_key: str, fee_payer_address: str, fee_nanomina: int,
                 era_checked: bool = False, contract_hash: str | None = None,
                 k: int = DEFAULT_K, lost_answer_pause_s: float = 1.5) -> None:
        self.pool = pool
        self.chain = chain
        self.endpoint = endpoint
        self.network_id = network_id
        self._key = fee_payer_key
        self.fee_payer = fee_payer_address
        self.fee = fee_nanomina
        self._lane = asyncio.Lock()
        self._next_nonce: int | None = None
        self._queued = 0  # photos proving or waiting for the lane: the nonces ahead of a new one
        self._era_checked = era_checked  # the role's start-up check, when it reached the node
        self.contract_hash = contract_hash  # the zkApp build the builders compile (node/keys.py)
        self.k = k  # the node's frontier length, once it said it
        self._lost_answer_pause_s = lost_answer_pause_s

    async def _check_era(self) -> None:
        """Once per process, before the first transaction (the start-up check may have found
        the node unreachable): a Mesa node refuses every command our o1js makes, and a node of
        another network every signature."""
        if not self._era_checked:
            info = await self.chain.node_info()
            require_usable(info, self.network_id)
            self.k = info.k
            self._era_checked = True

    # -- what the chain already knows ------------------------------------------------------

    async def _known(self, command_hash: str | None, *, blocks: int | None = None) -> bool:
        """Has the node seen this command: in its mempool, or in one of its newest `blocks`
        (its whole frontier by default)?"""
        if not command_hash:
            return False
        if command_hash in await self.chain.pooled_hashes(hashes=[command_hash]):
            return True
        return any(command_hash in block.zkapp_command_hashes
                   for block in await self.chain.best_chain(blocks or self.k))

    async def _after_lost_answer(self, command_hash: str, lost: SendAnswerLost) -> SentCommand:
        """The send's answer was lost: the node may still be verifying the command, or have it
        already. Looked up by hash a few times, seconds apart; found means sent."""
        for look in range(LOST_ANSWER_LOOKS):
            await asyncio.sleep(self._lost_answer_pause_s * look)
            try:
                if await self._known(command_hash, blocks=LOST_ANSWER_BLOCKS):
                    log.info("sent", "the send's answer was lost, but the node has %s",
                             command_hash)
                    return SentCommand(hash=command_hash)
            except SendAnswerLost:
                continue
        raise lost

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

    async def _check_balance(self, *, new_account: bool) -> None:
        """A receipt costs the fee only; a deploy also pays for the zkApp's new account."""
        await self._check_era()
        account = await self.chain.account(self.fee_payer)
        metrics.FEE_PAYER_BALANCE.set(0 if account is None else account.balance_nanomina)
        needed = self.fee + (ACCOUNT_CREATION_FEE_NANOMINA if new_account else 0)
        if account is None or account.balance_nanomina < needed:
            have = 0 if account is None else account.balance_nanomina
            raise JobError(f"fee payer {self.fee_payer} balance too low: {have / 1e9:g} MINA, "
                           f"a transaction needs {needed / 1e9:g} MINA"
                           + (" (fee + new account)" if new_account else " (the fee)"))

    async def _send(self, sign: Callable[[int], Awaitable[Built]],
                    record: Callable[[Built, int], Awaitable[bool]]
                    ) -> tuple[SentCommand, Built, int, float]:
        """Sign with the lane's nonce, record, send; sign again on a nonce clash. Called with
        the lane held: `sign` must be cheap (a re-sign, or a deploy without proofs). Also
        returns the milliseconds spent waiting for the node (nonce look-ups and sends)."""
        node_ms = 0.0
        for _ in range(NONCE_REBUILDS):
            asked = time.monotonic()
            nonce = await self._nonce()
            node_ms += (time.monotonic() - asked) * 1000
            built = await sign(nonce)
            if not await record(built, nonce):
                raise LeaseLost("lease lost before sending; nothing was sent")
            asked = time.monotonic()
            try:
                try:
                    sent = await self.chain.send_zkapp(built.command, timeout_s=SEND_TIMEOUT_S)
                except SendAnswerLost as lost:
                    sent = await self._after_lost_answer(built.hash, lost)
            except SendRejected as refused:
                if refused.kind in (SendErrorKind.NONCE, SendErrorKind.REPLACE_FEE):
                    log.warning("nonce", "nonce %d refused (%s); resyncing", nonce, refused.message)
                    self._next_nonce = None  # sign again with the next one, never prove again
                    continue
                if refused.kind is SendErrorKind.DUPLICATE:
                    sent = SentCommand(hash=built.hash)
                elif refused.kind is SendErrorKind.BALANCE:
                    raise JobError(f"the node refused the fee payer's balance: {refused.message}"
                                   ) from None
                elif refused.kind is SendErrorKind.NOT_READY:
                    raise NodeNotReady(f"the node cannot take commands now: {refused.message}"
                                       ) from None
                elif refused.kind is SendErrorKind.CONFIGURATION:
                    raise PermanentJobError(f"the node refuses the fee payer {self.fee_payer}: "
                                            f"{refused.message}") from None
                elif refused.kind is SendErrorKind.TOO_BIG:
                    # The same command would be refused every time: its shape is ours.
                    raise PermanentJobError("the node refuses the command's size (the network's "
                                            f"limits): {refused.message}") from None
                elif refused.kind is SendErrorKind.INVALID_SIGNATURE:
                    # the proofs are fine; the next attempt signs again (never proves again)
                    raise JobError(f"the node refused a signature: {refused.message}") from None
                else:
                    raise
            finally:
                node_ms += (time.monotonic() - asked) * 1000
            if os.environ.get(CRASH_AFTER_SEND):
                os.kill(os.getpid(), signal.SIGKILL)
            self._next_nonce = nonce + 1
            return sent, built, nonce, node_ms
        raise JobError(f"nonce kept clashing after {NONCE_REBUILDS} rebuilds")

    # -- the Publisher protocol ------------------------------------------------------------

    async def publish_proof(self, request: PublishRequest) -> PublishReceipt:
        if not request.zkapp_address:
            raise JobError("the challenge's zkApp is not deployed yet")
        zkapp_address = request.zkapp_address
        # Never twice: the command of an earlier attempt that the node has seen is followed by
        # the monitor, not sent again.
        if request.previous_transaction_hash and \
                await self._known(request.previous_transaction_hash):
            log.info("publish", "already on chain; not sending again")
            return PublishReceipt(transaction_id=request.previous_transaction_hash,
                                  transaction_hash=request.previous_transaction_hash,
                                  nonce=request.previous_nonce or 0, fee_payer=self.fee_payer)
        await self._check_balance(new_account=False)
        ahead = self._queued
        self._queued += 1
        try:
            guess = await self._nonce() + ahead
            proven = await self._proven(request, zkapp_address, nonce=guess)
            return await self._send_proven(request, proven)
        finally:
            self._queued -= 1

    async def _send_proven(self, request: PublishRequest, proven: _Proven) -> PublishReceipt:
        """The lane: the next nonce, the command signed for it (as built, or re-signed), its
        hash recorded, sent. Only milliseconds of our own work happen while it is held."""
        resigned = False

        async def sign(nonce: int) -> ReceiptTransaction:
            nonlocal resigned
            if proven.built is not None and proven.built_nonce == nonce:
                return proven.built
            resigned = True
            return await ops.resign_transaction(
                self.pool, command=proven.command, nonce=nonce, network_id=self.network_id,
                fee_payer_key=self._key)

        async def record(built: ReceiptTransaction, nonce: int) -> bool:
            return await request.record_progress({
                "transaction_hash": built.hash, "transaction_nonce": nonce,
                "transaction_fee_payer": self.fee_payer,
                "receipt_zkapp_address": request.zkapp_address})

        async with self._lane:
            entered = time.monotonic()
            try:
                sent, built, nonce, node_ms = await self._send(sign, record)
            except SendRejected as refused:
                if refused.kind is SendErrorKind.INVALID_PROOF:
                    # proven against a state the chain no longer has: prove on the next try
                    await request.record_progress({"proven_command": None})
                raise
            held_ms = (time.monotonic() - entered) * 1000
        # The node has it: the photo shows its transaction now, not only at `complete` (the
        # web app lights its "Blockchain Transaction" step on it). A lost lease is found out
        # by the finish.
        await request.record_progress({"transaction_id": sent.hash})
        log.info("sent", "photo %s: sent %s with nonce %d (%s); lane held %.0f ms, of which "
                 "waiting for the node's answers %.0f ms", request.sha256_hex, sent.hash, nonce,
                 "re-signed" if resigned else "as proven", held_ms, node_ms,
                 lane_ms=round(held_ms, 1), node_ms=round(node_ms, 1),
                 resigned=resigned, nonce=nonce)
        return PublishReceipt(transaction_id=sent.hash, transaction_hash=sent.hash, nonce=nonce,
                              fee_payer=self.fee_payer)

    async def _proven(self, request: PublishRequest, zkapp_address: str, *,
                      nonce: int) -> _Proven:
        """The kept proven command, or a new one proven now for `nonce` (outside the lane,
        then kept)."""
        kept = request.proven_command
        if kept is not None and targets(kept, zkapp_address):
            log.info("resign", "photo %s: re-signing the command proven earlier (no new proof)",
                     request.sha256_hex)
            return _Proven(kept)
        if request.proof_json is None:
            raise PermanentJobError("the kept proven command was refused and no proof is stored "
                                    "any more; `touchgrass resubmit` proves it again")
        # The contract verifies the proof against the circuit it was compiled with; a proof
        # made by an earlier build of the circuit (docs/circuit.md, "Upgrading across a
        # circuit change") would fail there after seconds of proving, on every attempt. The
        # builders hold the current circuit.
        valid, reason = await ops.verify(self.pool, request.proof_json)
        if not valid:
            raise PermanentJobError(
                f"the stored proof does not verify with this version's circuit ({reason}): it "
                f"was made by an earlier one. `touchgrass resubmit {request.sha256_hex}` proves "
                "it again")
        started = time.monotonic()
        built = await ops.verify_and_store_transaction(
            self.pool, endpoint=self.endpoint, network_id=self.network_id,
            fee_payer_key=self._key, nonce=nonce, fee_nanomina=self.fee,
            zkapp_address=zkapp_address, chain_id_field=chain_id_field(request.chain_id),
            proof=dict(request.proof_json))
        if not await request.record_progress({"proven_command": built.command}):
            raise LeaseLost("lease lost after proving; nothing was sent")
        log.info("proven", "photo %s: verifyAndStore transaction proven in %.1f s, kept for "
                 "re-signing", request.sha256_hex, time.monotonic() - started)
        return _Proven(built.command, built, nonce)

    async def deploy_zkapp(self, request: DeployRequest) -> DeployReceipt:
        async with self._lane:
            if request.previous_transaction_hash and request.zkapp_address and \
                    await self._known(request.previous_transaction_hash):
                return DeployReceipt(zkapp_address=request.zkapp_address,
                                     zkapp_token_id=request.zkapp_token_id or "",
                                     transaction_id=request.previous_transaction_hash,
                                     transaction_hash=request.previous_transaction_hash,
                                     nonce=request.previous_nonce or 0,
                                     verification_key_hash=self.contract_hash)
            await self._check_balance(new_account=True)

            async def build(nonce: int) -> DeployTransaction:
                return await ops.deploy_transaction(
                    self.pool, endpoint=self.endpoint, network_id=self.network_id,
                    fee_payer_key=self._key, nonce=nonce, fee_nanomina=self.fee)

            async def record(built: DeployTransaction, nonce: int) -> bool:
                return await request.record_progress({
                    "zkapp_address": built.zkapp_address, "zkapp_token_id": built.token_id,
                    "transaction_hash": built.hash, "transaction_nonce": nonce})

            sent, built, nonce, _node_ms = await self._send(build, record)
        return DeployReceipt(zkapp_address=built.zkapp_address, zkapp_token_id=built.token_id,
                             transaction_id=sent.hash, transaction_hash=sent.hash, nonce=nonce,
                             verification_key_hash=self.contract_hash)
