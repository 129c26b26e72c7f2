"""`touchgrass resubmit`: re-queue one submission with a fresh attempt budget."""

from __future__ import annotations

from touchgrass import db
from touchgrass.settings import DatabaseSettings
from touchgrass.store import submissions

__all__ = ["resubmit"]


async def resubmit(database: DatabaseSettings, sha256_hex: str, *,
                   force: bool = False) -> submissions.ResubmitResult:
    pool = await db.create_pool(database.asyncpg_dsn, size=1,
                                application_name="touchgrass-resubmit")
    try:
        return await submissions.resubmit(pool, sha256_hex, force=force)
    finally:
        await pool.close()
