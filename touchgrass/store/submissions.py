"""The `submissions` table: operator queries (timeline, totals, resubmit).

The queue columns are the queue engine's; this module owns the rest of the row's life.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from touchgrass import db
from touchgrass.errors import NeedsForce, OperatorError, UnknownSubmission
from touchgrass.queue.stages import GENERATE, PUBLISH

__all__ = ["ResubmitResult", "find_by_sha256", "resubmit", "status_totals"]

# -- name: submission_by_sha256
# Served by the unique sha256_hash index. Everything `touchgrass status SHA256` shows.
SUBMISSION_BY_SHA256 = """
SELECT id, sha256_hash, status, attempts, run_at, lease_owner, lease_expires_at,
       failure_reason, failed_stage, failed_at, correlation_id, wallet_address, chain_id,
       chain_position, challenge_id, storage_key, proof_json IS NOT NULL AS has_proof,
       transaction_id, transaction_hash, transaction_nonce, token_owner_address,
       chain_status, chain_included_height, created_at, queued_at, proof_generated_at,
       published_at, chain_included_at, chain_final_at, rejected_at, updated_at
FROM submissions
WHERE sha256_hash = $1
"""

# -- name: submission_status_totals
SUBMISSION_STATUS_TOTALS = """
SELECT status, count(*) AS total FROM submissions GROUP BY status
"""

# -- name: submission_lock_for_resubmit
# FOR NO KEY UPDATE waits for a claim in progress (claims hold the same lock for an instant)
# so the decision below sees the row as it is.
SUBMISSION_LOCK_FOR_RESUBMIT = """
SELECT id, status, proof_json IS NOT NULL AS has_proof, attempts, lease_owner
FROM submissions WHERE sha256_hash = $1
FOR NO KEY UPDATE
"""

# -- name: submission_resubmit
# Back to the stage that can make progress: publish when a proof is stored, else generate.
# attempts = 0 starts a fresh budget and also fences out any worker still holding the old
# lease (its finish matches on the old attempt). A forced resubmit of a complete row forgets
# the earlier transaction, or publish would find it on chain and skip the new one.
SUBMISSION_RESUBMIT = """
UPDATE submissions
SET status = $2::text,
    attempts = 0,
    run_at = now(),
    lease_owner = NULL,
    lease_expires_at = NULL,
    failure_reason = NULL,
    rejected_at = NULL,
    queued_at = CASE WHEN $2::text = 'proof_generation' THEN now() ELSE queued_at END,
    transaction_id = CASE WHEN $3 THEN NULL ELSE transaction_id END,
    transaction_hash = CASE WHEN $3 THEN NULL ELSE transaction_hash END,
    transaction_nonce = CASE WHEN $3 THEN NULL ELSE transaction_nonce END,
    token_owner_address = CASE WHEN $3 THEN NULL ELSE token_owner_address END,
    transaction_submitted_block_height = CASE WHEN $3 THEN NULL
                                              ELSE transaction_submitted_block_height END,
    chain_status = CASE WHEN $3 THEN NULL ELSE chain_status END,
    chain_included_height = CASE WHEN $3 THEN NULL ELSE chain_included_height END,
    chain_included_at = CASE WHEN $3 THEN NULL ELSE chain_included_at END,
    chain_final_at = CASE WHEN $3 THEN NULL ELSE chain_final_at END,
    published_at = CASE WHEN $3 THEN NULL ELSE published_at END,
    updated_at = now()
WHERE id = $1
"""

STATEMENTS = {
    "submission_by_sha256": SUBMISSION_BY_SHA256,
    "submission_status_totals": SUBMISSION_STATUS_TOTALS,
    "submission_lock_for_resubmit": SUBMISSION_LOCK_FOR_RESUBMIT,
    "submission_resubmit": SUBMISSION_RESUBMIT,
}


async def find_by_sha256(executor: asyncpg.Pool | asyncpg.Connection, sha256_hex: str
                         ) -> dict[str, Any]:
    row = await executor.fetchrow(SUBMISSION_BY_SHA256, sha256_hex.lower())
    if row is None:
        raise UnknownSubmission(f"no submission has sha256 {sha256_hex}")
    return dict(row)


async def status_totals(executor: asyncpg.Pool | asyncpg.Connection) -> dict[str, int]:
    return {row["status"]: row["total"] for row in await executor.fetch(SUBMISSION_STATUS_TOTALS)}


@dataclass(frozen=True)
class ResubmitResult:
    sha256_hex: str
    previous_status: str
    new_status: str
    previous_attempts: int
    kept_proof: bool
    forgot_transaction: bool

    def describe(self) -> str:
        what = (f"{self.sha256_hex}: {self.previous_status} -> {self.new_status}, attempts "
                f"{self.previous_attempts} -> 0")
        if self.kept_proof:
            what += "; the stored proof is kept, so it will not be proven again"
        if self.forgot_transaction:
            what += "; the earlier transaction was forgotten and a new one will be sent"
        return what


async def resubmit(pool: asyncpg.Pool, sha256_hex: str, *, force: bool = False) -> ResubmitResult:
    """Operator retry (pipeline.md): re-queue a rejected or stuck row with a fresh budget."""
    sha256_hex = sha256_hex.lower()
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(SUBMISSION_LOCK_FOR_RESUBMIT, sha256_hex)
        if row is None:
            raise UnknownSubmission(f"no submission has sha256 {sha256_hex}")
        status = row["status"]
        if status == "awaiting_review":
            raise OperatorError(
                f"{sha256_hex} is awaiting an admin's review; approve or reject it with "
                "PATCH /api/submissions/<id> instead"
            )
        if status == "complete" and not force:
            raise NeedsForce(
                f"{sha256_hex} is complete (already published); resubmitting would publish it "
                "again. Add --force if that is what you want"
            )
        new_stage = PUBLISH if row["has_proof"] else GENERATE
        forget_transaction = status == "complete"
        await connection.execute(
            SUBMISSION_RESUBMIT, row["id"], new_stage.ready_status, forget_transaction
        )
        await db.notify(connection, new_stage.channel)
    return ResubmitResult(sha256_hex, status, new_stage.ready_status, row["attempts"],
                          row["has_proof"], forget_transaction)
