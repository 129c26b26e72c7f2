"""The `challenges` table: photo challenges, each with its own zkApp.

The deploy lane's queue columns are the queue engine's; this module owns the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from touchgrass import db
from touchgrass.db import Executor
from touchgrass.errors import NotFound
from touchgrass.queue import engine
from touchgrass.queue.stages import DEPLOY
from touchgrass.statuses import UPLOADABLE, DeploymentStatus
from touchgrass.store import keyset, pending_images

__all__ = ["bump_participants", "create", "delete", "deploy_abandoned", "deploy_active",
           "Deployment", "WatchedDeploy", "deploy_watch", "deployment", "deployment_totals", "get", "page",
           "redeploy", "zkapp_addresses"]


_COLUMNS = """id, title, description, start_time, end_time, participant_count, chain_count,
              zkapp_address, zkapp_token_id, deployment_status, transaction_id, failure_reason,
              created_at, updated_at"""

# -- name: challenge_get
CHALLENGE_GET = f"SELECT {_COLUMNS} FROM challenges WHERE id = $1"

# -- name: challenge_page
# GET /api/challenges (and /active: open now), newest start first, a page at a time
# ({where} is composed by `page`, see store/keyset.py); challenges_list_order.
CHALLENGE_PAGE = f"""
SELECT start_time AS key_at, id AS key_id, {_COLUMNS} FROM challenges
WHERE {{where}}
ORDER BY start_time DESC, id DESC
LIMIT $1
"""
_PAGE_AFTER = "(start_time, id) < ($?, $?)"
_PAGE_ACTIVE = "start_time <= now() AND now() < end_time"

# -- name: challenge_create
# Starts in pending_deployment with run_at = now(): the publish role's deploy lane claims it.
CHALLENGE_CREATE = f"""
INSERT INTO challenges (title, description, start_time, end_time, correlation_id)
VALUES ($1, $2, $3, $4, $5)
RETURNING {_COLUMNS}
"""

# -- name: challenge_create_default_chain
CHALLENGE_CREATE_DEFAULT_CHAIN = """
INSERT INTO chains (name, challenge_id) VALUES ('Default', $1)
"""

# -- name: challenge_bump_participants (inside the upload transaction)
CHALLENGE_BUMP_PARTICIPANTS = """
UPDATE challenges SET participant_count = participant_count + 1, updated_at = now()
WHERE id = $1
"""

# -- name: challenge_delete
# Cascades to chains, submissions and likes; each deleted submission's image is recorded as
# pending by a trigger (store/pending_images.py), to remove after the commit.
CHALLENGE_DELETE = "DELETE FROM challenges WHERE id = $1 RETURNING id"

# -- name: challenge_deployment_totals (`touchgrass status`)
CHALLENGE_DEPLOYMENT_TOTALS = """
SELECT deployment_status, count(*) AS total FROM challenges GROUP BY deployment_status
"""

# -- name: challenge_deploy_watch (the monitor; challenges_deploying)
CHALLENGE_DEPLOY_WATCH = """
SELECT id, zkapp_address, transaction_hash, transaction_submitted_block_height, deploy_sent_at
FROM challenges
WHERE deployment_status = 'deploying' ORDER BY deploy_sent_at LIMIT $1
"""

# -- name: challenge_deployment (the publisher: is the zkApp there, and where)
CHALLENGE_DEPLOYMENT = """
SELECT deployment_status, zkapp_address, zkapp_token_id, zkapp_verification_key_hash,
       failure_reason
