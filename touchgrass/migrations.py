"""`touchgrass migrate`: apply the alembic migrations from code, safe to run on every start."""

from __future__ import annotations

import threading
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from touchgrass import db
from touchgrass.errors import ConfigError, MigrationError

__all__ = ["execute_script", "head_revision", "require_current", "script_location", "upgrade"]


# alembic keeps its running context in module globals: one upgrade per process at a time.
# Other processes are kept out by the advisory lock in alembic/env.py.
_upgrade_lock = threading.Lock()


def script_location() -> Path:
    """The top-level `alembic/` folder next to the package (source checkout or image)."""
    location = Path(__file__).resolve().parent.parent / "alembic"
    if not (location / "env.py").is_file():
        raise ConfigError(
            f"the migrations folder {location} is missing; install touchgrass from its source "
            "tree (pip install -e .) or the container image"
        )
    return location


def _config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    # Passed as an attribute, not an ini option: configparser would choke on a '%' in a password.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision`; concurrent callers serialise on an advisory lock.

    Blocking (alembic runs its own event loop): call it from a thread inside async code.
    """
    with _upgrade_lock:
        config = _config(database_url)
        try:
            command.upgrade(config, revision)
        except ConfigError:
            raise
        except Exception as error:  # alembic and SQLAlchemy wrap driver errors in many types
            cause = error.__cause__ or error
            text = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            raise MigrationError(f"migration failed on {db.where(database_url)}: {text}") from None


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory(str(script_location())).get_current_head()
    assert head is not None
    return head


async def require_current(pool: asyncpg.Pool, database_url: str) -> None:
    """Stop a process whose code is newer than the database's schema with one line, instead
    of failing on the first statement that uses a new column (a deploy that started the
    roles before `touchgrass migrate`). An older code against a newer schema is fine:
    migrations only add."""
    try:
        current = await pool.fetchval("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        current = None
    known = {script.revision for script in ScriptDirectory(str(script_location())).walk_revisions()}
    head = head_revision()
    if current == head or (current is not None and current not in known):
        return
    raise ConfigError(f"the database {db.where(database_url)} is at migration "
                      f"{current or '(none)'} and this touchgrass needs {head}: run "
                      "`touchgrass migrate` first")


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script inside the migration's transaction.

    asyncpg prepares every statement it is given, and a prepared statement holds one command;
    a script with no parameters goes through the simple query protocol instead, on the same
    connection and so in the same transaction as the rest of the migration.
    """
    from alembic import op

    try:  # SQLAlchemy 2.1 renamed await_only to await_
        from sqlalchemy.util import await_ as await_driver  # type: ignore[attr-defined, unused-ignore]
    except ImportError:  # pragma: no cover - SQLAlchemy 2.0
        from sqlalchemy.util import await_only as await_driver

    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None, "migrations run on an open asyncpg connection"
    await_driver(driver_connection.execute(sql))
