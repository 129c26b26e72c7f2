"""The `submissions` table, a photo's life through the API: uploads, reads, review,
deletion, and the operator's queries and resubmits.

The queue columns are the queue engine's; the row's chain life (its receipt transaction as
the monitor follows it, and where the receipt is) is store/receipts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from touchgrass import db
from touchgrass.db import Executor
from touchgrass.errors import (
    Conflict,
    InvalidInput,
    NeedsForce,
    NotFound,
    OperatorError,
    UnknownSubmission,
)
from touchgrass.queue import engine
from touchgrass.queue.stages import GENERATE, PUBLISH
from touchgrass.statuses import IN_FLIGHT, SubmissionStatus
from touchgrass.store import chains, challenges, keyset, notifications, pending_images, users

__all__ = ["ListFilters", "NewSubmission", "ResubmitResult", "create", "delete", "earlier_upload",
           "find_by_sha256", "get", "image_referenced", "page", "page_end", "resubmit", "review",
           "status_totals"]


# What the API shows of a submission, as the row's JSON text (docs/http-api.md).
# Built here rather than in Python because a list can be long: Postgres writes this at
# ~6 us a row and Python then only joins the texts, where decoding the row and building the
# dict took ~35 us (bench/lists.py). `||` with a NULL is NULL, so `coalesce(',"f":' || x, '')`
# leaves out a NULL (or, with nullif, an empty) field, as the old API did; to_json escapes
# free text; dates are UTC with milliseconds and a four-digit year.
_DATE = """to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
_JSON = """(
    '{"id":"' || s.id
    || '","sha256Hash":"' || s.sha256_hash
    || '","walletAddress":' || to_json(s.wallet_address)
    || ',"signature":' || to_json(s.signature)
    || ',"challengeId":"' || s.challenge_id
    || '","chainId":"' || s.chain_id || '"'
    || coalesce(',"storageKey":' || to_json(nullif(s.storage_key, '')), '')
    || coalesce(',"tagline":' || to_json(nullif(s.tagline, '')), '')
    || coalesce(',"chainPosition":' || s.chain_position, '')
    || ',"likeCount":' || {like_count}
    || ',"status":"' || s.status || '"'
    || coalesce(',"transactionId":' || to_json(nullif(s.transaction_id, '')), '')
    || coalesce(',"transactionSubmittedBlockHeight":' || s.transaction_submitted_block_height, '')
    || coalesce(',"failureReason":' || to_json(nullif(s.failure_reason, '')), '')
    || ',"retryCount":' || s.attempts
    || coalesce(',"challengeVerified":' || s.challenge_verified, '')
    || coalesce(',"tokenOwnerAddress":' || to_json(nullif(s.token_owner_address, '')), '')
    || coalesce(',"chainStatus":"' || s.chain_status || '"', '')
    || ',"createdAt":"' || {created_at}
    || '","updatedAt":"' || {updated_at} || '"}'
)""".replace("{created_at}", _DATE.format(column="s.created_at")).replace(
    "{updated_at}", _DATE.format(column="s.updated_at"))
# The live like count: one index-only probe of likes_submission_wallet per row.
_LIKE_COUNT = "(SELECT count(*) FROM likes l WHERE l.submission_id = s.id)"
SUBMISSION_JSON = _JSON.replace("{like_count}", _LIKE_COUNT)

# The columns the server itself needs of a submission (the image route, the store).
_COLUMNS = "s.id, s.sha256_hash, s.storage_key, s.status"

# -- name: submission_get
SUBMISSION_GET = f"""
SELECT {_COLUMNS}, {SUBMISSION_JSON} AS json
FROM submissions s WHERE s.id = $1
"""

