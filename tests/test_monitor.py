"""The monitor against a stand-in daemon (the daemon's schema, executed by graphql-core) on
real PostgreSQL: it follows commands by hash through bestChain and the mempool, never asks
transactionStatus, survives a bad row, and keeps its timers on the rows (docs/chain.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.support.daemon_standin import DEFAULT_TOKEN, StandinNode
from tests.support.factories import queue_submissions
from touchgrass.chain.client import ChainClient
from touchgrass.operator.status import timeline, timeline_json
from touchgrass.roles.monitor import Monitor
from touchgrass.settings import MonitorSettings

pytestmark = pytest.mark.anyio

TOKEN = "wTokenOfTheChallengeZkapp"
SETTINGS = MonitorSettings(finality_depth=3, abandon_after_blocks=4, monitor_interval_s=1)


@pytest.fixture
async def node() -> AsyncIterator[StandinNode]:
    standin = await StandinNode().start()
    standin.advance(5)
    yield standin
    await standin.close()


@pytest.fixture
async def monitor(pool: asyncpg.Pool, node: StandinNode) -> AsyncIterator[Monitor]:
    client = ChainClient(node.url)
    yield Monitor(pool, client, SETTINGS)
    await client.close()


async def sent(pool: asyncpg.Pool, count: int) -> list[dict]:
    """`count` published rows, each with its command hash and (as before migration 0010) a
    token-account receipt."""
    await pool.execute("TRUNCATE users, challenges CASCADE")
    rows = await queue_submissions(pool, count, status="complete")
    await pool.execute("UPDATE challenges SET zkapp_token_id = $1", TOKEN)
    for n, row in enumerate(rows):
        row["hash"] = f"5Jhash{n}"
        await pool.execute(
            "UPDATE submissions SET transaction_id = $2, transaction_hash = $2, "
            "token_owner_address = $3, receipt_token_id = $4, chain_status = 'pending', "
            "published_at = now() WHERE id = $1", row["id"], row["hash"], f"B62qowner{n}", TOKEN)
    return rows


async def chain_state(pool: asyncpg.Pool, row: dict) -> dict:
    return dict(await pool.fetchrow(
        "SELECT status, chain_status, chain_included_height, transaction_submitted_block_height,"
        " failure_reason FROM submissions WHERE id = $1", row["id"]))


async def test_an_unknown_hash_never_stops_the_others_from_finalising(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    landed, never_seen = await sent(pool, 2)
    height = node.advance(1, including=[landed["hash"]])
    counts = await monitor.run_once()
    assert counts.included == 1
    assert (await chain_state(pool, landed))["chain_included_height"] == height
    # the unknown one only starts its timer (the tip when first missed, on the row)
    assert (await chain_state(pool, never_seen))["transaction_submitted_block_height"] == height
    node.advance(3)
    counts = await monitor.run_once()
    assert counts.final == 1 and (await chain_state(pool, landed))["chain_status"] == "final"
    node.advance(1)
    counts = await monitor.run_once()
    assert counts.abandoned == 1
    dropped = await chain_state(pool, never_seen)
    assert dropped["chain_status"] == "abandoned" and dropped["status"] == "proof_generation"
    assert "dropped" in dropped["failure_reason"]
    assert "transactionStatus" not in node.asked  # it wants a serialized command, not a hash
    # the dropped hash was public: it stays in the photo's timeline, with why it was replaced
    shown = timeline_json(await timeline(pool, never_seen["sha256_hash"]))
    assert shown["submission"]["transaction_hash"] is None
    [earlier] = shown["submission"]["earlier_transactions"]
    assert earlier["hash"] == never_seen["hash"] and "dropped" in earlier["why"]
    assert [e for e in shown["timeline"] if never_seen["hash"] in e["event"]]


async def test_a_command_seen_in_a_block_is_final_even_after_leaving_the_frontier(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    node.frontier = 10
    [row] = await sent(pool, 1)
    height = node.advance(1, including=[row["hash"]])
    await monitor.run_once()
    assert (await chain_state(pool, row))["chain_status"] == "included"
    # 300 blocks later the node knows nothing of it any more (UNKNOWN on a daemon) ...
    node.advance(300)
    await monitor.run_once()
    state = await chain_state(pool, row)
    # ... and it is final at the height it was seen, not abandoned
    assert state["chain_status"] == "final" and state["chain_included_height"] == height


async def test_a_command_that_landed_unseen_is_found_by_its_receipt(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    """Included while the monitor was down and out of the frontier since: the receipt account
    in the ledger says it landed; it becomes final after the depth, never abandoned."""
    node.frontier = 3
    [row] = await sent(pool, 1)
    node.advance(1, including=[row["hash"]])
    node.advance(10)
    node.accounts[("B62qowner0", TOKEN)] = {"balance": "1"}
    tip = node.blocks[-1].height
    await monitor.run_once()
    assert (await chain_state(pool, row))["chain_included_height"] == tip
    node.advance(3)
    await monitor.run_once()
    assert (await chain_state(pool, row))["chain_status"] == "final"


async def test_a_row_that_errors_is_skipped_and_the_pass_goes_on(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    broken, fine = await sent(pool, 2)
    node.accounts[("B62qowner0", TOKEN)] = ValueError("ledger lookup failed")
    node.advance(1, including=[fine["hash"]])
    counts = await monitor.run_once()
    assert counts.skipped == 1 and counts.included == 1
    assert (await chain_state(pool, fine))["chain_status"] == "included"
    assert (await chain_state(pool, broken))["chain_status"] == "pending"


async def test_a_pooled_command_is_never_abandoned(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    [row] = await sent(pool, 1)
    node.pool.add(row["hash"])
    for _ in range(3):
        node.advance(5)
        await monitor.run_once()
    assert (await chain_state(pool, row))["chain_status"] == "pending"


async def deploying(pool: asyncpg.Pool, zkapp: str = "B62qzkappdeploy") -> dict:
    await pool.execute("TRUNCATE users, challenges CASCADE")
    return dict(await pool.fetchrow(
        "INSERT INTO challenges (title, description, start_time, end_time, deployment_status, "
        "zkapp_address, zkapp_token_id, transaction_id, transaction_hash, deploy_sent_at) "
        "VALUES ('t', 'd', now(), now() + interval '1 day', 'deploying', $1, $2, '5Jdeploy', "
        "'5Jdeploy', now()) RETURNING id", zkapp, TOKEN))


async def deployment(pool: asyncpg.Pool, challenge: dict) -> dict:
    return dict(await pool.fetchrow(
        "SELECT deployment_status, zkapp_address, transaction_submitted_block_height, "
        "failure_reason FROM challenges WHERE id = $1", challenge["id"]))


async def test_a_deploy_that_landed_unseen_is_never_replaced(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    challenge = await deploying(pool)
    node.accounts[("B62qzkappdeploy", DEFAULT_TOKEN)] = {"zkappState": ["0"] * 8}
    node.advance(20)
    counts = await monitor.run_once()
    assert counts.activated == 1 and counts.abandoned == 0
    assert (await deployment(pool, challenge))["deployment_status"] == "active"


async def test_the_deploy_abandon_timer_survives_a_restart(
        pool: asyncpg.Pool, node: StandinNode) -> None:
    challenge = await deploying(pool)
    first = ChainClient(node.url)
    await Monitor(pool, first, SETTINGS).run_once()
    await first.close()
    started = (await deployment(pool, challenge))["transaction_submitted_block_height"]
    assert started == node.blocks[-1].height
    node.advance(4)
    restarted = ChainClient(node.url)  # a new process: nothing in memory
    try:
        counts = await Monitor(pool, restarted, SETTINGS).run_once()
    finally:
        await restarted.close()
    assert counts.abandoned == 1
    after = await deployment(pool, challenge)
    assert after["deployment_status"] == "pending_deployment" and after["zkapp_address"] is None
    assert "no zkApp at B62qzkappdeploy" in after["failure_reason"]


async def test_a_node_without_a_frontier_changes_nothing(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    [row] = await sent(pool, 1)
    node.sync_status = "BOOTSTRAP"  # bestChain is null while bootstrapping
    assert not await monitor.run_once()  # nothing known, nothing changed
    assert (await chain_state(pool, row))["transaction_submitted_block_height"] is None


async def test_a_dropped_command_goes_back_to_publishing_to_be_re_signed(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    """The proven command is kept until final: a dropped transaction is re-signed and sent
    again, never proven again; one included as failed is proven again from the start."""
    dropped, failed = await sent(pool, 2)
    await pool.execute("UPDATE submissions SET proven_command = '{\"feePayer\": {}}'")
    node.advance(1, including=[failed["hash"]], failed={failed["hash"]: "Account_nonce_failed"})
    await monitor.run_once()
    node.advance(4)
    await monitor.run_once()
    states = {r["id"]: dict(r) for r in await pool.fetch(
        "SELECT id, status, proven_command IS NOT NULL AS kept FROM submissions")}
    assert states[dropped["id"]] == {"id": dropped["id"], "status": "proof_publishing",
                                     "kept": True}
    assert states[failed["id"]] == {"id": failed["id"], "status": "proof_generation",
                                    "kept": False}


async def test_a_dropped_photo_with_its_proven_command_goes_back_to_publishing_still_shown(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    """docs/http-api.md: a dropped transaction used to send a `complete` photo back to proof
    generation with its transaction cleared. With the proven command kept it goes back to
    publishing (re-signed, no proof made again) and keeps showing its last transaction id
    until the next one is sent."""
    [row] = await sent(pool, 1)
    await pool.execute("UPDATE submissions SET proven_command = '{\"kept\": true}' "
                       "WHERE id = $1", row["id"])
    await monitor.run_once()  # missed once: the abandon timer starts
    node.advance(SETTINGS.abandon_after_blocks)
    counts = await monitor.run_once()
    assert counts.abandoned == 1
    state = await pool.fetchrow("SELECT status, transaction_id, transaction_hash, proven_command "
                                "FROM submissions WHERE id = $1", row["id"])
    assert state["status"] == "proof_publishing" and state["proven_command"] == {"kept": True}
    assert state["transaction_id"] == row["hash"] and state["transaction_hash"] is None


# -- a real node's rules (docs/chain.md): nonce before drop, block hashes, reorgs ------------

FEE_PAYER = "B62qmonitorfeepayer"
ZKAPP = "B62qreceiptzkapp"


async def sent_as_actions(pool: asyncpg.Pool, node: StandinNode, count: int) -> list[dict]:
    """`count` rows published as today's publisher does: an action receipt (no token account),
    with the fee payer and the nonce each command used (migration 0011)."""
    await pool.execute("TRUNCATE users, challenges CASCADE")
    rows = await queue_submissions(pool, count, status="complete")
    node.accounts[(FEE_PAYER, DEFAULT_TOKEN)] = {"nonce": "0", "balance": "1000000000000"}
    for n, row in enumerate(rows):
        row["hash"], row["nonce"] = f"5Jaction{n}", n
        await pool.execute(
            "UPDATE submissions SET transaction_id = $2, transaction_hash = $2, "
            "transaction_nonce = $3, transaction_fee_payer = $4, receipt_zkapp_address = $5, "
            "chain_status = 'pending', published_at = now() WHERE id = $1",
            row["id"], row["hash"], n, FEE_PAYER, ZKAPP)
    return rows


def archived(node: StandinNode, height: int, command_hash: str) -> None:
    """The archive's record of one receipt action, as Archive-Node-API answers it."""
    node.archive_actions.setdefault(ZKAPP, []).append({
        "blockInfo": {"height": height, "stateHash": f"3NKarchived{height}", "parentHash": "3N",
                      "ledgerHash": "jx", "chainStatus": "canonical", "timestamp": "0",
                      "globalSlotSinceHardfork": height, "globalSlotSinceGenesis": height,
                      "distanceFromMaxBlockHeight": 0},
        "transactionInfo": None,  # the real resolver leaves it unfilled
        "actionData": [{"accountUpdateId": "7", "data": ["1", "2", "3"],
                        "transactionInfo": {"status": "applied", "hash": command_hash,
                                            "memo": "", "authorizationKind": "Proof",
                                            "sequenceNumber": 0, "zkappAccountUpdateIds": [7]}}],
        "actionState": {"actionStateOne": "1", "actionStateTwo": "0"}})


