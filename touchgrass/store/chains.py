"""The `chains` table: ordered sequences of submissions within a challenge."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from touchgrass.db import Executor
from touchgrass.errors import NotFound
from touchgrass.store import keyset

__all__ = ["get", "page", "take_next_position"]


_COLUMNS = "id, name, challenge_id, length, created_at, last_activity_at, updated_at"

# -- name: chain_get
CHAIN_GET = f"SELECT {_COLUMNS} FROM chains WHERE id = $1"

# -- name: chain_page
# GET /api/chains, oldest first, a page at a time ({where} is composed by `page`, see
# store/keyset.py); chains_list_order, or chains_list_by_challenge when filtered.
CHAIN_PAGE = f"""
SELECT created_at AS key_at, id AS key_id, {_COLUMNS} FROM chains
WHERE {{where}}
ORDER BY created_at, id
LIMIT $1
"""
_PAGE_AFTER = "(created_at, id) > ($?, $?)"
_PAGE_CHALLENGE = "challenge_id = $?"

# -- name: chain_take_next_position
# The chain row lock serialises uploads to one chain: the UPDATE waits for any other upload's
# transaction on this chain, so positions are 1..n with no gap or repeat (and the UNIQUE
# (chain_id, chain_position) constraint would turn a bug into an error, not a duplicate).
CHAIN_TAKE_NEXT_POSITION = """
UPDATE chains SET length = length + 1, last_activity_at = now(), updated_at = now()
WHERE id = $1
RETURNING length
"""

STATEMENTS = {"chain_get": CHAIN_GET, "chain_page": CHAIN_PAGE,
              "chain_take_next_position": CHAIN_TAKE_NEXT_POSITION}


async def get(executor: Executor, chain_id: UUID) -> dict[str, Any]:
    row = await executor.fetchrow(CHAIN_GET, chain_id)
    if row is None:
        raise NotFound("Chain not found")
    return dict(row)


async def page(executor: Executor, challenge_id: UUID | None, *, after: keyset.Key | None,
               limit: int) -> list[dict[str, Any]]:
    """Up to `limit` chains after `after`, oldest first; each row has its key."""
    where = keyset.Conditions().after(_PAGE_AFTER, after)
    if challenge_id is not None:
        where.where(_PAGE_CHALLENGE, challenge_id)
    rows = await executor.fetch(where.statement(CHAIN_PAGE), limit, *where.arguments)
    return [dict(row) for row in rows]


async def take_next_position(connection: asyncpg.Connection, chain_id: UUID) -> int:
    """Inside the upload's transaction: lock the chain and return the new position."""
    position = await connection.fetchval(CHAIN_TAKE_NEXT_POSITION, chain_id)
    if position is None:
        raise NotFound("Chain not found")
    return int(position)