# -- name: submission_page
# One page of the list, newest first ({where} is composed by `page`, see store/keyset.py).
# Each exact-match filter has an index in this order (migration 0004), so a page reads
# `limit` entries of it from the key on, at any depth.
SUBMISSION_PAGE = f"""
SELECT s.created_at AS key_at, s.id AS key_id, {SUBMISSION_JSON} AS json
FROM submissions s
WHERE {{where}}
ORDER BY s.created_at DESC, s.id DESC
LIMIT $1
"""
# -- name: submission_page_end
# Where the page SUBMISSION_PAGE would read with the same conditions ends: the key of its
# last row, or none when fewer rows are left. The key columns are in each list index, so
# this reads `limit` index entries and no row; a stream uses it to start the next batch's
# query before this batch's rows have arrived (api/pages.py).
SUBMISSION_PAGE_END = """
SELECT s.created_at AS key_at, s.id AS key_id
FROM submissions s
WHERE {where}
ORDER BY s.created_at DESC, s.id DESC
LIMIT 1 OFFSET $1 - 1
"""
# Conditions of SUBMISSION_PAGE and SUBMISSION_PAGE_END: after the key, one per filter.
_PAGE_AFTER = "(s.created_at, s.id) < ($?, $?)"
_PAGE_FILTERS = {
    "wallet_address": "s.wallet_address = $?",   # submissions_list_by_wallet
    "chain_id": "s.chain_id = $?",               # submissions_list_by_chain
    "challenge_id": "s.challenge_id = $?",       # submissions_list_by_challenge
    "status": "s.status = $?",                   # submissions_list_by_status
}

# -- name: submission_earlier_upload (the unique sha256 index)
# Step 12 of the upload: the row these bytes already have, and whether it was made by this
# very upload (same chain, wallet, signature and caption). An upload can commit and still be
# answered 503 (the database hung after the commit); the client's retry then gets its row
# back instead of a 409. Anything else with the same bytes is a duplicate.
SUBMISSION_EARLIER_UPLOAD = f"""
SELECT s.chain_id = $2 AND s.wallet_address = $3 AND s.signature = $4
       AND s.tagline IS NOT DISTINCT FROM $5 AS same_upload,
       {SUBMISSION_JSON} AS json
FROM submissions s WHERE s.sha256_hash = $1
"""

# -- name: submission_insert
# Inside the upload transaction, after the chain row lock gave the position. queued_at is
# the clock of `touchgrass status`'s "oldest" for proof_generation.
SUBMISSION_INSERT = f"""
INSERT INTO submissions AS s (sha256_hash, wallet_address, signature, challenge_id, chain_id,
                              storage_key, tagline, chain_position, status, challenge_verified,
                              correlation_id, queued_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text, $10, $11,
        CASE WHEN $9::text = 'proof_generation' THEN now() END)
RETURNING {_COLUMNS}, {_JSON.replace("{like_count}", "0")} AS json
"""

# -- name: submission_lock
# Review and delete decide on the current status; FOR NO KEY UPDATE waits out a claim.
SUBMISSION_LOCK = "SELECT id, status FROM submissions WHERE id = $1 FOR NO KEY UPDATE"

# -- name: submission_approve
# PATCH approve: the row's own columns as the queue engine's requeue puts it into proof
# generation (a fresh budget, woken at commit).
SUBMISSION_APPROVE = "challenge_verified = TRUE, queued_at = now()"

# -- name: submission_review_reject
# PATCH reject: the row leaves the pipeline before entering it, with the admin's reason.
SUBMISSION_REVIEW_REJECT = """
UPDATE submissions
SET status = 'rejected', challenge_verified = FALSE, failure_reason = $2, rejected_at = now(),
    updated_at = now()
WHERE id = $1
"""

# -- name: submission_delete
# Deleting the row is what stops its pipeline work: every queue write is fenced on the row,
# and the publisher re-reads it before sending. Likes go by cascade. Its image is recorded as
# pending by a trigger (see store/pending_images.py).
SUBMISSION_DELETE = "DELETE FROM submissions WHERE id = $1 RETURNING id"

# -- name: submission_image_referenced
# Images are content-addressed (images/<sha256>) and sha256 is unique, so the image is still
# needed exactly when a row with its hash exists.
SUBMISSION_IMAGE_REFERENCED = """
SELECT EXISTS (SELECT 1 FROM submissions WHERE sha256_hash = $1 OR storage_key = $2)
"""

