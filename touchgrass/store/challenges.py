"""The `challenges` table: operator queries. The deploy lane's queue columns are the engine's."""

from __future__ import annotations

import asyncpg

__all__ = ["deployment_totals"]

# -- name: challenge_deployment_totals
CHALLENGE_DEPLOYMENT_TOTALS = """
SELECT deployment_status, count(*) AS total FROM challenges GROUP BY deployment_status
"""

STATEMENTS = {"challenge_deployment_totals": CHALLENGE_DEPLOYMENT_TOTALS}


async def deployment_totals(executor: asyncpg.Pool | asyncpg.Connection) -> dict[str, int]:
    rows = await executor.fetch(CHALLENGE_DEPLOYMENT_TOTALS)
    return {row["deployment_status"]: row["total"] for row in rows}
