"""Images and the rows that refer to them, kept in step: no row without its image, no image
without its row, whatever fails in between.

Three rules do it (the SQL is in store/pending_images.py):

- Every object that may lack a row is written down in `pending_images` first: an upload
  records its key before writing the object, a delete records its rows' keys in the statement
  that deletes them. An entry is cleared only once the row and the object agree.
- An upload inserts its row, and a removal deletes an object, only while holding the key's
  lock, after looking again: the upload puts the object back if a removal took it meanwhile,
  the removal keeps the object if a row refers to it.
- `sweep` settles entries older than `SWEEP_GRACE_S` (what a crash or an outage left): the
  object goes unless a row refers to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import weakref
from collections.abc import Iterable
from typing import Any

import asyncpg

from touchgrass import logs
from touchgrass.errors import ObjectNotFound, StorageError
from touchgrass.images.base import Storage
from touchgrass.store import pending_images, submissions
from touchgrass.store.pending_images import PendingImage

__all__ = ["SWEEP_GRACE_S", "holds", "release", "store_with_row", "sweep"]

log = logs.get_logger(__name__)

# An upload's entry is cleared within a second or two of being written; anything this old
# was left by a crash or an outage (IMAGE_SWEEP_GRACE_S overrides it in the API).
SWEEP_GRACE_S = 15 * 60.0
SWEEP_BATCH = 100


async def holds(storage: Storage, key: str, sha256_hex: str, size: int) -> bool:
    """Whether `key` holds exactly these bytes: the size, then the content's hash (a
    truncated or foreign object under the key must be rewritten, not trusted)."""
    info = await storage.stat(key)
    if info is None or info.size != size:
        return False
    digest = hashlib.sha256()
    try:
        async for chunk in storage.stream(key):
            digest.update(chunk)
    except ObjectNotFound:
        return False  # removed since the stat (a delete of the same bytes): write it again
    return digest.hexdigest() == sha256_hex


async def store_with_row(pool: asyncpg.Pool, storage: Storage, new: submissions.NewSubmission,
                         image: bytes, content_type: str) -> dict[str, Any]:
    """Store the upload's image and insert its row; Conflict when a racing upload of the same
    bytes inserted first (its row keeps the image)."""
    key = new.storage_key
    pending = await pending_images.add(pool, key)
    # Content-addressed: the bytes may be there already (an earlier upload, since deleted).
    if not await holds(storage, key, new.sha256_hex, len(image)):
        await storage.put(key, image, content_type)
    try:
        async with pool.acquire() as connection, connection.transaction():
            await pending_images.lock(connection, key)
            info = await storage.stat(key)
            if info is None or info.size != len(image):
                # A removal of the same bytes (a deleted row) took the lock first.
                await storage.put(key, image, content_type)
            row = await submissions.create(connection, new)
            await pending_images.remove(connection, pending)
    except Exception:
        # A racing upload of the same bytes won (Conflict: its row keeps the image), or the
        # insert failed: settle now if the database lets us, else the sweep will.
        with contextlib.suppress(Exception):
            await release(pool, storage, [PendingImage(pending, key)])
        raise
    return row


async def _settle(connection: asyncpg.Connection, storage: Storage, entry: PendingImage) -> bool:
    """Inside a transaction: delete the object unless a row refers to it, clear the entry.
    True when the object was deleted."""
    await pending_images.lock(connection, entry.storage_key)
    referenced = await submissions.image_referenced(connection, entry.storage_key)
    # Looking first spares the delete (a write) for an upload whose write never happened.
    removed = not referenced and await storage.stat(entry.storage_key) is not None
    if removed:
        await storage.delete(entry.storage_key)
    await pending_images.remove(connection, entry.id)
    return removed


# Settles at once in this process (release); the sweep is one more.
SETTLE_CONCURRENCY = 2
_SETTLING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
    weakref.WeakKeyDictionary()


def _settle_slots() -> asyncio.Semaphore:
    """This event loop's settle slots (a semaphore belongs to one loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _SETTLING:
        _SETTLING[loop] = asyncio.Semaphore(SETTLE_CONCURRENCY)
    return _SETTLING[loop]


async def release(pool: asyncpg.Pool, storage: Storage, entries: Iterable[PendingImage]) -> None:
    """Settle the images of rows just deleted. Best effort: the rows are gone already, so a
    storage failure is logged and left to the sweep (the entry stays), never answered."""
    for entry in entries:
        try:
            # A settle holds a database connection while storage answers (the image's lock
            # lives in its transaction): a few at a time, so deletes during a storage outage
            # cannot take the whole pool from the routes that need only the database.
            async with _settle_slots(), pool.acquire() as connection, \
                    connection.transaction():
                await _settle(connection, storage, entry)
        except StorageError as error:
            log.warning("storage", "could not remove %s (the sweep retries): %s",
                        entry.storage_key, error)


async def sweep(pool: asyncpg.Pool, storage: Storage, *, older_than_s: float = SWEEP_GRACE_S,
                batch: int = SWEEP_BATCH) -> int:
    """Settle entries older than `older_than_s`; returns how many objects were deleted."""
    deleted = 0
    while True:
        async with pool.acquire() as connection, connection.transaction():
            entries = await pending_images.stale(connection, older_than_s=older_than_s,
                                                 limit=batch)
            for entry in entries:
                deleted += await _settle(connection, storage, entry)
        if len(entries) < batch:
            break
    if deleted:
        log.info("sweep", "removed %d image(s) no row refers to", deleted, removed=deleted)
    leftovers = getattr(storage, "remove_stale_temporary", None)
    if leftovers is not None and (temporary := await leftovers(older_than_s)):
        log.info("sweep", "removed %d temporary file(s) of failed writes", temporary)
    return deleted