# -- name: submission_by_sha256
# Served by the unique sha256_hash index. Everything `touchgrass status SHA256` shows.
SUBMISSION_BY_SHA256 = """
SELECT id, sha256_hash, status, attempts, run_at, lease_owner, lease_expires_at,
       failure_reason, failed_stage, failed_at, correlation_id, wallet_address, chain_id,
       chain_position, challenge_id, storage_key, proof_json IS NOT NULL AS has_proof,
       transaction_id, transaction_hash, transaction_nonce, token_owner_address,
       chain_status, chain_included_height, created_at, queued_at, proof_generated_at,
       published_at, chain_included_at, chain_final_at, rejected_at, updated_at,
       earlier_transactions, receipt_zkapp_address, batch_position, batch_size
FROM submissions
WHERE sha256_hash = $1
"""

# -- name: submission_status_totals
SUBMISSION_STATUS_TOTALS = """
SELECT status, count(*) AS total FROM submissions GROUP BY status
"""

# -- name: submission_evidence
# What `touchgrass verify` checks besides the chain: the signature as received and the proof
# while it is still stored (it is cleared once published).
SUBMISSION_EVIDENCE = "SELECT signature, proof_json FROM submissions WHERE id = $1"

# -- name: submission_lock_for_resubmit
# FOR NO KEY UPDATE waits for a claim in progress (claims hold the same lock for an instant)
# so the decision below sees the row as it is.
SUBMISSION_LOCK_FOR_RESUBMIT = """
SELECT id, status, proof_json IS NOT NULL AS has_proof, attempts, lease_owner
FROM submissions WHERE sha256_hash = $1
FOR NO KEY UPDATE
"""

# -- name: submission_resubmit
# The row's own columns as the queue engine's requeue gives it a fresh budget in the stage
# that can make progress (publish when a proof is stored, else generate: $5). A forced
# resubmit of a complete row ($4) forgets the earlier transaction, or publish would find it
# on chain and skip the new one; its hash stays in earlier_transactions (it was public).
SUBMISSION_RESUBMIT = """
queued_at = CASE WHEN $5 THEN now() ELSE queued_at END,
earlier_transactions = CASE WHEN $4 AND transaction_hash IS NOT NULL
    THEN earlier_transactions || jsonb_build_array(jsonb_build_object(
        'hash', transaction_hash, 'nonce', transaction_nonce, 'at', now(),
        'why', 'forced resubmit'))
    ELSE earlier_transactions END,
transaction_id = CASE WHEN $4 THEN NULL ELSE transaction_id END,
transaction_hash = CASE WHEN $4 THEN NULL ELSE transaction_hash END,
transaction_nonce = CASE WHEN $4 THEN NULL ELSE transaction_nonce END,
token_owner_address = CASE WHEN $4 THEN NULL ELSE token_owner_address END,
proven_command = CASE WHEN $4 THEN NULL ELSE proven_command END,
transaction_submitted_block_height = CASE WHEN $4 THEN NULL
                                          ELSE transaction_submitted_block_height END,
chain_status = CASE WHEN $4 THEN NULL ELSE chain_status END,
chain_included_height = CASE WHEN $4 THEN NULL ELSE chain_included_height END,
chain_included_at = CASE WHEN $4 THEN NULL ELSE chain_included_at END,
chain_final_at = CASE WHEN $4 THEN NULL ELSE chain_final_at END,
published_at = CASE WHEN $4 THEN NULL ELSE published_at END
"""

STATEMENTS = {
    "submission_get": SUBMISSION_GET,
    "submission_page": SUBMISSION_PAGE,
    "submission_page_end": SUBMISSION_PAGE_END,
    "submission_earlier_upload": SUBMISSION_EARLIER_UPLOAD,
    "submission_insert": SUBMISSION_INSERT,
    "submission_lock": SUBMISSION_LOCK,
    "submission_approve": SUBMISSION_APPROVE,
    "submission_review_reject": SUBMISSION_REVIEW_REJECT,
    "submission_delete": SUBMISSION_DELETE,
    "submission_image_referenced": SUBMISSION_IMAGE_REFERENCED,
    "submission_by_sha256": SUBMISSION_BY_SHA256,
    "submission_status_totals": SUBMISSION_STATUS_TOTALS,
    "submission_lock_for_resubmit": SUBMISSION_LOCK_FOR_RESUBMIT,
    "submission_evidence": SUBMISSION_EVIDENCE,
    "submission_resubmit": SUBMISSION_RESUBMIT,
}


