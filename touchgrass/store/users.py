"""The `users` table: wallet addresses that uploaded or liked something."""

from __future__ import annotations

from typing import Any

from touchgrass.db import Executor
from touchgrass.errors import NotFound
from touchgrass.store import pending_images

__all__ = ["delete", "find_or_create", "get"]


# -- name: user_get
USER_GET = "SELECT wallet_address, created_at, updated_at FROM users WHERE wallet_address = $1"

# -- name: user_find_or_create
# Race-free: concurrent first requests for one wallet all land on the same row. DO UPDATE
# (a no-op write) instead of DO NOTHING so RETURNING always yields the row; xmax = 0 only
# on a row this statement inserted, which is how the caller tells 201 from 200.
USER_FIND_OR_CREATE = """
INSERT INTO users (wallet_address) VALUES ($1)
ON CONFLICT (wallet_address) DO UPDATE SET wallet_address = EXCLUDED.wallet_address
RETURNING wallet_address, created_at, updated_at, (xmax = 0) AS created
"""

# -- name: user_delete
# Cascades to the user's submissions and likes (foreign keys); each deleted submission's
# image is recorded as pending by a trigger (store/pending_images.py).
USER_DELETE = "DELETE FROM users WHERE wallet_address = $1 RETURNING wallet_address"

STATEMENTS = {"user_get": USER_GET, "user_find_or_create": USER_FIND_OR_CREATE,
              "user_delete": USER_DELETE}


async def get(executor: Executor, wallet_address: str) -> dict[str, Any]:
    row = await executor.fetchrow(USER_GET, wallet_address)
    if row is None:
        raise NotFound("User not found")
    return dict(row)


async def find_or_create(executor: Executor, wallet_address: str) -> tuple[dict[str, Any], bool]:
    """(user, created)."""
    row = dict(await executor.fetchrow(USER_FIND_OR_CREATE, wallet_address))
    return row, row.pop("created")


async def delete(executor: Executor, wallet_address: str) -> list[pending_images.PendingImage]:
    """Delete the user and everything of theirs; returns their images, now pending."""
    deleted, pending = await pending_images.delete_with_images(executor, USER_DELETE,
                                                               wallet_address)
    if not deleted:
        raise NotFound("User not found")
    return pending
