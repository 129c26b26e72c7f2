"""The `likes` table: one like per wallet per submission."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from touchgrass.errors import Conflict, NotFound

__all__ = ["count", "create", "delete", "list_likes"]

Executor = asyncpg.Pool | asyncpg.Connection

# -- name: like_create
# The unique (submission_id, wallet_address) index turns a second like into a conflict.
LIKE_CREATE = """
INSERT INTO likes (submission_id, wallet_address) VALUES ($1, $2)
RETURNING id, submission_id, wallet_address, created_at, updated_at
"""

# -- name: like_list (newest first)
LIKE_LIST = """
SELECT id, submission_id, wallet_address, created_at, updated_at
FROM likes WHERE submission_id = $1 ORDER BY created_at DESC, id
"""

# -- name: like_count
LIKE_COUNT = "SELECT count(*) FROM likes WHERE submission_id = $1"

# -- name: like_delete
LIKE_DELETE = "DELETE FROM likes WHERE submission_id = $1 AND wallet_address = $2"

STATEMENTS = {"like_create": LIKE_CREATE, "like_list": LIKE_LIST, "like_count": LIKE_COUNT,
              "like_delete": LIKE_DELETE}


async def create(executor: Executor, submission_id: UUID, wallet_address: str) -> dict[str, Any]:
    try:
        return dict(await executor.fetchrow(LIKE_CREATE, submission_id, wallet_address))
    except asyncpg.UniqueViolationError:
        raise Conflict("You have already liked this submission") from None
    except asyncpg.ForeignKeyViolationError:  # deleted between the check and the insert
        raise NotFound("Submission not found") from None


async def list_likes(executor: Executor, submission_id: UUID) -> list[dict[str, Any]]:
    return [dict(row) for row in await executor.fetch(LIKE_LIST, submission_id)]


async def count(executor: Executor, submission_id: UUID) -> int:
    return int(await executor.fetchval(LIKE_COUNT, submission_id))


async def delete(executor: Executor, submission_id: UUID, wallet_address: str) -> None:
    if await executor.execute(LIKE_DELETE, submission_id, wallet_address) == "DELETE 0":
        raise NotFound("Like not found")
