"""The `chains` table: ordered sequences of submissions within a challenge."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from touchgrass.errors import NotFound

__all__ = ["get", "list_chains", "take_next_position"]

Executor = asyncpg.Pool | asyncpg.Connection

_COLUMNS = "id, name, challenge_id, length, created_at, last_activity_at, updated_at"

# -- name: chain_get
CHAIN_GET = f"SELECT {_COLUMNS} FROM chains WHERE id = $1"

# -- name: chain_list (created_at ascending; served by chains_challenge_id when filtered)
CHAIN_LIST = f"""
SELECT {_COLUMNS} FROM chains
WHERE ($1::uuid IS NULL OR challenge_id = $1)
ORDER BY created_at, id
"""

# -- name: chain_take_next_position
# The chain row lock serialises uploads to one chain: the UPDATE waits for any other upload's
# transaction on this chain, so positions are 1..n with no gap or repeat (and the UNIQUE
# (chain_id, chain_position) constraint would turn a bug into an error, not a duplicate).
CHAIN_TAKE_NEXT_POSITION = """
UPDATE chains SET length = length + 1, last_activity_at = now(), updated_at = now()
WHERE id = $1
RETURNING length
"""

STATEMENTS = {"chain_get": CHAIN_GET, "chain_list": CHAIN_LIST,
              "chain_take_next_position": CHAIN_TAKE_NEXT_POSITION}


async def get(executor: Executor, chain_id: UUID) -> dict[str, Any]:
    row = await executor.fetchrow(CHAIN_GET, chain_id)
    if row is None:
        raise NotFound("Chain not found")
    return dict(row)


async def list_chains(executor: Executor, challenge_id: UUID | None) -> list[dict[str, Any]]:
    return [dict(row) for row in await executor.fetch(CHAIN_LIST, challenge_id)]


async def take_next_position(connection: asyncpg.Connection, chain_id: UUID) -> int:
    """Inside the upload's transaction: lock the chain and return the new position."""
    position = await connection.fetchval(CHAIN_TAKE_NEXT_POSITION, chain_id)
    if position is None:
        raise NotFound("Chain not found")
    return int(position)
