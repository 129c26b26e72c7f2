"""The `submissions` table's chain half: a photo's receipt, from the transaction that records
it (as the monitor follows it to inclusion and finality, or back to a stage when it is gone)
to where the receipt is for a verifier. The row's life through the API is
store/submissions.py; the queue columns are the queue engine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from touchgrass.db import Executor
from touchgrass.errors import NotFound
from touchgrass.queue import engine
from touchgrass.queue.stages import GENERATE, PUBLISH
from touchgrass.statuses import ChainStatus, SubmissionStatus

__all__ = ["ReceiptRow", "WatchedSubmission", "chain_abandoned", "chain_final", "chain_included",
           "chain_reorged", "chain_seen", "chain_totals", "chain_watch", "receipt"]

# -- name: submission_chain_totals (`touchgrass status`): what the monitor knows
SUBMISSION_CHAIN_TOTALS = """
SELECT chain_status, count(*) AS total FROM submissions
WHERE chain_status IS NOT NULL GROUP BY chain_status
"""

# -- name: submission_chain_watch
# The monitor's work list: sent and not final (the partial index submissions_chain_pending).
# A token-account receipt's token id comes along (receipts before migration 0010): the account
# under it is proof that the command landed, even once its block has left the node's
# frontier. Action receipts have none (the monitor follows their hash only).
SUBMISSION_CHAIN_WATCH = """
SELECT s.id, s.sha256_hash, s.transaction_hash, s.chain_status, s.published_at,
       s.transaction_submitted_block_height, s.chain_included_height, s.token_owner_address,
       s.challenge_id, s.receipt_token_id AS zkapp_token_id, s.transaction_nonce,
       s.transaction_fee_payer, s.chain_included_block, s.receipt_zkapp_address
FROM submissions s
WHERE s.chain_status IN ('pending', 'included') AND s.status = 'complete'
ORDER BY s.published_at
LIMIT $1
"""

# -- name: submission_chain_seen: the tip height when the monitor first saw it pending
SUBMISSION_CHAIN_SEEN = """
UPDATE submissions SET transaction_submitted_block_height = $3
WHERE id = $1 AND transaction_hash = $2 AND transaction_submitted_block_height IS NULL
"""

# -- name: submission_chain_included
# Every chain transition is fenced by the transaction hash: a row re-published meanwhile
# (new hash) is never marked by news about the old transaction.
# The block's state hash ($4) is kept beside its height: a reorg can replace the block at
# that height, and only the hash tells (submission_chain_reorged). Asked again for an
# included row, it moves the inclusion to the block the command is in now.
SUBMISSION_CHAIN_INCLUDED = """
UPDATE submissions
SET chain_status = 'included', chain_included_height = $3, chain_included_block = $4,
    chain_included_at = coalesce(chain_included_at, now()), updated_at = now()
WHERE id = $1 AND transaction_hash = $2
  AND (chain_status = 'pending'
       OR (chain_status = 'included' AND chain_included_block IS DISTINCT FROM $4))
"""

# -- name: submission_chain_reorged
# The including block left the best chain and the command is in no block of it: back to
# `pending`, the abandon timer restarted at the tip ($3). Nothing is re-queued: the command
# is most likely back in the mempool and in a block soon; if not, the fee payer's nonce
# decides, as for any pending command (roles/monitor.py).
SUBMISSION_CHAIN_REORGED = """
UPDATE submissions
SET chain_status = 'pending', chain_included_height = NULL, chain_included_block = NULL,
    chain_included_at = NULL, transaction_submitted_block_height = $3, updated_at = now()
WHERE id = $1 AND transaction_hash = $2 AND chain_status = 'included'
"""

# -- name: submission_chain_final
# Final: the receipt can no longer disappear, so the proven command kept for a republish is
# not needed any more (cleared, like proof_json at `complete`).
SUBMISSION_CHAIN_FINAL = """
UPDATE submissions
SET chain_status = 'final', chain_final_at = now(), proven_command = NULL,
    chain_included_height = coalesce(chain_included_height, $3), updated_at = now()
