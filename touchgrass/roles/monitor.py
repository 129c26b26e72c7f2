"""`touchgrass monitor`: follows sent transactions to inclusion and finality.

pending -> included (in a block; height recorded) -> final (`FINALITY_DEPTH` blocks deep),
or abandoned: the node no longer knows the command and it is in no block
`ABANDON_AFTER_BLOCKS` after it was first seen (or it was included as failed). An abandoned
submission goes back to proof generation (its proof was cleared when it was sent); an
abandoned deployment goes back to the deploy lane. Challenge zkApps become `active` only
once their deploy transaction is included.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import asyncpg

from touchgrass import db, logs
from touchgrass.chain.client import Block, ChainClient
from touchgrass.chain.constants import BEST_CHAIN_WINDOW
from touchgrass.errors import ChainError
from touchgrass.roles.runner import RoleControl
from touchgrass.settings import ChainSettings, DatabaseSettings, MonitorSettings
from touchgrass.statuses import ChainStatus
from touchgrass.store import challenges, submissions

__all__ = ["Counts", "Monitor", "run"]

log = logs.get_logger(__name__)


@dataclass
class Counts:
    included: int = 0
    final: int = 0
    abandoned: int = 0
    activated: int = 0
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.included or self.final or self.abandoned or self.activated)


class Monitor:
    def __init__(self, pool: asyncpg.Pool, chain: ChainClient, settings: MonitorSettings) -> None:
        self.pool = pool
        self.chain = chain
        self.settings = settings
        self._deploy_seen: dict[str, int] = {}  # deploy hash -> tip when first unknown

    async def run_once(self) -> Counts:
        """One look at the chain; returns what changed."""
        counts = Counts()
        blocks = await self.chain.best_chain(BEST_CHAIN_WINDOW)
        tip = blocks[-1].height if blocks else 0
        where: dict[str, Block] = {h: b for b in blocks for h in b.zkapp_command_hashes}
        for row in await submissions.chain_watch(self.pool):
            await self._follow_submission(row, where, tip, counts)
        for row in await challenges.deploy_watch(self.pool):
            await self._follow_deploy(row, where, tip, counts)
        return counts

    async def _gone(self, command_id: str, first_seen: int | None, tip: int) -> bool:
        """Unknown to the node and no block has it, long enough after it was sent."""
        if await self.chain.transaction_status(command_id) != "UNKNOWN":
            return False
        return first_seen is not None and tip - first_seen >= self.settings.abandon_after_blocks

    async def _follow_submission(self, row: dict, where: dict[str, Block], tip: int,
                                 counts: Counts) -> None:
        tx_hash = row["transaction_hash"]
        if not tx_hash:
            return
        block = where.get(tx_hash)
        with logs.bind(sha256=row["sha256_hash"]):
            if block is not None and tx_hash in block.failed:
                reason = f"transaction {tx_hash} was included but failed: {block.failed[tx_hash]}"
                if await submissions.chain_abandoned(self.pool, row["id"], tx_hash, reason):
                    counts.abandoned += 1
                    log.warning("abandoned", "%s", reason)
                return
            if block is not None:
                if row["chain_status"] == ChainStatus.PENDING and await submissions.chain_included(
                        self.pool, row["id"], tx_hash, block.height):
                    counts.included += 1
                    log.info("included", "included at height %d", block.height)
                if tip - block.height >= self.settings.finality_depth and \
                        await submissions.chain_final(self.pool, row["id"], tx_hash, block.height):
                    counts.final += 1
                    log.info("final", "final (%d blocks deep)", tip - block.height)
                return
            if row["chain_status"] == ChainStatus.INCLUDED:
                # Included earlier and now out of the window: deep enough to be final.
                if await submissions.chain_final(self.pool, row["id"], tx_hash, None):
                    counts.final += 1
                return
            if row["transaction_submitted_block_height"] is None:
                await submissions.chain_seen(self.pool, row["id"], tx_hash, tip)
                return
            if await self._gone(row["transaction_id"] or tx_hash,
                                row["transaction_submitted_block_height"], tip):
                reason = (f"transaction {tx_hash} was dropped: unknown to the node and in no "
                          f"block {self.settings.abandon_after_blocks} blocks later")
                if await submissions.chain_abandoned(self.pool, row["id"], tx_hash, reason):
                    counts.abandoned += 1
                    log.warning("abandoned", "%s; re-queued for proof generation", reason)

    async def _follow_deploy(self, row: dict, where: dict[str, Block], tip: int,
                             counts: Counts) -> None:
        tx_hash = row["transaction_hash"]
        if not tx_hash:
            return
        block = where.get(tx_hash)
        if block is not None and tx_hash not in block.failed:
            if await challenges.deploy_active(self.pool, row["id"], tx_hash):
                counts.activated += 1
                log.info("deployed", "challenge %s zkApp included at height %d", row["id"],
                         block.height)
            return
        failed = block is not None
        if failed or await self.chain.transaction_status(row["transaction_id"] or tx_hash) \
                == "UNKNOWN":
            sent_height = self._deploy_seen.setdefault(tx_hash, tip)
            if failed or tip - sent_height >= self.settings.abandon_after_blocks:
                reason = (f"deploy transaction {tx_hash} "
                          + (f"failed: {block.failed[tx_hash]}" if block is not None
                             else "was dropped"))
                if await challenges.deploy_abandoned(self.pool, row["id"], tx_hash, reason):
                    counts.abandoned += 1
                    log.warning("abandoned", "%s; deploying again", reason)


async def run(*, database: DatabaseSettings, chain: ChainSettings, settings: MonitorSettings,
              control: RoleControl | None = None) -> None:
    """Look every MONITOR_INTERVAL_S until stopped; a node outage is logged and waited out."""
    control = control or RoleControl.new()
    pool = await db.create_pool(database.asyncpg_dsn, size=3, application_name="touchgrass-monitor")
    client = ChainClient(chain.mina_node_endpoint)
    monitor = Monitor(pool, client, settings)
    log.info("start", "monitor following %s", chain.mina_node_endpoint)
    try:
        while not control.stop.is_set():
            try:
                counts = await monitor.run_once()
                if counts:
                    log.info("look", "included %d, final %d, abandoned %d, deployed %d",
                             counts.included, counts.final, counts.abandoned, counts.activated)
            except ChainError as error:
                log.warning("chain", "%s", error)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(control.stop.wait(), settings.monitor_interval_s)
    finally:
        await client.close()
        await pool.close()
        log.info("stop", "monitor stopped")