async def test_a_monitor_paused_beyond_the_frontier_never_sends_a_second_receipt(
        pool: asyncpg.Pool, node: StandinNode) -> None:
    """Included while the monitor was down, and out of the node's frontier when it looks: in
    no block and in no mempool. The fee payer's nonce says it was used, so the monitor finds
    the command in the archive instead of calling it dropped (which re-sent the photo: a
    second receipt)."""
    from touchgrass.chain.archive import ArchiveClient

    node.frontier = 5
    [row] = await sent_as_actions(pool, node, 1)
    node.pool.add(row["hash"])
    node.accounts[(FEE_PAYER, DEFAULT_TOKEN)]["nonce"] = "1"  # the block moved the nonce
    included_at = node.advance(1, including=[row["hash"]])
    archived(node, included_at, row["hash"])
    node.advance(30)  # the monitor is down for longer than the frontier
    client, archive = ChainClient(node.url), ArchiveClient(node.archive_url)
    monitor = Monitor(pool, client, MonitorSettings(finality_depth=3, abandon_after_blocks=4,
                                                    archive_block_range=10),
                      archive=archive, k=5)
    try:
        for _ in range(4):
            await monitor.run_once()
            node.advance(2)
        state = await chain_state(pool, row)
        assert state["status"] == "complete" and state["chain_status"] == "final", state
        assert state["chain_included_height"] == included_at
        # the archive was asked in ranges it accepts (`to` exclusive, at most 10 blocks)
        assert all(asked["to"] - asked["from"] <= 10 for asked in node.archive_asked)
    finally:
        await client.close()
        await archive.close()