FROM challenges WHERE id = $1
"""

# -- name: challenge_deploy_seen
# The tip height when the monitor first found the deploy in no block: the abandon timer. On
# the row, not in the monitor's memory, so a restart does not reset it; fenced by the hash.
CHALLENGE_DEPLOY_SEEN = """
UPDATE challenges SET transaction_submitted_block_height = $3
WHERE id = $1 AND transaction_hash = $2 AND transaction_submitted_block_height IS NULL
"""

# -- name: challenge_deploy_active: uploads are accepted from now on
CHALLENGE_DEPLOY_ACTIVE = """
UPDATE challenges SET deployment_status = 'active', deployed_at = now(), updated_at = now()
WHERE id = $1 AND transaction_hash = $2 AND deployment_status = 'deploying'
"""

# -- name: challenge_deploy_abandoned: back to the deploy lane with a fresh zkApp key
# The row's own columns as the queue engine's requeue sends it back, fenced by the hash.
# Only once the monitor has checked that no zkApp account exists at the old address: a deploy
# that may still land is never replaced by a second zkApp.
CHALLENGE_DEPLOY_ABANDONED = """
zkapp_address = NULL, zkapp_token_id = NULL, transaction_id = NULL, transaction_hash = NULL,
transaction_nonce = NULL, transaction_submitted_block_height = NULL
"""
CHALLENGE_DEPLOY_ABANDONED_FENCE = "transaction_hash = $4 AND deployment_status = 'deploying'"

# -- name: challenge_redeploy: an active zkApp of an earlier contract build is replaced
# (migration 0010): back to the deploy lane with a fresh key; the old zkApp keeps its
# receipts (each photo knows its receipt's zkApp). Fenced by the address the publisher saw,
# so two publishers seeing the same old zkApp replace it once.
CHALLENGE_REDEPLOY = CHALLENGE_DEPLOY_ABANDONED + ", zkapp_verification_key_hash = NULL"
CHALLENGE_REDEPLOY_FENCE = "zkapp_address = $4 AND deployment_status = 'active'"

STATEMENTS = {
    "challenge_deploy_watch": CHALLENGE_DEPLOY_WATCH,
    "challenge_deployment": CHALLENGE_DEPLOYMENT,
    "challenge_deploy_seen": CHALLENGE_DEPLOY_SEEN,
    "challenge_deploy_active": CHALLENGE_DEPLOY_ACTIVE,
    "challenge_deploy_abandoned": CHALLENGE_DEPLOY_ABANDONED,
    "challenge_deploy_abandoned_fence": CHALLENGE_DEPLOY_ABANDONED_FENCE,
    "challenge_redeploy": CHALLENGE_REDEPLOY,
    "challenge_redeploy_fence": CHALLENGE_REDEPLOY_FENCE,
    "challenge_get": CHALLENGE_GET,
    "challenge_page": CHALLENGE_PAGE,
    "challenge_create": CHALLENGE_CREATE,
    "challenge_create_default_chain": CHALLENGE_CREATE_DEFAULT_CHAIN,
    "challenge_bump_participants": CHALLENGE_BUMP_PARTICIPANTS,
    "challenge_delete": CHALLENGE_DELETE,
    "challenge_deployment_totals": CHALLENGE_DEPLOYMENT_TOTALS,
}


async def get(executor: Executor, challenge_id: UUID) -> dict[str, Any]:
    row = await executor.fetchrow(CHALLENGE_GET, challenge_id)
    if row is None:
        raise NotFound("Challenge not found")
    return dict(row)


async def page(executor: Executor, *, active_only: bool, after: keyset.Key | None,
               limit: int) -> list[dict[str, Any]]:
    """Up to `limit` challenges after `after`, newest start first; each row has its key."""
    where = keyset.Conditions().after(_PAGE_AFTER, after)
    if active_only:
        where.where(_PAGE_ACTIVE)
    rows = await executor.fetch(where.statement(CHALLENGE_PAGE), limit, *where.arguments)
    return [dict(row) for row in rows]


async def create(pool: asyncpg.Pool, *, title: str, description: str, start_time: datetime,
                 end_time: datetime, correlation_id: str | None) -> dict[str, Any]:
    """The challenge and its Default chain in one transaction, then wake the deploy lane."""
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(CHALLENGE_CREATE, title, description, start_time,
                                        end_time, correlation_id)
        await connection.execute(CHALLENGE_CREATE_DEFAULT_CHAIN, row["id"])
        await db.notify(connection, DEPLOY.channel)
    return dict(row)


async def bump_participants(connection: asyncpg.Connection, challenge_id: UUID) -> None:
    await connection.execute(CHALLENGE_BUMP_PARTICIPANTS, challenge_id)


async def delete(executor: Executor, challenge_id: UUID) -> list[pending_images.PendingImage]:
    """Delete the challenge with its chains, submissions and likes; returns their images,
    now pending."""
    deleted, pending = await pending_images.delete_with_images(executor, CHALLENGE_DELETE,
                                                               challenge_id)
    if not deleted:
        raise NotFound("Challenge not found")
    return pending


# Every zkApp that takes or holds the operator's receipts, for its trust file: each challenge's
# (even one whose deploy is still pending: it is ours), and the earlier zkApps of redeployed
# challenges, which keep the receipts made before (submissions.receipt_zkapp_address).
CHALLENGE_ZKAPP_ADDRESSES = """
SELECT zkapp_address FROM challenges WHERE zkapp_address IS NOT NULL
UNION
SELECT receipt_zkapp_address FROM submissions WHERE receipt_zkapp_address IS NOT NULL"""


async def zkapp_addresses(executor: Executor) -> list[str]:
    return sorted(row[0] for row in await executor.fetch(CHALLENGE_ZKAPP_ADDRESSES))


async def deployment_totals(executor: Executor) -> dict[str, int]:
    rows = await executor.fetch(CHALLENGE_DEPLOYMENT_TOTALS)
    return {row["deployment_status"]: row["total"] for row in rows}


@dataclass(frozen=True)
class WatchedDeploy:
    """A sent zkApp deploy, as the monitor follows it (challenge_deploy_watch)."""

    id: UUID
    zkapp_address: str | None
    transaction_hash: str | None
    transaction_submitted_block_height: int | None  # the abandon timer's start (a tip height)


async def deploy_watch(executor: Executor, limit: int = 100) -> list[WatchedDeploy]:
    return [WatchedDeploy(
        id=row["id"], zkapp_address=row["zkapp_address"], transaction_hash=row["transaction_hash"],
        transaction_submitted_block_height=row["transaction_submitted_block_height"],
    ) for row in await executor.fetch(CHALLENGE_DEPLOY_WATCH, limit)]


@dataclass(frozen=True)
class Deployment:
    """Where a challenge's receipts go, as the publisher needs it (challenge_deployment)."""

    status: DeploymentStatus
    zkapp_address: str | None
    zkapp_token_id: str | None
    verification_key_hash: str | None  # the contract build; None: before migration 0010
    failure_reason: str | None = None  # the last deploy attempt's, when it failed

    @property
    def active(self) -> bool:
        return self.status is DeploymentStatus.ACTIVE and bool(self.zkapp_address)

    @property
    def takes_uploads(self) -> bool:
        """As the API decides an upload (statuses.UPLOADABLE, with an address)."""
        return self.status in UPLOADABLE and bool(self.zkapp_address)

    def outdated(self, current_hash: str | None) -> bool:
        """An active zkApp of another contract build than the publisher's (None: no check)."""
        return self.active and current_hash is not None and \
            self.verification_key_hash != current_hash