WHERE id = $1 AND transaction_hash = $2 AND chain_status IN ('pending', 'included')
"""

# -- name: submission_chain_abandoned_lock
# The row as the monitor last saw it (complete, with this hash), locked so that the stage
# chosen from it is still right when the row is re-queued.
SUBMISSION_CHAIN_ABANDONED_LOCK = """
SELECT proven_command IS NOT NULL AS kept FROM submissions
WHERE id = $1 AND transaction_hash = $2 AND status = 'complete'
FOR NO KEY UPDATE
"""

# -- name: submission_chain_abandoned
# The row's own columns as the queue engine's requeue sends it back (reason $2), fenced by
# the hash ($4): the transaction is gone, and its hash, which was public, moves to
# earlier_transactions with the reason. Back to publishing ($5), the kept proven command is
# re-signed with a new nonce, no proof made twice; back to proof generation, the kept command
# is no use (the chain refused what it proves against) and the photo is queued again.
# transaction_id (what the API shows) keeps the last transaction until the next one is sent
# (docs/http-api.md: the web app's "Blockchain Transaction" step does not go dark meanwhile).
SUBMISSION_CHAIN_ABANDONED = """
earlier_transactions = earlier_transactions || jsonb_build_array(jsonb_build_object(
    'hash', transaction_hash, 'nonce', transaction_nonce, 'at', now(), 'why', $2::text)),
queued_at = CASE WHEN $5 THEN queued_at ELSE now() END,
proven_command = CASE WHEN $5 THEN proven_command END,
chain_status = 'abandoned',
transaction_hash = NULL, transaction_nonce = NULL, transaction_fee_payer = NULL,
transaction_submitted_block_height = NULL, chain_included_height = NULL,
chain_included_block = NULL, published_at = NULL
"""
SUBMISSION_CHAIN_ABANDONED_FENCE = "transaction_hash = $4 AND status = 'complete'"

# -- name: submission_receipt (GET /api/receipts/:sha256, /api/submissions/:id/receipt; verify)
# Where a photo's receipt is: its own zkApp address (set when sent, migration 0010), not the
# challenge's, which changes when the challenge is redeployed. {key} is the lookup column.
SUBMISSION_RECEIPT = """
SELECT s.id, s.sha256_hash, s.status, s.chain_id, s.challenge_id, s.transaction_hash,
       s.chain_status, s.chain_included_height, s.published_at, s.token_owner_address,
       s.receipt_zkapp_address, s.receipt_token_id, s.batch_position, s.batch_size
FROM submissions s
WHERE s.{key} = $1
"""

STATEMENTS = {
    "submission_receipt": SUBMISSION_RECEIPT,
    "submission_chain_totals": SUBMISSION_CHAIN_TOTALS,
    "submission_chain_watch": SUBMISSION_CHAIN_WATCH,
    "submission_chain_seen": SUBMISSION_CHAIN_SEEN,
    "submission_chain_included": SUBMISSION_CHAIN_INCLUDED,
    "submission_chain_reorged": SUBMISSION_CHAIN_REORGED,
    "submission_chain_final": SUBMISSION_CHAIN_FINAL,
    "submission_chain_abandoned_lock": SUBMISSION_CHAIN_ABANDONED_LOCK,
    "submission_chain_abandoned": SUBMISSION_CHAIN_ABANDONED,
    "submission_chain_abandoned_fence": SUBMISSION_CHAIN_ABANDONED_FENCE,
}


# ---------------------------------------------------------------- where a receipt is

@dataclass(frozen=True)
class ReceiptRow:
    """A photo's receipt as the database knows it (a pointer for verifiers, not evidence)."""

    id: UUID
    sha256_hash: str
    status: SubmissionStatus
    chain_id: UUID
    challenge_id: UUID
    transaction_hash: str | None
    chain_status: ChainStatus | None
    block_height: int | None
    published_at: datetime | None
    zkapp_address: str | None
    token_owner_address: str | None  # the receipts before actions (token accounts)
    token_id: str | None
    batch_position: int | None = None  # the photo's place among its command's photos
    batch_size: int | None = None  # photos the command carries (None: sent before batches)

    @property
    def published(self) -> bool:
        return self.status is SubmissionStatus.COMPLETE and bool(self.zkapp_address) and \
            bool(self.transaction_hash or self.token_owner_address)


