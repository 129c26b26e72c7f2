"""`touchgrass monitor`: follows sent transactions to inclusion and finality, by hash.

A real daemon knows a command by hash only through its frontier (`bestChain`, its `k`
blocks) and its mempool (`pooledZkappCommands`); `transactionStatus` wants the whole
serialized command and says UNKNOWN both for a dropped command and for one long final
(docs/chain.md). So the monitor never asks it. Each pass reads the tip alone, then only the
blocks since the last pass (and back to the oldest inclusion not yet final), with their
commands. Per sent command:

- in a block: included in that block (its height and state hash recorded); `final` once the
  tip is FINALITY_DEPTH blocks past it. Included as failed: abandoned.
- recorded as included, but its block left the best chain (a reorg) and the command is in no
  block of it: back to `pending`; it is most likely back in the mempool.
- in no block but in the mempool: still pending.
- in neither: the fee payer's ledger nonce decides, never the absence alone. Past the
  command's nonce, the command was included (only we sign for that account) in a block this
  pass did not read (before the row was complete, while the monitor was down, or a
  load-balanced node missed it): it is searched for in the node's whole frontier, then in
  the archive, instead of being sent again. At or below it, the abandon timer (the tip when
  first missed, on the row) runs; when it runs out, the command can no longer be in any
  block: dropped. Never a second receipt.
- A dropped submission goes back to publishing, which re-signs its kept proven command with
  a new nonce (no proof made again); one included as failed goes back to proof generation;
  a deployment goes back to the deploy lane.

Rows sent before migration 0011 carry no fee payer: they are followed as before (a token
account receipt's account proves it landed; otherwise the timer alone decides).

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
from touchgrass.chain.archive import ArchiveClient
from touchgrass.chain.client import Block, ChainClient
from touchgrass.chain.constants import DEFAULT_K
from touchgrass.errors import ChainError
from touchgrass.roles.runner import RoleControl
from touchgrass.settings import ChainSettings, DatabaseSettings, MonitorSettings
from touchgrass.statuses import ChainStatus, SubmissionStatus
from touchgrass.store import challenges, receipts
from touchgrass.store.challenges import WatchedDeploy
from touchgrass.store.receipts import WatchedSubmission

__all__ = ["Counts", "Monitor", "run"]

log = logs.get_logger(__name__)

# How many archive ranges (ARCHIVE_BLOCK_RANGE blocks each) one search reads before it waits
# for the next pass.
ARCHIVE_SEARCH_RANGES = 50


@dataclass
class Counts:
    included: int = 0
    final: int = 0
    abandoned: int = 0
    activated: int = 0
    reorged: int = 0  # back to pending: the including block left the best chain
    unresolved: int = 0  # nonce used, command not found yet: waiting, never sent again
    skipped: int = 0  # rows whose follow-up failed this pass (logged)
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.included or self.final or self.abandoned or self.activated
                    or self.reorged or self.unresolved or self.skipped)


@dataclass(frozen=True)
class ChainView:
    """What one pass knows of the chain: the frontier's blocks by command hash, the tip, and
    which of the followed commands wait in the mempool."""

    where: dict[str, Block]
    tip: int
    pooled: set[str]
    oldest: int  # the lowest height read this pass: below it, the pass knows nothing


class Monitor:
    def __init__(self, pool: asyncpg.Pool, chain: ChainClient, settings: MonitorSettings, *,
                 archive: ArchiveClient | None = None, k: int = DEFAULT_K) -> None:
        self.pool = pool
        self.chain = chain
        self.settings = settings
        self.archive = archive
        self.k = k  # the node's frontier length (its consensus constant)
        self._last_tip: int | None = None  # the tip of the last pass that read the chain
        self._frontier: dict[str, Block] | None = None  # the whole frontier, when a pass needed it
        self._nonces: dict[str, int] = {}  # fee payer -> ledger nonce, read at most once a pass

    def _window(self, tip: int, rows: list[WatchedSubmission]) -> int:
        """How many blocks this pass reads: those since the last pass, with FINALITY_DEPTH
        more for a reorg near the tip, and back to the oldest inclusion not yet final (its
        block must still be on the best chain). The whole frontier on the first pass."""
        if self._last_tip is None:
            return self.k
        floor = self._last_tip - self.settings.finality_depth
        for row in rows:
            if row.chain_included_height is not None:
                floor = min(floor, row.chain_included_height)
        return max(1, min(self.k, tip - floor + 1))

    async def run_once(self) -> Counts:
        """One look at the chain; returns what changed."""
        if metrics.serving():
            metrics.set_counts(metrics.CHAIN_STATUS,
                               (await receipts.chain_totals(self.pool)).items())
        counts = Counts()
        self._frontier = None
        self._nonces = {}
        rows = await receipts.chain_watch(self.pool)
        deploys = await challenges.deploy_watch(self.pool)
        if not rows and not deploys:
            return counts
        tip = await self.chain.best_tip()
        blocks = await self.chain.best_chain(self._window(tip.height, rows)) if tip else []
        if not blocks:
            return counts  # a node with no frontier yet (bootstrapping) tells nothing
        hashes = [h for h in (*(r.transaction_hash for r in rows),
                              *(d.transaction_hash for d in deploys)) if h]
        view = ChainView(where={h: b for b in blocks for h in b.zkapp_command_hashes},
                         tip=blocks[-1].height,
                         pooled=await self.chain.pooled_hashes(hashes=hashes) if hashes else set(),
                         oldest=blocks[0].height)
        self._last_tip = view.tip
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
                if await receipts.chain_abandoned(self.pool, row.id, tx_hash, reason,
                                                     dropped=False):
                    counts.abandoned += 1
                    log.warning("abandoned", "%s; re-queued for proof generation", reason)
                return
            if block is not None:
                await self._included(row, block.height, block.state_hash, view, counts)
                return
            included = row.chain_included_height
            if included is not None:
                if included >= view.oldest:
                    # the pass read the block at that height, and the command is in no block
                    # of the best chain: its block was replaced
                    if await receipts.chain_reorged(self.pool, row.id, tx_hash, view.tip):
                        counts.reorged += 1
                        log.warning("reorg", "the block that included %s (height %d) left the "
                                    "best chain; pending again", tx_hash, included)
                    return
                # older than the frontier: final by depth whatever the node says now
                await self._included(row, included, row.chain_included_block, view, counts)
                return
            if tx_hash in view.pooled:
                return
            if row.transaction_fee_payer is None and await self._receipt_landed(row):
                await self._included(row, view.tip, None, view, counts)  # landed unseen
                return
            if await self._nonce_used(row):
                # in a block this pass did not read (included before the row was complete, or
                # while the monitor was down): found where it is, never sent again
                await self._find_unseen(row, view, counts)
                return
            if row.transaction_submitted_block_height is None:
                await receipts.chain_seen(self.pool, row.id, tx_hash, view.tip)
                return
            if not self._expired(row.transaction_submitted_block_height, view):
                return
            reason = (f"transaction {tx_hash} was dropped: in no block, not in the node's "
                      f"mempool {self.settings.abandon_after_blocks} blocks later"
                      + (", and its nonce is still free" if row.transaction_fee_payer else ""))
            back_to = await receipts.chain_abandoned(self.pool, row.id, tx_hash, reason,
                                                        dropped=True)
            if back_to is not None:
                counts.abandoned += 1
                log.warning("abandoned", "%s; re-queued for %s", reason,
                            "publishing (the proven command is re-signed)"
                            if back_to == SubmissionStatus.PROOF_PUBLISHING
                            else "proof generation")

    async def _included(self, row: WatchedSubmission, height: int, state_hash: str | None,
                        view: ChainView, counts: Counts) -> None:
        tx_hash = row.transaction_hash
        assert tx_hash is not None
        if state_hash is not None and await receipts.chain_included(
                self.pool, row.id, tx_hash, height, state_hash):
            if row.chain_status == ChainStatus.PENDING:
                counts.included += 1
                log.info("included", "included at height %d (block %s)", height, state_hash)
            else:
                log.info("included", "now in block %s at height %d (a reorg moved it)",
                         state_hash, height)
        elif state_hash is None and row.chain_status == ChainStatus.PENDING and \
                await receipts.chain_included(self.pool, row.id, tx_hash, height, None):
            counts.included += 1
            log.info("included", "included at or before height %d", height)
        if view.tip - height >= self.settings.finality_depth and \
                await receipts.chain_final(self.pool, row.id, tx_hash, height):
            counts.final += 1
            log.info("final", "final (%d blocks deep)", view.tip - height)

    async def _nonce_used(self, row: WatchedSubmission) -> bool:
        """Has the fee payer's ledger nonce moved past the command's? Then the command, or
        another of ours with its nonce, is in a block: sending again would record the photo
        twice. Rows without a fee payer (sent before 0011) cannot tell: False."""
        payer = row.transaction_fee_payer
        if payer is None or row.transaction_nonce is None:
            return False
        if payer not in self._nonces:
            account = await self.chain.account(payer)
            if account is None or account.nonce is None:
                raise ChainError(f"the node did not say fee payer {payer}'s nonce; the command "
                                 "is not called dropped without it")
            self._nonces[payer] = account.nonce
        return self._nonces[payer] > row.transaction_nonce

    async def _find_unseen(self, row: WatchedSubmission, view: ChainView, counts: Counts) -> None:
        """The nonce is used but the command is in no block this pass read: the node's whole
        frontier is read once (this pass), then the archive, which knows older blocks (the
        receipt is one of the zkApp's actions). Until one says where, the row waits; nothing
        is sent again."""
        block = await self._in_frontier(row, view)
        if block is not None and row.transaction_hash in block.failed:
            reason = (f"transaction {row.transaction_hash} was included but failed: "
                      f"{block.failed[row.transaction_hash]}")
            if await receipts.chain_abandoned(self.pool, row.id, row.transaction_hash, reason,
                                              dropped=False):
                counts.abandoned += 1
                log.warning("abandoned", "%s; re-queued for proof generation", reason)
            return
        found = (block.height, block.state_hash) if block is not None else \
            await self._in_archive(row, view.tip)
        if found is not None:
            height, state_hash = found
            log.info("included", "found in the archive: %s at height %d, in a block the node "
                     "no longer serves", row.transaction_hash, height)
            await self._included(row, height, state_hash, view, counts)
            return
        counts.unresolved += 1
        log.warning("unresolved", "fee payer %s's nonce %s is used but %s is in no block the "
                    "node serves%s; waiting (never sent twice)", row.transaction_fee_payer,
                    row.transaction_nonce, row.transaction_hash,
                    " nor in the archive yet" if self.archive else
                    " (set ARCHIVE_NODE_ENDPOINT so the monitor can find it)")

    async def _in_frontier(self, row: WatchedSubmission, view: ChainView) -> Block | None:
        """The frontier block that holds the command, if any; the whole frontier is read at
        most once a pass, and only when a row needs it."""
        if view.oldest > max(1, view.tip - self.k + 1):  # this pass read less than all of it
            if self._frontier is None:
                self._frontier = {h: b for b in await self.chain.best_chain(self.k)
                                  for h in b.zkapp_command_hashes}
            block = self._frontier.get(row.transaction_hash or "")
        else:
            block = view.where.get(row.transaction_hash or "")
        return block

    async def _in_archive(self, row: WatchedSubmission, tip: int) -> tuple[int, str] | None:
        """(height, state hash) of the block whose actions carry this command, searched
        backwards from the tip in ranges the archive accepts (`to` exclusive)."""
        if self.archive is None or not row.receipt_zkapp_address:
            return None
        step = self.settings.archive_block_range
        to = tip + 1
        for _ in range(ARCHIVE_SEARCH_RANGES):
            start = max(1, to - step)
            for block in await self.archive.actions(row.receipt_zkapp_address, from_height=start,
                                                    to_height=to):
                if any(a.transaction_hash == row.transaction_hash for a in block.actions):
                    return block.height, block.state_hash
            if start == 1:
                break
            to = start
        return None

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
    archive = ArchiveClient(chain.archive_node_endpoint) if chain.archive_node_endpoint else None
    k = DEFAULT_K
    try:
        k = (await client.node_info()).k
    except ChainError as error:
        log.warning("node", "cannot read the node's k now (%s); assuming %d", error, k)
    monitor = Monitor(pool, client, settings, archive=archive, k=k)
    log.info("start", "monitor following %s (k %d)%s", chain.mina_node_endpoint, k,
             f", archive {chain.archive_node_endpoint}" if archive else "")
    try:
        while not control.stop.is_set():
            try:
                counts = await monitor.run_once()
                if counts:
                    log.info("look", "included %d, final %d, abandoned %d, deployed %d, "
                             "reorged %d, unresolved %d, skipped %d", counts.included,
                             counts.final, counts.abandoned, counts.activated, counts.reorged,
                             counts.unresolved, counts.skipped)
            except ChainError as error:
                log.warning("chain", "%s", error)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(control.stop.wait(), settings.monitor_interval_s)
    finally:
        await client.close()
        if archive is not None:
            await archive.close()
        await pool.close()
        log.info("stop", "monitor stopped")
