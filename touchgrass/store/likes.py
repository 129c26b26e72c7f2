"""The `likes` table: one like per wallet per submission."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from touchgrass.db import Executor
from touchgrass.errors import Conflict, NotFound
from touchgrass.store import keyset

__all__ = ["count", "create", "delete", "page"]


# -- name: like_create
# The unique (submission_id, wallet_address) index turns a second like into a conflict.
LIKE_CREATE = """
INSERT INTO likes (submission_id, wallet_address) VALUES ($1, $2)
RETURNING id, submission_id, wallet_address, created_at, updated_at
"""

# -- name: like_page
# A submission's likes, newest first, a page at a time ({where} is composed by `page`, see
# store/keyset.py); likes_list_order.
LIKE_PAGE = """
SELECT created_at AS key_at, id AS key_id, id, submission_id, wallet_address, created_at,
       updated_at
FROM likes
WHERE {where}
ORDER BY created_at DESC, id DESC
LIMIT $1
"""
_PAGE_SUBMISSION = "submission_id = $?"
_PAGE_AFTER = "(created_at, id) < ($?, $?)"

# -- name: like_count
LIKE_COUNT = "SELECT count(*) FROM likes WHERE submission_id = $1"

# -- name: like_delete
LIKE_DELETE = "DELETE FROM likes WHERE submission_id = $1 AND wallet_address = $2"

STATEMENTS = {"like_create": LIKE_CREATE, "like_page": LIKE_PAGE, "like_count": LIKE_COUNT,
              "like_delete": LIKE_DELETE}


async def create(executor: Executor, submission_id: UUID, wallet_address: str) -> dict[str, Any]:
    try:
        return dict(await executor.fetchrow(LIKE_CREATE, submission_id, wallet_address))
    except asyncpg.UniqueViolationError:
        raise Conflict("You have already liked this submission") from None
    except asyncpg.ForeignKeyViolationError:  # deleted between the check and the insert
        raise NotFound("Submission not found") from None


async def page(executor: Executor, submission_id: UUID, *, after: keyset.Key | None,
               limit: int) -> list[dict[str, Any]]:
    """Up to `limit` likes of a submission after `after`, newest first; rows carry their key."""
    where = keyset.Conditions().where(_PAGE_SUBMISSION, submission_id).after(_PAGE_AFTER, after)
    rows = await executor.fetch(where.statement(LIKE_PAGE), limit, *where.arguments)
    return [dict(row) for row in rows]


async def count(executor: Executor, submission_id: UUID) -> int:
    return int(await executor.fetchval(LIKE_COUNT, submission_id))


async def delete(executor: Executor, submission_id: UUID, wallet_address: str) -> None:
    if await executor.execute(LIKE_DELETE, submission_id, wallet_address) == "DELETE 0":
        raise NotFound("Like not found")