async def get(executor: Executor, submission_id: UUID) -> dict[str, Any]:
    row = await executor.fetchrow(SUBMISSION_GET, submission_id)
    if row is None:
        raise NotFound("Submission not found")
    return dict(row)


@dataclass(frozen=True)
class ListFilters:
    """The exact-match filters of GET /api/submissions; None means "any"."""

    wallet_address: str | None = None
    chain_id: UUID | None = None
    challenge_id: UUID | None = None
    status: str | None = None
    in_flight: bool = False  # either in-flight status (`?status=processing`, the old word)


# Both in-flight statuses: served by submissions_list_by_status, one index range each.
_IN_FLIGHT = "s.status IN ({})".format(", ".join(f"'{status}'" for status in IN_FLIGHT))


def _page_conditions(filters: ListFilters, after: keyset.Key | None) -> keyset.Conditions:
    where = keyset.Conditions().after(_PAGE_AFTER, after)
    for name, condition in _PAGE_FILTERS.items():
        value = getattr(filters, name)
        if value is not None:
            where.where(condition, value)
    if filters.in_flight:
        where.where(_IN_FLIGHT)
    return where


async def page(executor: Executor, filters: ListFilters, *, after: keyset.Key | None,
               limit: int) -> list[tuple[keyset.Key, str]]:
    """Up to `limit` submissions after `after` (newest first), as (key, JSON text)."""
    where = _page_conditions(filters, after)
    rows = await executor.fetch(where.statement(SUBMISSION_PAGE), limit, *where.arguments)
    return [(keyset.key_of(row), row["json"]) for row in rows]


async def page_end(executor: Executor, filters: ListFilters, *, after: keyset.Key | None,
                   limit: int) -> keyset.Key | None:
    """The key of the last row `page` would return with these arguments, if it is full."""
    where = _page_conditions(filters, after)
    row = await executor.fetchrow(where.statement(SUBMISSION_PAGE_END), limit,
                                  *where.arguments)
    return None if row is None else keyset.key_of(row)




@dataclass(frozen=True)
class NewSubmission:
    sha256_hex: str
    wallet_address: str
    signature_json: str
    challenge_id: UUID
    chain_id: UUID
    storage_key: str
    tagline: str | None
    queued: bool  # True: straight to proof_generation; False: awaiting_review
    correlation_id: str | None
    announce: bool = False  # TELEGRAM_ENABLED: queue its announcement with it


async def earlier_upload(executor: Executor, new: NewSubmission) -> str | None:
    """The JSON of the row an earlier try of this same upload made, or None when the bytes
    are new; Conflict when another upload has them (see SUBMISSION_EARLIER_UPLOAD)."""
    row = await executor.fetchrow(SUBMISSION_EARLIER_UPLOAD, new.sha256_hex, new.chain_id,
                                  new.wallet_address, new.signature_json, new.tagline)
    if row is None:
        return None
    if not row["same_upload"]:
        raise Conflict("Image already submitted")
    return str(row["json"])


async def create(connection: asyncpg.Connection, new: NewSubmission) -> dict[str, Any]:
    """The upload's writes, inside the caller's transaction (touchgrass.images holds the
    image's lock in it): user, chain position, row, participant count, NOTIFY.

    Conflict when the image was submitted meanwhile (the unique sha256 index decides).
    """
    status = GENERATE.ready_status if new.queued else SubmissionStatus.AWAITING_REVIEW
    try:
        async with connection.transaction():  # a savepoint in the caller's transaction
            await users.find_or_create(connection, new.wallet_address)
            # The challenge's row before its chain's: a challenge delete locks the challenge
            # and then (by cascade) its chains, and one order for both cannot deadlock.
            await challenges.bump_participants(connection, new.challenge_id)
            position = await chains.take_next_position(connection, new.chain_id)
            row = await connection.fetchrow(
                SUBMISSION_INSERT, new.sha256_hex, new.wallet_address, new.signature_json,
                new.challenge_id, new.chain_id, new.storage_key, new.tagline, position, status,
                new.queued, new.correlation_id,
            )
            if new.queued:
                await db.notify(connection, GENERATE.channel)
            if new.announce:
                await notifications.queue(connection, row["id"], new.correlation_id)
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == "submissions_sha256_hash_key":
            raise Conflict("Image already submitted") from None
        raise
    return dict(row)


