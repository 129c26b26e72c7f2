"""The `pending_images` table and the per-image lock: what keeps rows and stored images in step.

Images are content-addressed (`images/<sha256>`), so an upload of bytes that were just deleted
writes the same key the delete removes. Both decide under one lock per key, a transaction-level
advisory lock: the upload holds it while it makes sure the object is there and inserts its
row, a removal while it checks that no row refers to the key and deletes the object. Whichever
comes second sees what the first did.
"""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

import asyncpg

from touchgrass.db import Executor

__all__ = ["STATEMENTS", "PendingImage", "add", "delete_with_images", "lock", "remove", "stale"]


class PendingImage(NamedTuple):
    """An image that may have lost its last row: settled by `touchgrass.images`."""

    id: UUID
    storage_key: str


# The advisory-lock space of image keys: the first half of the two-key form, so these locks
# cannot collide with any other advisory lock the database's users take.
IMAGE_LOCK_SPACE = 0x7467  # "tg"

# -- name: image_lock
# Held until the transaction ends; hashtext collisions only make two keys wait for each other.
IMAGE_LOCK = "SELECT pg_advisory_xact_lock($1, hashtext($2))"

# -- name: image_pending_add
# Written before the object (upload) or with the delete of the rows (removal), so a crash
# at any later point leaves the key here for the sweep.
IMAGE_PENDING_ADD = "INSERT INTO pending_images (storage_key) VALUES ($1) RETURNING id"

# -- name: image_pending_remove
IMAGE_PENDING_REMOVE = "DELETE FROM pending_images WHERE id = $1"

# -- name: image_pending_stale
# Entries older than the grace period (an upload in progress is younger). SKIP LOCKED: two
# API processes sweeping at once split the entries instead of waiting for each other.
IMAGE_PENDING_STALE = """
SELECT id, storage_key FROM pending_images
WHERE created_at < now() - make_interval(secs => $1)
ORDER BY created_at
LIMIT $2
FOR UPDATE SKIP LOCKED
"""

# -- name: image_pending_of_transaction
# The entries this transaction made: a deleted submission's image is recorded by the
# `submissions_image_pending` trigger (migration 0012) for every row a delete removes,
# cascades from a user or a challenge included, even rows committed after the statement began.
IMAGE_PENDING_OF_TRANSACTION = """
SELECT id, storage_key FROM pending_images WHERE created_txid = txid_current()
"""

STATEMENTS = {
    "image_lock": IMAGE_LOCK,
    "image_pending_of_transaction": IMAGE_PENDING_OF_TRANSACTION,
    "image_pending_add": IMAGE_PENDING_ADD,
    "image_pending_remove": IMAGE_PENDING_REMOVE,
    "image_pending_stale": IMAGE_PENDING_STALE,
}


async def delete_with_images(executor: Executor, statement: str, *args: object
                             ) -> tuple[int, list[PendingImage]]:
    """Run a delete statement (RETURNING a line per row it deleted) and read back, in the same
    transaction, the images it left pending: (rows deleted, images for the caller to settle)."""
    if isinstance(executor, asyncpg.Pool):
        async with executor.acquire() as connection:
            return await delete_with_images(connection, statement, *args)
    async with executor.transaction():
        deleted = len(await executor.fetch(statement, *args))
        rows = await executor.fetch(IMAGE_PENDING_OF_TRANSACTION)
    return deleted, _entries(rows)


async def lock(connection: asyncpg.Connection, storage_key: str) -> None:
    """Take the key's lock for the rest of the caller's transaction."""
    await connection.execute(IMAGE_LOCK, IMAGE_LOCK_SPACE, storage_key)


async def add(executor: Executor, storage_key: str) -> UUID:
    pending_id: UUID = await executor.fetchval(IMAGE_PENDING_ADD, storage_key)
    return pending_id


async def remove(executor: Executor, pending_id: UUID) -> None:
    await executor.execute(IMAGE_PENDING_REMOVE, pending_id)


async def stale(connection: asyncpg.Connection, *, older_than_s: float,
                limit: int) -> list[PendingImage]:
    """Locks the returned entries for the caller's transaction."""
    return _entries(await connection.fetch(IMAGE_PENDING_STALE, older_than_s, limit))


def _entries(rows: list[asyncpg.Record]) -> list[PendingImage]:
    return [PendingImage(row["id"], row["storage_key"]) for row in rows]
