"""The real Publisher: zkApp transactions for one fee payer, one at a time, never twice.

Photos go out in batches (chain/batch.py): a batch closes when it holds `batch_size` photos
(ten by default, the most the network's size rule allows) or when its oldest photo has
waited `batch_wait_s`, so a lone photo is not held back. Its account updates, two photos
each, are proven **outside** the lane (seconds of o1js work each; with `--concurrency N`, N
at once) and kept on the photos' rows. Inside the lane (one per fee payer, docs/pipeline.md)
the batch only becomes one command: the updates under one fee payer, signed for the next
nonce (milliseconds: nothing proven depends on the fee payer, its nonce or the other updates,
docs/decisions.md), every photo's transaction and place recorded, then sent.

The nonce is tracked here (from the node's `inferredNonce`, incremented after each accepted
send, resynced on a nonce error), and moves on only after the node accepted a command, so a
refused one leaves no gap. A nonce clash, a replace-fee refusal or a dropped command costs a
re-sign, never a proof; an update is proven again only when the chain state its proof was
made against changed (the challenge's zkApp was redeployed, or the node refuses the proof),
or when its partner photo is not in the batch being sent. Before sending, a retry asks the
chain about the earlier attempt: a command the node has seen is not sent again.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from touchgrass import logs, metrics
from touchgrass.chain import DeployReceipt, DeployRequest, PublishReceipt, PublishRequest
from touchgrass.chain.batch import (
    MAX_PHOTOS_PER_COMMAND,
    MAX_PHOTOS_PER_UPDATE,
    MAX_UPDATES_PER_COMMAND,
    chunks,
    compose,
    recorded_digests,
)
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
from touchgrass.node.ops import DeployTransaction, ReceiptTransaction, RecordedPhoto, Runner

__all__ = ["MinaPublisher"]

log = logs.get_logger(__name__)

NONCE_REBUILDS = 3
# A photo whose kept update also records a partner that is not in its batch, and whose proof
# is no longer stored (it was sent once, then dropped), waits this many batches for the
# partner before its update is sent without it (docs/decisions.md, "Batches").
PARTNER_WAITS = 2
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


@dataclass(eq=False)  # each photo is itself: compared by identity
class _Waiting:
    """A photo in a batch, and the answer its handler awaits."""

    request: PublishRequest
    zkapp_address: str
    answer: asyncio.Future[PublishReceipt]
    joined: float = field(default_factory=time.monotonic)
    waited_for_partner: int = 0  # batches it was held back from, waiting for its partner
    batch: int = 0  # which batch it is in now (a photo held back moves to a later one)


@dataclass(frozen=True)
class _Update:
    """One proven account update (inside its own update command) and the photos it records."""

    command: Mapping[str, Any]
    members: list[_Waiting]


def _names(photos: list[_Waiting]) -> str:
    """The photos' SHA-256s, for log lines an operator greps by photo."""
    return ", ".join(waiting.request.sha256_hex for waiting in photos)


def _fail(waiting: _Waiting, error: BaseException) -> None:
    if not waiting.answer.done():
        waiting.answer.set_exception(error if isinstance(error, Exception)
                                     else JobError(f"the batch stopped: {error!r}"))