async def test_a_used_nonce_without_the_command_found_waits_and_never_resends(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    [row] = await sent_as_actions(pool, node, 1)
    node.accounts[(FEE_PAYER, DEFAULT_TOKEN)]["nonce"] = "1"  # used, but found nowhere
    for _ in range(4):
        await monitor.run_once()
        node.advance(2)
    counts = await monitor.run_once()
    state = await chain_state(pool, row)
    assert counts.unresolved == 1 and counts.abandoned == 0
    assert state["status"] == "complete" and state["chain_status"] == "pending"


async def test_a_free_nonce_means_dropped(pool: asyncpg.Pool, node: StandinNode,
                                          monitor: Monitor) -> None:
    [row] = await sent_as_actions(pool, node, 1)  # the fee payer's nonce is still 0
    for _ in range(4):
        await monitor.run_once()
        node.advance(2)
    state = await chain_state(pool, row)
    assert state["chain_status"] == "abandoned" and "nonce is still free" in state["failure_reason"]


async def test_a_reorg_of_the_including_block_returns_the_row_to_pending(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    [row] = await sent_as_actions(pool, node, 1)
    node.pool.add(row["hash"])
    height = node.advance(1, including=[row["hash"]])
    first_block = node.blocks[-1].state_hash
    await monitor.run_once()
    assert await pool.fetchval("SELECT chain_included_block FROM submissions WHERE id = $1",
                               row["id"]) == first_block
    # the including block (and the one after it) are replaced; the command is back in the pool
    node.reorg(2, keep_out={row["hash"]})
    counts = await monitor.run_once()
    state = await chain_state(pool, row)
    assert counts.reorged == 1
    assert state["chain_status"] == "pending" and state["chain_included_height"] is None
    # it comes back in another block: included there, and final from there
    again = node.advance(1, including=[row["hash"]])
    await monitor.run_once()
    block = await pool.fetchval("SELECT chain_included_block FROM submissions WHERE id = $1",
                                row["id"])
    assert block == node.blocks[-1].state_hash and block != first_block
    assert (await chain_state(pool, row))["chain_included_height"] == again > height - 1
    node.advance(3)
    await monitor.run_once()
    assert (await chain_state(pool, row))["chain_status"] == "final"


async def test_a_reorg_that_keeps_the_command_moves_its_inclusion(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    [row] = await sent_as_actions(pool, node, 1)
    node.pool.add(row["hash"])
    node.advance(1, including=[row["hash"]])
    await monitor.run_once()
    node.reorg(1)  # another block at the same height, with the same command
    counts = await monitor.run_once()
    assert counts.reorged == 0
    assert await pool.fetchval("SELECT chain_included_block FROM submissions WHERE id = $1",
                               row["id"]) == node.blocks[-1].state_hash


async def test_each_pass_reads_only_the_new_blocks(pool: asyncpg.Pool, node: StandinNode,
                                                   monitor: Monitor) -> None:
    """The first pass reads the frontier once; later ones the blocks since (and the finality
    overlap), not bestChain(290) with transactions every few seconds."""
    asked: list[int | None] = []
    best_chain = monitor.chain.best_chain

    async def counting(max_length: int | None = None) -> list:
        asked.append(max_length)
        return await best_chain(max_length)

    monitor.chain.best_chain = counting  # type: ignore[method-assign]
    await sent_as_actions(pool, node, 1)
    await monitor.run_once()
    node.advance(2)
    await monitor.run_once()
    await monitor.run_once()
    assert asked[0] == 290 and asked[1:] == [2 + SETTINGS.finality_depth + 1,
                                            SETTINGS.finality_depth + 1]


async def test_a_row_complete_after_its_block_is_found_in_the_frontier_at_once(
        pool: asyncpg.Pool, node: StandinNode, monitor: Monitor) -> None:
    """A publisher that crashed after its send is succeeded by one that finds the command on
    chain and completes the row, blocks later: the monitor's passes read only the new blocks,
    so the row's block is not among them. The used nonce sends it to the node's whole
    frontier (no archive needed, no abandon timer), where it is found and final at once."""
    early, late = await sent_as_actions(pool, node, 2)
    node.pool.add(early["hash"])  # waiting in the mempool: every pass reads the chain
    await pool.execute("UPDATE submissions SET status = 'proof_publishing', chain_status = NULL "
                       "WHERE id = $1", late["id"])  # the crashed publisher's row
    await monitor.run_once()
    node.pool.add(late["hash"])
    included_at = node.advance(1, including=[late["hash"]])
    node.accounts[(FEE_PAYER, DEFAULT_TOKEN)]["nonce"] = "2"
    node.advance(12)
    await monitor.run_once()  # reads the 13 new blocks (and the overlap): no row has this one
    await pool.execute("UPDATE submissions SET status = 'complete', chain_status = 'pending' "
                       "WHERE id = $1", late["id"])  # the next publisher found it on chain
    node.advance(1)
    counts = await monitor.run_once()  # reads 1 block + the overlap
    state = await chain_state(pool, late)
    assert counts.included == 1 and counts.abandoned == 0
    assert state["chain_status"] == "final" and state["chain_included_height"] == included_at
