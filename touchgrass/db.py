"""The store layer: asyncpg connections with the codecs every module relies on.

Nothing above this module opens connections itself, so JSONB handling and timeouts are set in
one place.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from touchgrass.errors import DatabaseUnavailable

__all__ = ["CONNECT_TIMEOUT_S", "Executor", "connect", "create_pool", "notify",
           "update_and_notify", "where"]

# What a store function runs its statements on: the pool (one statement, its own
# transaction) or a connection (inside the caller's transaction).
Executor = asyncpg.Pool | asyncpg.Connection

# A database that does not accept a connection in this long is down (asyncpg's default is 60 s).
CONNECT_TIMEOUT_S = 5.0


# What opening a first connection raises when the database is down, wrong or refuses us.
_UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresConnectionError,
                asyncpg.InvalidCatalogNameError, asyncpg.InvalidAuthorizationSpecificationError,
                asyncpg.InvalidPasswordError)


def where(database_url: str) -> str:
    """host:port/db of a database URL, for messages (never the user or the password)."""
    parts = urlsplit(database_url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}{parts.path or ''}"


class _Pool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no types: Pool is Any
    """A pool whose every acquire is bounded: asyncpg's own `fetch`, `execute`, ... acquire
    without a timeout, so with a hung database each request would queue for a connection
    forever. Waiting longer than `acquire_timeout` raises TimeoutError (the API's 503)."""

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


async def _init_connection(connection: asyncpg.Connection) -> None:
    # proof_json is JSONB: Python dicts in, dicts out, no string juggling in callers.
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def create_pool(dsn: str, *, size: int = 10, command_timeout_s: float = 60.0,
                      acquire_timeout_s: float | None = None, **kwargs: Any) -> asyncpg.Pool:
    """A pool whose connections decode JSONB; `min_size=1` so idle roles hold one connection.

    Every wait is bounded: connecting (`CONNECT_TIMEOUT_S`), each statement
    (`command_timeout_s`) and, when given, taking a connection from the pool."""
    pool = _Pool(
        dsn,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        min_size=1,
        max_size=size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        connect=None,
        setup=None,
        init=_init_connection,
        reset=None,
        loop=None,
        acquire_timeout=acquire_timeout_s,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=command_timeout_s,
        server_settings={"application_name": kwargs.pop("application_name", "touchgrass")},
        **kwargs,
    )
    try:
        return await pool
    except _UNREACHABLE as error:
        raise DatabaseUnavailable(f"cannot reach the database at {where(dsn)}: "
                                  f"{error or type(error).__name__}") from None


async def connect(dsn: str, *, application_name: str = "touchgrass") -> asyncpg.Connection:
    """One connection outside any pool (the LISTEN connection, operator commands)."""
    try:
        connection = await asyncpg.connect(
            dsn, timeout=CONNECT_TIMEOUT_S, command_timeout=60,
            server_settings={"application_name": application_name}
        )
    except _UNREACHABLE as error:
        raise DatabaseUnavailable(f"cannot reach the database at {where(dsn)}: "
                                  f"{error or type(error).__name__}") from None
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
        updated = bool(await connection.execute(statement, *args) == "UPDATE 1")
        if updated and channel is not None:
            await notify(connection, channel)
    return updated