async def receipt(executor: Executor, *, sha256_hex: str | None = None,
                  submission_id: UUID | None = None) -> ReceiptRow:
    """By digest or by id; NotFound when no such submission."""
    key, value = ("sha256_hash", sha256_hex.lower()) if sha256_hex else ("id", submission_id)
    row = await executor.fetchrow(SUBMISSION_RECEIPT.format(key=key), value)
    if row is None:
        raise NotFound("Submission not found")
    return ReceiptRow(
        id=row["id"], sha256_hash=row["sha256_hash"], status=SubmissionStatus(row["status"]),
        chain_id=row["chain_id"], challenge_id=row["challenge_id"],
        transaction_hash=row["transaction_hash"],
        chain_status=ChainStatus(row["chain_status"]) if row["chain_status"] else None,
        block_height=row["chain_included_height"], published_at=row["published_at"],
        zkapp_address=row["receipt_zkapp_address"],
        token_owner_address=row["token_owner_address"], token_id=row["receipt_token_id"],
        batch_position=row["batch_position"], batch_size=row["batch_size"])


async def chain_totals(executor: Executor) -> dict[str, int]:
    return {row["chain_status"]: row["total"] for row in await executor.fetch(SUBMISSION_CHAIN_TOTALS)}


# ---------------------------------------------------------------- the monitor

@dataclass(frozen=True)
class WatchedSubmission:
    """A sent receipt transaction, as the monitor follows it (submission_chain_watch)."""

    id: UUID
    sha256_hash: str
    transaction_hash: str | None
    chain_status: ChainStatus
    transaction_submitted_block_height: int | None  # the abandon timer's start (a tip height)
    chain_included_height: int | None
    token_owner_address: str | None  # the receipt account, once sent
    zkapp_token_id: str | None  # a token-account receipt's token (before 0010)
    transaction_nonce: int | None = None
    transaction_fee_payer: str | None = None  # NULL for rows sent before 0011
    chain_included_block: str | None = None  # the including block's state hash
    receipt_zkapp_address: str | None = None


async def chain_watch(executor: Executor, limit: int = 500) -> list[WatchedSubmission]:
    return [WatchedSubmission(
        id=row["id"], sha256_hash=row["sha256_hash"], transaction_hash=row["transaction_hash"],
        chain_status=ChainStatus(row["chain_status"]),
        transaction_submitted_block_height=row["transaction_submitted_block_height"],
        chain_included_height=row["chain_included_height"],
        token_owner_address=row["token_owner_address"], zkapp_token_id=row["zkapp_token_id"],
        transaction_nonce=row["transaction_nonce"],
        transaction_fee_payer=row["transaction_fee_payer"],
        chain_included_block=row["chain_included_block"],
        receipt_zkapp_address=row["receipt_zkapp_address"],
    ) for row in await executor.fetch(SUBMISSION_CHAIN_WATCH, limit)]


async def chain_seen(executor: Executor, row_id: UUID, tx_hash: str, height: int) -> None:
    await executor.execute(SUBMISSION_CHAIN_SEEN, row_id, tx_hash, height)


async def chain_included(executor: Executor, row_id: UUID, tx_hash: str, height: int,
                         state_hash: str | None) -> bool:
    return bool(await executor.execute(SUBMISSION_CHAIN_INCLUDED, row_id, tx_hash, height,
                                       state_hash) == "UPDATE 1")


async def chain_reorged(executor: Executor, row_id: UUID, tx_hash: str, tip: int) -> bool:
    return bool(await executor.execute(SUBMISSION_CHAIN_REORGED, row_id, tx_hash, tip) == "UPDATE 1")


async def chain_final(executor: Executor, row_id: UUID, tx_hash: str, height: int | None) -> bool:
    return bool(await executor.execute(SUBMISSION_CHAIN_FINAL, row_id, tx_hash, height) == "UPDATE 1")


async def chain_abandoned(pool: asyncpg.Pool, row_id: UUID, tx_hash: str, reason: str, *,
                          dropped: bool) -> str | None:
    """Re-queue a row whose transaction is gone; the stage it went back to (a status), or None
    when the row had moved on meanwhile. The stage's lane is woken in the same transaction."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(SUBMISSION_CHAIN_ABANDONED_LOCK, row_id, tx_hash)
        if row is None:
            return None
        stage = PUBLISH if dropped and row["kept"] else GENERATE
        moved = await engine.requeue(connection, stage, row_id, reason=reason, by="monitor",
                                     also=SUBMISSION_CHAIN_ABANDONED,
                                     where=SUBMISSION_CHAIN_ABANDONED_FENCE,
                                     args=(tx_hash, stage is PUBLISH))
    return str(stage.ready_status) if moved else None