async def deployment(executor: Executor, challenge_id: UUID) -> Deployment:
    row = await executor.fetchrow(CHALLENGE_DEPLOYMENT, challenge_id)
    if row is None:
        raise NotFound("Challenge not found")
    return Deployment(DeploymentStatus(row["deployment_status"]), row["zkapp_address"],
                      row["zkapp_token_id"], row["zkapp_verification_key_hash"],
                      row["failure_reason"])


async def deploy_seen(executor: Executor, challenge_id: UUID, tx_hash: str, height: int) -> None:
    await executor.execute(CHALLENGE_DEPLOY_SEEN, challenge_id, tx_hash, height)


async def deploy_active(executor: Executor, challenge_id: UUID, tx_hash: str) -> bool:
    return bool(await executor.execute(CHALLENGE_DEPLOY_ACTIVE, challenge_id, tx_hash) == "UPDATE 1")


async def redeploy(pool: asyncpg.Pool, challenge_id: UUID, zkapp_address: str,
                   reason: str) -> bool:
    return await engine.requeue(pool, DEPLOY, challenge_id, reason=reason, by="publish",
                                also=CHALLENGE_REDEPLOY, where=CHALLENGE_REDEPLOY_FENCE,
                                args=(zkapp_address,))


async def deploy_abandoned(pool: asyncpg.Pool, challenge_id: UUID, tx_hash: str,
                           reason: str) -> bool:
    return await engine.requeue(pool, DEPLOY, challenge_id, reason=reason, by="monitor",
                                also=CHALLENGE_DEPLOY_ABANDONED,
                                where=CHALLENGE_DEPLOY_ABANDONED_FENCE, args=(tx_hash,))
