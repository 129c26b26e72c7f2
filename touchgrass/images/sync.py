"""Images and the rows that refer to them, kept in step: no row without its image, no image
without its row, whatever fails in between, and no database connection held while storage
answers (a frozen S3 must not take the pool from routes that need only the database).

Three rules do it (the SQL and the lock protocol are in store/pending_images.py):

- Every object that may lack a row is written down in `pending_images` first: an upload
  records its key before writing the object, a delete records its rows' keys in the statement
  that deletes them. An entry is cleared only once the row and the object agree.
- A removal decides under the key's lock that no row refers to the key and marks itself, then
  deletes the object with no lock held. An upload inserts its row under the lock only when no
  removal is marked on the key and none has flagged its entry since it wrote the object;
  otherwise it waits, or writes the object again.
- `sweep` settles entries older than `SWEEP_GRACE_S` (what a crash or an outage left): the
  object goes unless a row refers to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Iterable
from typing import Any
from uuid import UUID

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


# How long a removal's mark holds uploads of its key back: its stat and delete each end
# within the storage's timeout (MINIO_TIMEOUT_S, 10 s by default). A mark older than this is
# a removal that died, which the sweep settles again.
REMOVAL_LEASE_S = 60.0
# How often an upload looks again while a removal of its key is under way.
REMOVAL_POLL_S = 0.05
# Rewrites an upload makes before giving up (each one follows a whole removal of its key).
MAX_REWRITES = 5


async def store_with_row(pool: asyncpg.Pool, storage: Storage, new: submissions.NewSubmission,
                         image: bytes, content_type: str) -> dict[str, Any]:
    """Store the upload's image and insert its row; Conflict when a racing upload of the same
    bytes inserted first (its row keeps the image)."""
    key = new.storage_key
    pending = await _add_upload(pool, key)
    try:
        # Content-addressed: the bytes may be there already (an earlier upload, since deleted).
        if not await holds(storage, key, new.sha256_hex, len(image)):
            await storage.put(key, image, content_type)
        rewrites = 0
        taken: bool | None
        waited_since = asyncio.get_running_loop().time()
        while True:
            async with pool.acquire() as connection, connection.transaction():
                await pending_images.lock(connection, key)
                if await pending_images.removal_in_flight(connection, key,
                                                          removal_lease_s=REMOVAL_LEASE_S):
                    taken = None  # wait for it (below), then look again
                else:
                    taken = await pending_images.untake(connection, pending)
                    if taken is None:  # a sweep took this upload for dead: start over
                        pending = await pending_images.add_upload(
                            connection, key, removal_lease_s=REMOVAL_LEASE_S)
                        taken = True
                    if not taken:
                        row = await submissions.create(connection, new)
                        await pending_images.remove(connection, pending)
                        return row
            if taken is None:
                if asyncio.get_running_loop().time() - waited_since > REMOVAL_LEASE_S:
                    raise StorageError(f"{key} is being removed and the removal does not end")
                await asyncio.sleep(REMOVAL_POLL_S)
                continue
            rewrites += 1
            if rewrites > MAX_REWRITES:
                raise StorageError(f"{key} was removed {MAX_REWRITES} times while uploaded")
            await storage.put(key, image, content_type)  # a removal of these bytes took it
    except StorageError:
        raise  # settling needs storage too: the entry is left to the sweep
    except BaseException:
        # A racing upload of the same bytes won (Conflict: its row keeps the image), or the
        # insert failed: settle now if the database lets us, else the sweep will.
        with contextlib.suppress(Exception):
            await release(pool, storage, [PendingImage(pending, key)])
        raise


async def _add_upload(pool: asyncpg.Pool, key: str) -> UUID:
    async with pool.acquire() as connection, connection.transaction():
        await pending_images.lock(connection, key)
        return await pending_images.add_upload(connection, key, removal_lease_s=REMOVAL_LEASE_S)


async def _settle(pool: asyncpg.Pool, storage: Storage, entry: PendingImage) -> bool:
    """Delete the object unless a row refers to it, and clear the entry; True when the object
    was deleted. Storage is called with no connection held (see the module's rules)."""
    async with pool.acquire() as connection, connection.transaction():
        await pending_images.lock(connection, entry.storage_key)
        if await submissions.image_referenced(connection, entry.storage_key):
            await pending_images.remove(connection, entry.id)
            return False
        if not await pending_images.mark_removal(connection, entry):
            return False  # settled meanwhile by another process
    try:
        # Looking first spares the delete (a write) for an upload whose write never happened.
        removed = await storage.stat(entry.storage_key) is not None
        if removed:
            await storage.delete(entry.storage_key)
    except BaseException:
        # The entry stays for the sweep; uploads of the key need not wait for the lease.
        with contextlib.suppress(Exception):
            await pending_images.unmark_removal(pool, entry.id)
        raise
    async with pool.acquire() as connection, connection.transaction():
        await pending_images.remove(connection, entry.id)
        # Uploads wait for a fresh mark, so no row can refer to the key here unless this
        # removal outlived REMOVAL_LEASE_S (a process paused mid-removal): then an image was
        # lost, and an operator must hear of it.
        if removed and await submissions.image_referenced(connection, entry.storage_key):
            log.error("storage", "%s was removed while a row refers to it: the removal took "
                      "over %g s; the photo's image is lost", entry.storage_key,
                      REMOVAL_LEASE_S, key=entry.storage_key)
    return removed


async def release(pool: asyncpg.Pool, storage: Storage, entries: Iterable[PendingImage]) -> None:
    """Settle the images of rows just deleted. Best effort: the rows are gone already, so a
    storage failure is logged and left to the sweep (the entry stays), never answered."""
    for entry in entries:
        try:
            await _settle(pool, storage, entry)
        except StorageError as error:
            log.warning("storage", "could not remove %s (the sweep retries): %s",
                        entry.storage_key, error)


async def sweep(pool: asyncpg.Pool, storage: Storage, *, older_than_s: float = SWEEP_GRACE_S,
                batch: int = SWEEP_BATCH) -> int:
    """Settle entries older than `older_than_s`; returns how many objects were deleted."""
    deleted = 0
    while True:
        entries = await pending_images.stale(pool, older_than_s=older_than_s, limit=batch,
                                             removal_lease_s=REMOVAL_LEASE_S)
        for entry in entries:
            deleted += await _settle(pool, storage, entry)
        if len(entries) < batch:
            break
    if deleted:
        log.info("sweep", "removed %d image(s) no row refers to", deleted, removed=deleted)
    leftovers = getattr(storage, "remove_stale_temporary", None)
    if leftovers is not None and (temporary := await leftovers(older_than_s)):
        log.info("sweep", "removed %d temporary file(s) of failed writes", temporary)
    return deleted