async def review(pool: asyncpg.Pool, submission_id: UUID, *, approve: bool,
                 reason: str | None) -> dict[str, Any]:
    """PATCH by an admin: approve (queue the proof) or reject an `awaiting_review` row."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(SUBMISSION_LOCK, submission_id)
        if row is None:
            raise NotFound("Submission not found")
        if row["status"] != SubmissionStatus.AWAITING_REVIEW:
            raise InvalidInput(f"Submission cannot be reviewed in status: {row['status']}",
                               "status")
        if approve:
            await engine.requeue(connection, GENERATE, submission_id, reason=None, by="admin",
                                 also=SUBMISSION_APPROVE)
        else:
            await connection.execute(SUBMISSION_REVIEW_REJECT, submission_id,
                                     reason or "Image does not satisfy challenge criteria")
        return dict(await connection.fetchrow(SUBMISSION_GET, submission_id))


async def delete(executor: Executor, submission_id: UUID) -> list[pending_images.PendingImage]:
    """Delete the row (and its likes); returns its image, now pending, for the caller to settle."""
    deleted, pending = await pending_images.delete_with_images(executor, SUBMISSION_DELETE,
                                                               submission_id)
    if not deleted:
        raise NotFound("Submission not found")
    return pending


async def image_referenced(executor: Executor, storage_key: str) -> bool:
    """Whether any row still needs the image under `storage_key` (images/<sha256>)."""
    sha256_hex = storage_key.rsplit("/", 1)[-1]
    return bool(await executor.fetchval(SUBMISSION_IMAGE_REFERENCED, sha256_hex, storage_key))


async def find_by_sha256(executor: Executor, sha256_hex: str
                         ) -> dict[str, Any]:
    row = await executor.fetchrow(SUBMISSION_BY_SHA256, sha256_hex.lower())
    if row is None:
        raise UnknownSubmission(f"no submission has sha256 {sha256_hex}")
    return dict(row)


async def evidence(executor: Executor, submission_id: UUID) -> tuple[str, dict[str, Any] | None]:
    """(the stored signature JSON, the stored proof or None)."""
    row = await executor.fetchrow(SUBMISSION_EVIDENCE, submission_id)
    if row is None:
        raise NotFound("Submission not found")
    return row["signature"], row["proof_json"]


async def status_totals(executor: Executor) -> dict[str, int]:
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
    """Operator retry (docs/pipeline.md): re-queue a rejected or stuck row with a fresh budget."""
    sha256_hex = sha256_hex.lower()
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(SUBMISSION_LOCK_FOR_RESUBMIT, sha256_hex)
        if row is None:
            raise UnknownSubmission(f"no submission has sha256 {sha256_hex}")
        status = row["status"]
        if status == SubmissionStatus.AWAITING_REVIEW:
            raise OperatorError(
                f"{sha256_hex} is awaiting an admin's review; approve or reject it with "
                "PATCH /api/submissions/<id> instead"
            )
        if status == SubmissionStatus.COMPLETE and not force:
            raise NeedsForce(
                f"{sha256_hex} is complete (already published); resubmitting would publish it "
                "again. Add --force if that is what you want"
            )
        new_stage = PUBLISH if row["has_proof"] else GENERATE
        forget_transaction = status == SubmissionStatus.COMPLETE
        await engine.requeue(connection, new_stage, row["id"], reason=None, by="operator",
                             also=SUBMISSION_RESUBMIT,
                             args=(forget_transaction, new_stage is GENERATE))
    return ResubmitResult(sha256_hex, status, new_stage.ready_status, row["attempts"],
                          row["has_proof"], forget_transaction)