class MinaPublisher:
    def __init__(self, *, pool: Runner, chain: ChainClient, endpoint: str, network_id: str,
                 fee_payer_key: str, fee_payer_address: str, fee_nanomina: int,
                 era_checked: bool = False, contract_hash: str | None = None,
                 k: int = DEFAULT_K, lost_answer_pause_s: float = 1.5,
                 batch_size: int = MAX_PHOTOS_PER_COMMAND, batch_wait_s: float = 30.0) -> None:
        self.pool = pool
        self.chain = chain
        self.endpoint = endpoint
        self.network_id = network_id
        self._key = fee_payer_key
        self.fee_payer = fee_payer_address
        self.fee = fee_nanomina
        self._lane = asyncio.Lock()
        self._next_nonce: int | None = None
        self._era_checked = era_checked  # the role's start-up check, when it reached the node
        self.contract_hash = contract_hash  # the zkApp build the builders compile (node/keys.py)
        self.k = k  # the node's frontier length, once it said it
        self._lost_answer_pause_s = lost_answer_pause_s
        if not 1 <= batch_size <= MAX_PHOTOS_PER_COMMAND:
            raise ValueError(f"a batch holds 1 to {MAX_PHOTOS_PER_COMMAND} photos")
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self._open: list[_Waiting] = []  # the batch filling now
        self._closer: asyncio.TimerHandle | None = None
        self._closed = 0  # batches closed so far: each photo knows the number of its own
        self._batches: set[asyncio.Task[None]] = set()  # closed batches proving or sending

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
        """The photo joins the open batch and is answered when its batch was sent."""
        if not request.zkapp_address:
            raise JobError("the challenge's zkApp is not deployed yet")
        # Never twice: the command of an earlier attempt that the node has seen is followed by
        # the monitor, not sent again.
        if request.previous_transaction_hash and \
                await self._known(request.previous_transaction_hash):
            log.info("publish", "already on chain; not sending again")
            return PublishReceipt(transaction_id=request.previous_transaction_hash,
                                  transaction_hash=request.previous_transaction_hash,
                                  nonce=request.previous_nonce or 0, fee_payer=self.fee_payer)
        await self._check_balance(new_account=False)
        waiting = _Waiting(request, request.zkapp_address,
                           asyncio.get_running_loop().create_future())
        self._join(waiting)
        try:
            return await asyncio.shield(waiting.answer)
        except asyncio.CancelledError:
            # The worker gave up on the row (timeout, shutdown): out of a batch not closed yet.
            if waiting in self._open:
                self._open.remove(waiting)
            raise

    # -- batches ---------------------------------------------------------------------------

    def _join(self, waiting: _Waiting) -> None:
        """A batch closes when full or when its oldest photo has waited `batch_wait_s`."""
        self._open.append(waiting)
        if len(self._open) >= self.batch_size:
            self._close()
        elif len(self._open) == 1:
            self._closer = asyncio.get_running_loop().call_later(self.batch_wait_s, self._close)

    def _close(self) -> None:
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        batch, self._open = self._open, []
        self._closed += 1
        for waiting in batch:
            waiting.batch = self._closed
        if batch:
            waited = time.monotonic() - batch[0].joined
            log.info("batch", "a batch of %d photo(s) closed (%s) after %.1f s: %s", len(batch),
                     "full" if len(batch) >= self.batch_size else "waited long enough", waited,
                     _names(batch), photos=len(batch), waited_s=round(waited, 2))
            # A context of its own: not the log fields bound to the photo whose handler
            # happened to close it (each line names the batch's photos itself).
            task = asyncio.create_task(self._publish_batch(batch, self._closed),
                                       name="publish-batch", context=contextvars.Context())
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _publish_batch(self, batch: list[_Waiting], number: int) -> None:
        """Prove what is not proven yet (outside the lane), then send the account updates in
        commands of at most five; every photo is answered, with its batch's fate or its own
        (a photo held back for its partner is answered by the batch it moved to)."""
        try:
            updates = await self._updates(batch)
            for chunk in chunks(updates, MAX_UPDATES_PER_COMMAND):
                await self._send_updates(chunk)
        except BaseException as error:  # noqa: BLE001 - handed to the photos' handlers
            for waiting in batch:
                if waiting.batch == number:
                    _fail(waiting, error)
            if not isinstance(error, Exception):
                raise

    async def _updates(self, batch: list[_Waiting]) -> list[_Update]:
        """The batch's account updates: each kept one whose photos are all here is reused as
        it is (a re-sign); the rest are proven now, two photos of one zkApp to an update. A
        photo whose proof cannot be made or used leaves the batch alone: its error answers
        it, and no other photo's update is proven again."""
        reused: list[_Update] = []
        fresh: list[_Waiting] = []
        by_kept: dict[frozenset[str], list[_Waiting]] = {}
        for waiting in batch:
            kept = waiting.request.proven_command
            if kept is not None and targets(kept, waiting.zkapp_address):
                by_kept.setdefault(frozenset(recorded_digests(kept)), []).append(waiting)
            else:
                fresh.append(waiting)
        held_back: list[_Waiting] = []
        for digests, members in by_kept.items():
            if digests and digests == {m.request.sha256_hex for m in members}:
                reused.append(self._reused(members))
                continue
            # Its partner is not in this batch (retried apart, or gone): sending the update
            # for this photo alone would record the partner a second time. With its proof
            # still stored, it is proven again alone (one proof); without (sent once, then
            # dropped), it waits a batch or two for its partner, then goes anyway.
            for waiting in members:
                if waiting.request.proof_json is not None:
                    fresh.append(waiting)
                elif waiting.waited_for_partner < PARTNER_WAITS:
                    waiting.waited_for_partner += 1
                    held_back.append(waiting)
                else:
                    log.warning("partner", "photo %s: its kept update also records %s, not in "
                                "this batch after %d batches; sent anyway (that photo may be "
                                "recorded twice, which changes no verdict)",
                                waiting.request.sha256_hex,
                                ", ".join(sorted(digests - {waiting.request.sha256_hex})),
                                PARTNER_WAITS)
                    reused.append(self._reused([waiting]))
        for waiting in held_back:
            self._join(waiting)
        usable = await asyncio.gather(*(self._usable(w) for w in fresh))
        fresh = [w for w, ok in zip(fresh, usable, strict=True) if ok]
        by_zkapp: dict[str, list[_Waiting]] = {}
        for waiting in fresh:
            by_zkapp.setdefault(waiting.zkapp_address, []).append(waiting)
        groups = [group for members in by_zkapp.values()
                  for group in chunks(members, MAX_PHOTOS_PER_UPDATE)]
        proven = await asyncio.gather(*(self._prove(group) for group in groups))
        return reused + [update for update in proven if update is not None]

    @staticmethod
    def _reused(members: list[_Waiting]) -> _Update:
        log.info("resign", "photo(s) %s: re-signing the update proven earlier (no new proof)",
                 _names(members))
        return _Update(members[0].request.proven_command or {}, members)

    async def _usable(self, waiting: _Waiting) -> bool:
        """The stored proof can be recorded by the contract the builders compiled; else the
        photo is answered with why and leaves the batch."""
        request = waiting.request
        if request.proof_json is None:
            _fail(waiting, PermanentJobError(
                "the kept proven command was refused and no proof is stored any more; "
                "`touchgrass resubmit` proves it again"))
            return False
        # The contract verifies the proof against the circuit it was compiled with; a proof
        # made by an earlier build of the circuit (docs/circuit.md, "Upgrading across a
        # circuit change") would fail there after seconds of proving, on every attempt.
        try:
            valid, reason = await ops.verify(self.pool, request.proof_json)
        except Exception as error:  # noqa: BLE001 - this photo's answer
            _fail(waiting, error)
            return False
        if not valid:
            _fail(waiting, PermanentJobError(
                f"the stored proof does not verify with this version's circuit ({reason}): it "
                f"was made by an earlier one. `touchgrass resubmit {request.sha256_hex}` proves "
                "it again"))
        return valid

    async def _prove(self, members: list[_Waiting]) -> _Update | None:
        """One account update recording these photos (one zkApp), proven and kept on each
        photo's row; None when it could not be (its photos are answered with the error)."""
        started = time.monotonic()
        try:
            built = await ops.record_transaction(
                self.pool, endpoint=self.endpoint, network_id=self.network_id,
                fee_payer_key=self._key, nonce=self._next_nonce or 0, fee_nanomina=self.fee,
                zkapp_address=members[0].zkapp_address,
                photos=[RecordedPhoto(chain_id_field(m.request.chain_id),
                                      dict(m.request.proof_json or {})) for m in members])
            kept = await asyncio.gather(*(m.request.record_progress(
                {"proven_command": built.command}) for m in members))
            if not all(kept):
                raise LeaseLost("lease lost after proving; nothing was sent")
        except Exception as error:  # noqa: BLE001 - these photos' answer
            for waiting in members:
                _fail(waiting, error)
            return None
        metrics.UPDATE_PROOFS.inc()
        log.info("proven", "photo(s) %s: one account update proven in %.1f s, kept for "
                 "re-signing", _names(members), time.monotonic() - started)
        return _Update(built.command, members)

    async def _send_updates(self, updates: list[_Update]) -> None:
        """The lane: one command of these updates, signed for the next nonce, each photo's
        transaction and place recorded, sent. Only milliseconds of our work happen in it."""
        command = compose([update.command for update in updates])
        photos = [waiting for update in updates for waiting in update.members]

        async def sign(nonce: int) -> ReceiptTransaction:
            return await ops.resign_transaction(
                self.pool, command=command, nonce=nonce, network_id=self.network_id,
                fee_payer_key=self._key)

        async def record(built: ReceiptTransaction, nonce: int) -> bool:
            kept = await asyncio.gather(*(waiting.request.record_progress({
                "transaction_hash": built.hash, "transaction_nonce": nonce,
                "transaction_fee_payer": self.fee_payer,
                "receipt_zkapp_address": waiting.zkapp_address,
                "batch_position": place, "batch_size": len(photos)})
                for place, waiting in enumerate(photos, start=1)))
            return all(kept)

        async with self._lane:
            entered = time.monotonic()
            try:
                sent, built, nonce, node_ms = await self._send(sign, record)
            except SendRejected as refused:
                if refused.kind is SendErrorKind.INVALID_PROOF:
                    # proven against a state the chain no longer has: prove on the next try
                    await asyncio.gather(*(w.request.record_progress({"proven_command": None})
                                           for w in photos))
                raise
            held_ms = (time.monotonic() - entered) * 1000
        metrics.PHOTOS_PER_COMMAND.observe(len(photos))
        # The node has it: each photo shows its transaction now, not only at `complete` (the
        # web app lights its "Blockchain Transaction" step on it). A lost lease is found out
        # by the finish.
        await asyncio.gather(*(w.request.record_progress({"transaction_id": sent.hash})
                               for w in photos))
        log.info("sent", "%d photo(s) in %d account update(s): sent %s with nonce %d; lane "
                 "held %.0f ms, of which waiting for the node's answers %.0f ms", len(photos),
                 len(updates), sent.hash, nonce, held_ms, node_ms, lane_ms=round(held_ms, 1),
                 node_ms=round(node_ms, 1), nonce=nonce, photos=len(photos),
                 sha256s=_names(photos))
        for place, waiting in enumerate(photos, start=1):
            if not waiting.answer.done():
                waiting.answer.set_result(PublishReceipt(
                    transaction_id=sent.hash, transaction_hash=sent.hash, nonce=nonce,
                    fee_payer=self.fee_payer, batch_position=place, batch_size=len(photos)))

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
