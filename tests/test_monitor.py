"""The monitor against a stand-in daemon (the daemon's schema, executed by graphql-core) on
real PostgreSQL: it follows commands by hash through bestChain and the mempool, never asks
transactionStatus, survives a bad row, and keeps its timers on the rows (mina-daemon.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.support.daemon_standin import DEFAULT_TOKEN, StandinNode
from tests.support.factories import queue_submissions
from touchgrass.chain.client import ChainClient
from touchgrass.errors import ChainError
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
    with pytest.raises(ChainError, match="bestChain failed"):
        await monitor.run_once()
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
    """clients.md: a dropped transaction used to send a `complete` photo back to proof
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
