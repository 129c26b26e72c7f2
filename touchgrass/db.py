"""The store layer: asyncpg connections with the codecs every module relies on.

Nothing above this module opens connections itself, so JSONB handling and timeouts are set in
one place.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

__all__ = ["connect", "create_pool", "notify", "update_and_notify"]


async def _init_connection(connection: asyncpg.Connection) -> None:
    # proof_json is JSONB: Python dicts in, dicts out, no string juggling in callers.
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def create_pool(dsn: str, *, size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    """A pool whose connections decode JSONB; `min_size=1` so idle roles hold one connection."""
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        command_timeout=60,
        server_settings={"application_name": kwargs.pop("application_name", "touchgrass")},
        **kwargs,
    )


async def connect(dsn: str, *, application_name: str = "touchgrass") -> asyncpg.Connection:
    """One connection outside any pool (the LISTEN connection, operator commands)."""
    connection = await asyncpg.connect(
        dsn, command_timeout=60, server_settings={"application_name": application_name}
    )
    await _init_connection(connection)
    return connection


async def notify(connection: asyncpg.Connection, channel: str, payload: str = "") -> None:
    """NOTIFY a role; inside a transaction it is delivered only when that transaction commits."""
    await connection.execute("SELECT pg_notify($1, $2)", channel, payload)


async def update_and_notify(pool: asyncpg.Pool, statement: str, *args: Any,
                            channel: str | None) -> bool:
    """Run an UPDATE of one row and, only if it updated it, NOTIFY `channel` in the same
    transaction (so the listener never wakes before the change is visible)."""
    async with pool.acquire() as connection, connection.transaction():
        updated = await connection.execute(statement, *args) == "UPDATE 1"
        if updated and channel is not None:
            await notify(connection, channel)
    return updated
