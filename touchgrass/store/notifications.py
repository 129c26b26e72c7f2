"""The `notifications` table: a submission's Telegram announcement, queued for `touchgrass notify`."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from touchgrass import db
from touchgrass.db import Executor
from touchgrass.queue.stages import NOTIFY

__all__ = ["Announcement", "STATEMENTS", "announcement", "queue"]

# -- name: notification_queue
# With the submission's insert, in its transaction: the unique submission_id makes a second
# announcement of the same photo impossible, whatever is retried.
NOTIFICATION_QUEUE = """
INSERT INTO notifications (submission_id, correlation_id) VALUES ($1, $2)
ON CONFLICT (submission_id) DO NOTHING
"""

# -- name: notification_announcement
# What the message says: the photo, its challenge's title and its chain's name. No row: the
# submission was deleted meanwhile (its notification goes with it, by cascade).
NOTIFICATION_ANNOUNCEMENT = """
SELECT s.id, s.chain_id, s.wallet_address, s.tagline, c.title AS challenge_title,
       ch.name AS chain_name
FROM submissions s
JOIN challenges c ON c.id = s.challenge_id
JOIN chains ch ON ch.id = s.chain_id
WHERE s.id = $1
"""

STATEMENTS = {
    "notification_queue": NOTIFICATION_QUEUE,
    "notification_announcement": NOTIFICATION_ANNOUNCEMENT,
}


@dataclass(frozen=True)
class Announcement:
    """The facts of one new submission, as the channel is told them."""

    submission_id: UUID
    chain_id: UUID
    wallet_address: str
    tagline: str | None
    challenge_title: str
    chain_name: str


async def queue(connection: asyncpg.Connection, submission_id: UUID,
                correlation_id: str | None) -> None:
    """Queue the announcement inside the caller's transaction; `touchgrass notify` wakes at
    commit."""
    await connection.execute(NOTIFICATION_QUEUE, submission_id, correlation_id)
    await db.notify(connection, NOTIFY.channel)


async def announcement(executor: Executor, submission_id: UUID) -> Announcement | None:
    row = await executor.fetchrow(NOTIFICATION_ANNOUNCEMENT, submission_id)
    if row is None:
        return None
    return Announcement(row["id"], row["chain_id"], row["wallet_address"], row["tagline"],
                        row["challenge_title"], row["chain_name"])
