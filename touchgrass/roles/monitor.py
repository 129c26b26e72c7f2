"""`touchgrass monitor`: follows sent transactions to inclusion and finality, by hash.

A real daemon knows a command by hash only through its frontier (`bestChain`, ~290 blocks)
and its mempool (`pooledZkappCommands`); `transactionStatus` wants the whole serialized
command and says UNKNOWN both for a dropped command and for one long final (mina-daemon.md).
So the monitor never asks it. Per sent command:

- in a block: included at that height (recorded); `final` once the tip is FINALITY_DEPTH
  blocks past that height, whatever the node says later. Included as failed: abandoned.
- in no block but in the mempool: still pending.
- in neither, but its result is in the ledger (the receipt account, the zkApp account): it
  landed in a block we did not see (older than the frontier, or while the monitor was down);
  recorded as included at the current tip, a safe upper bound, so `final` comes after depth.
- in neither, and no result: the abandon timer (the tip when first missed, on the row) runs;
  `ABANDON_AFTER_BLOCKS` later the command counts as dropped. A dropped submission goes back to
  publishing, which re-signs its kept proven command with a new nonce (no proof made again);
  one included as failed goes back to proof generation; a deployment goes back to the deploy
  lane.

A row whose follow-up fails (a malformed answer, a database error) is logged and skipped; the
pass goes on with the others. Challenge zkApps become `active` once their deploy is included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field

import asyncpg

from touchgrass import db, logs, metrics, migrations
from touchgrass.chain.client import Block, ChainClient
from touchgrass.chain.constants import BEST_CHAIN_WINDOW
from touchgrass.errors import ChainError
from touchgrass.roles.runner import RoleControl
from touchgrass.settings import ChainSettings, DatabaseSettings, MonitorSettings
from touchgrass.statuses import ChainStatus, SubmissionStatus
from touchgrass.store import challenges, submissions
from touchgrass.store.challenges import WatchedDeploy
from touchgrass.store.submissions import WatchedSubmission

__all__ = ["Counts", "Monitor", "run"]

log = logs.get_logger(__name__)


@dataclass
class Counts:
    included: int = 0
    final: int = 0
    abandoned: int = 0
    activated: int = 0
    skipped: int = 0  # rows whose follow-up failed this pass (logged)
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.included or self.final or self.abandoned or self.activated
                    or self.skipped)


@dataclass(frozen=True)
class ChainView:
    """What one pass knows of the chain: the frontier's blocks by command hash, the tip, and
    which of the followed commands wait in the mempool."""

    where: dict[str, Block]
    tip: int
    pooled: set[str]


class Monitor:
    def __init__(self, pool: asyncpg.Pool, chain: ChainClient, settings: MonitorSettings) -> None:
        self.pool = pool
        self.chain = chain
        self.settings = settings

    async def run_once(self) -> Counts:
        """One look at the chain; returns what changed."""
        if metrics.serving():
            metrics.set_counts(metrics.CHAIN_STATUS,
                               (await submissions.chain_totals(self.pool)).items())
        counts = Counts()
        rows = await submissions.chain_watch(self.pool)
        deploys = await challenges.deploy_watch(self.pool)
        if not rows and not deploys:
            return counts
        blocks = await self.chain.best_chain(BEST_CHAIN_WINDOW)
        if not blocks:
            return counts  # a node with no frontier yet (bootstrapping) tells nothing
        hashes = [h for h in (*(r.transaction_hash for r in rows),
                              *(d.transaction_hash for d in deploys)) if h]
        view = ChainView(where={h: b for b in blocks for h in b.zkapp_command_hashes},
                         tip=blocks[-1].height,
                         pooled=await self.chain.pooled_hashes(hashes=hashes) if hashes else set())
        for row in rows:
            await self._guarded(row, self._follow_submission(row, view, counts), counts)
        for deploy in deploys:
            await self._guarded(deploy, self._follow_deploy(deploy, view, counts), counts)
        return counts

    async def _guarded(self, row: WatchedSubmission | WatchedDeploy, follow: Awaitable[None],
                       counts: Counts) -> None:
        """One row's failure is that row's: logged, skipped, tried again next pass."""
        try:
            await follow
        except (ChainError, asyncpg.PostgresError, OSError) as error:
            counts.skipped += 1
            log.warning("skipped", "row %s (transaction %s) skipped this pass: %s", row.id,
                        row.transaction_hash, error)

    def _expired(self, first_missed: int, view: ChainView) -> bool:
        """The abandon timer: ABANDON_AFTER_BLOCKS since the command was first missed."""
        return view.tip - first_missed >= self.settings.abandon_after_blocks

    async def _follow_submission(self, row: WatchedSubmission, view: ChainView,
                                 counts: Counts) -> None:
        tx_hash = row.transaction_hash
        if not tx_hash:
            return
        block = view.where.get(tx_hash)
        with logs.bind(sha256=row.sha256_hash):
            if block is not None and tx_hash in block.failed:
                reason = f"transaction {tx_hash} was included but failed: {block.failed[tx_hash]}"
                if await submissions.chain_abandoned(self.pool, row.id, tx_hash, reason,
                                                     dropped=False):
                    counts.abandoned += 1
                    log.warning("abandoned", "%s; re-queued for proof generation", reason)
                return
            height = block.height if block is not None else row.chain_included_height
            if height is None and tx_hash not in view.pooled and await self._receipt_landed(row):
                height = view.tip  # landed unseen: at or before the tip
            if height is not None:
                if row.chain_status == ChainStatus.PENDING and await submissions.chain_included(
                        self.pool, row.id, tx_hash, height):
                    counts.included += 1
                    log.info("included", "included at height %d", height)
                if view.tip - height >= self.settings.finality_depth and \
                        await submissions.chain_final(self.pool, row.id, tx_hash, height):
                    counts.final += 1
                    log.info("final", "final (%d blocks deep)", view.tip - height)
                return
            if tx_hash in view.pooled:
                return
            if row.transaction_submitted_block_height is None:
                await submissions.chain_seen(self.pool, row.id, tx_hash, view.tip)
            elif self._expired(row.transaction_submitted_block_height, view):
                reason = (f"transaction {tx_hash} was dropped: in no block and not in the "
                          f"node's mempool {self.settings.abandon_after_blocks} blocks later")
                back_to = await submissions.chain_abandoned(self.pool, row.id, tx_hash, reason,
                                                            dropped=True)
                if back_to is not None:
                    counts.abandoned += 1
                    log.warning("abandoned", "%s; re-queued for %s", reason,
                                "publishing (the proven command is re-signed)"
                                if back_to == SubmissionStatus.PROOF_PUBLISHING
                                else "proof generation")

    async def _receipt_landed(self, row: WatchedSubmission) -> bool:
        owner, token = row.token_owner_address, row.zkapp_token_id
        if not (owner and token):
            return False
        return await self.chain.account(owner, token) is not None

    async def _follow_deploy(self, row: WatchedDeploy, view: ChainView, counts: Counts) -> None:
        tx_hash = row.transaction_hash
        if not tx_hash:
            return
        block = view.where.get(tx_hash)
        if block is not None and tx_hash in block.failed:
            reason = f"deploy transaction {tx_hash} failed: {block.failed[tx_hash]}"
            if await challenges.deploy_abandoned(self.pool, row.id, tx_hash, reason):
                counts.abandoned += 1
                log.warning("abandoned", "%s; deploying again", reason)
            return
        if block is None and tx_hash in view.pooled:
            return
        if block is not None or await self._zkapp_exists(row.zkapp_address):
            if await challenges.deploy_active(self.pool, row.id, tx_hash):
                counts.activated += 1
                log.info("deployed", "challenge %s zkApp %s is on chain%s", row.id,
                         row.zkapp_address,
                         f" (included at height {block.height})" if block is not None else "")
            return
        # Only now, with no zkApp account at the address, may the deploy be replaced.
        if row.transaction_submitted_block_height is None:
            await challenges.deploy_seen(self.pool, row.id, tx_hash, view.tip)
        elif self._expired(row.transaction_submitted_block_height, view):
            reason = (f"deploy transaction {tx_hash} was dropped: in no block, not in the "
                      f"node's mempool and no zkApp at {row.zkapp_address} "
                      f"{self.settings.abandon_after_blocks} blocks later")
            if await challenges.deploy_abandoned(self.pool, row.id, tx_hash, reason):
                counts.abandoned += 1
                log.warning("abandoned", "%s; deploying again", reason)

    async def _zkapp_exists(self, address: str | None) -> bool:
        if not address:
            return False
        account = await self.chain.account(address)
        return account is not None and account.zkapp_state is not None


async def run(*, database: DatabaseSettings, chain: ChainSettings, settings: MonitorSettings,
              control: RoleControl | None = None) -> None:
    """Look every MONITOR_INTERVAL_S until stopped; a node outage is logged and waited out."""
    control = control or RoleControl.new()
    pool = await db.create_pool(database.asyncpg_dsn, size=3, application_name="touchgrass-monitor")
    try:
        await migrations.require_current(pool, database.database_url)
    except BaseException:
        await pool.close()
        raise
    client = ChainClient(chain.mina_node_endpoint)
    monitor = Monitor(pool, client, settings)
    log.info("start", "monitor following %s", chain.mina_node_endpoint)
    try:
        while not control.stop.is_set():
            try:
                counts = await monitor.run_once()
                if counts:
                    log.info("look", "included %d, final %d, abandoned %d, deployed %d, "
                             "skipped %d", counts.included, counts.final, counts.abandoned,
                             counts.activated, counts.skipped)
            except ChainError as error:
                log.warning("chain", "%s", error)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(control.stop.wait(), settings.monitor_interval_s)
    finally:
        await client.close()
        await pool.close()
        log.info("stop", "monitor stopped")
