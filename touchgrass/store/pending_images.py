"""The `pending_images` table and the per-image lock: what keeps rows and stored images in step.

Images are content-addressed (`images/<sha256>`), so an upload of bytes that were just deleted
writes the same key the delete removes. Both decide under one lock per key, a transaction-level
advisory lock, held only for short transactions that make no storage call (migration 0013):

- a removal, under the lock, checks that no row refers to the key, then marks its entry
  (`removing_since`) and flags every upload entry of the key (`object_taken`); it deletes the
  object with no lock held, and clears its entry after;
- an upload, under the lock, inserts its row only when no fresh mark is on the key and its
  own entry is not flagged; otherwise it waits for the removal, or writes the object again.

So a row is committed only when its object was written after the last removal of the key.
"""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

import asyncpg

from touchgrass.db import Executor

__all__ = ["STATEMENTS", "PendingImage", "add_upload", "delete_with_images", "lock",
           "mark_removal", "removal_in_flight", "remove", "stale", "unmark_removal", "untake"]


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

# A removal's mark counts for this long (seconds, $2): enough for its stat and delete, each
# bounded by the storage's own timeout. A mark older than this was left by a removal that
# died; the sweep settles its entry again.
def _removal_in_flight(lease: str) -> str:
    """The condition "a removal is marked and its mark is fresh"; `lease` is a placeholder."""
    return f"removing_since > now() - make_interval(secs => {lease})"

# -- name: image_pending_add_upload
# Written before the object, under the key's lock, so a crash at any later point leaves the
# key here for the sweep. A removal already marked may still delete the object this upload
# is about to write: the entry starts flagged then. (A deleted row's entry is written by the
# `submissions_image_pending` trigger, migration 0012.)
IMAGE_PENDING_ADD_UPLOAD = f"""
INSERT INTO pending_images (storage_key, upload, object_taken)
VALUES ($1, true, EXISTS (SELECT 1 FROM pending_images
                          WHERE storage_key = $1 AND {_removal_in_flight("$2")}))
RETURNING id
"""

# -- name: image_removal_in_flight
# Under the key's lock: an upload does not insert its row while a removal of the key may
# still delete the object.
IMAGE_REMOVAL_IN_FLIGHT = f"""
SELECT EXISTS (SELECT 1 FROM pending_images WHERE storage_key = $1 AND {_removal_in_flight("$2")})
"""

# -- name: image_upload_untake
# Under the key's lock: was the upload's object taken by a removal since it was written?
# Clears the flag as it answers (the upload writes the object again, then looks again).
IMAGE_UPLOAD_UNTAKE = """
UPDATE pending_images p SET object_taken = false
FROM (SELECT id, object_taken FROM pending_images WHERE id = $1) AS before
WHERE p.id = before.id
RETURNING before.object_taken
"""

# -- name: image_removal_mark
# Under the key's lock, once no row refers to the key: this removal is about to delete the
# object. No row back: the entry was settled meanwhile by another process, which owns the
# removal, so this one must not delete anything.
IMAGE_REMOVAL_MARK = "UPDATE pending_images SET removing_since = now() WHERE id = $1 RETURNING id"

# -- name: image_uploads_flag
# With the mark: every upload of the key must write its object again before its row.
IMAGE_UPLOADS_FLAG = """
UPDATE pending_images SET object_taken = true WHERE storage_key = $1 AND upload
"""

# -- name: image_removal_unmark
# A removal whose storage call failed: its entry stays for the sweep, and uploads need not
# wait for it.
IMAGE_REMOVAL_UNMARK = "UPDATE pending_images SET removing_since = NULL WHERE id = $1"

# -- name: image_pending_remove
IMAGE_PENDING_REMOVE = "DELETE FROM pending_images WHERE id = $1"

# -- name: image_pending_stale
# Entries older than the grace period (an upload in progress is younger), but not one whose
# removal is under way. No row lock: each entry is settled in transactions of its own, and two
# processes settling one entry at once do the same harmless thing twice.
IMAGE_PENDING_STALE = f"""
SELECT id, storage_key FROM pending_images
WHERE created_at < now() - make_interval(secs => $1)
  AND NOT coalesce({_removal_in_flight("$3")}, false)  -- being settled now
ORDER BY created_at
LIMIT $2
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
    "image_pending_add_upload": IMAGE_PENDING_ADD_UPLOAD,
    "image_removal_in_flight": IMAGE_REMOVAL_IN_FLIGHT,
    "image_upload_untake": IMAGE_UPLOAD_UNTAKE,
    "image_removal_mark": IMAGE_REMOVAL_MARK,
    "image_uploads_flag": IMAGE_UPLOADS_FLAG,
    "image_removal_unmark": IMAGE_REMOVAL_UNMARK,
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


async def add_upload(connection: asyncpg.Connection, storage_key: str, *,
                     removal_lease_s: float) -> UUID:
    """An upload's entry, under the key's lock (the caller's transaction holds it)."""
    pending_id: UUID = await connection.fetchval(IMAGE_PENDING_ADD_UPLOAD, storage_key,
                                                 removal_lease_s)
    return pending_id


async def removal_in_flight(connection: asyncpg.Connection, storage_key: str, *,
                            removal_lease_s: float) -> bool:
    return bool(await connection.fetchval(IMAGE_REMOVAL_IN_FLIGHT, storage_key,
                                          removal_lease_s))


async def untake(connection: asyncpg.Connection, pending_id: UUID) -> bool | None:
    """Whether a removal may have taken the upload's object since it was written (clearing
    the flag), or None when the entry itself was settled (a sweep took the upload for dead)."""
    taken: bool | None = await connection.fetchval(IMAGE_UPLOAD_UNTAKE, pending_id)
    return taken


async def mark_removal(connection: asyncpg.Connection, entry: PendingImage) -> bool:
    """Under the key's lock: mark the removal and flag the key's uploads; False when the entry
    is gone (another process settled it)."""
    if await connection.fetchval(IMAGE_REMOVAL_MARK, entry.id) is None:
        return False
    await connection.execute(IMAGE_UPLOADS_FLAG, entry.storage_key)
    return True


async def unmark_removal(executor: Executor, pending_id: UUID) -> None:
    await executor.execute(IMAGE_REMOVAL_UNMARK, pending_id)


async def remove(executor: Executor, pending_id: UUID) -> None:
    await executor.execute(IMAGE_PENDING_REMOVE, pending_id)


async def stale(executor: Executor, *, older_than_s: float, limit: int,
                removal_lease_s: float) -> list[PendingImage]:
    return _entries(await executor.fetch(IMAGE_PENDING_STALE, older_than_s, limit,
                                         removal_lease_s))


def _entries(rows: list[asyncpg.Record]) -> list[PendingImage]:
    return [PendingImage(row["id"], row["storage_key"]) for row in rows]
