"""`touchgrass publish --concurrency 2` as the role runs it (the real worker, lane and
publisher on real PostgreSQL), against the stand-in daemon and a stand-in builder that needs
no o1js: photos are proven two at a time, sent one at a time in nonce order, each photo
proven once and sent once, and a command the node refuses leaves no nonce gap."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
import pytest

from tests.support.daemon_standin import DEFAULT_TOKEN, StandinNode
from tests.support.factories import queue_submissions
from touchgrass.chain.client import ChainClient
from touchgrass.chain.publisher import MinaPublisher
from touchgrass.queue.stages import PUBLISH
from touchgrass.roles.publish import make_publish_handler
from touchgrass.roles.runner import Lane, RoleControl, run_lanes
from touchgrass.settings import DatabaseSettings, QueueSettings

pytestmark = pytest.mark.anyio

FEE_PAYER = "B62qfeepayerofthelane"
ZKAPP = "B62qthechallengezkapp"
FIRST_NONCE = 5


class StandinBuilder:
    """The builder processes' ops, answered in Python: a proof takes `prove_s` of wall clock
    (so two at once overlap), a command's hash is made of its photo and nonce."""

    def __init__(self, prove_s: float = 0.2) -> None:
        self.prove_s = prove_s
        self.calls: Counter[str] = Counter()
        self.proving = 0
        self.most_at_once = 0

    @staticmethod
    def command(seed: str, nonce: int) -> dict[str, Any]:
        return {"feePayer": {"body": {"publicKey": FEE_PAYER, "nonce": str(nonce)}},
                "accountUpdates": [{"body": {"publicKey": ZKAPP}}], "memo": seed,
                "hash": f"5J{seed[-10:]}n{nonce}"}

    async def run(self, op: str, params: Mapping[str, Any], timeout_s: float | None = None
                  ) -> Any:
        self.calls[op] += 1
        if op == "verify_and_store_transaction":
            # each build is its own command (a new proof), told apart by its memo
            built = self.calls[op]
            self.proving += 1
            self.most_at_once = max(self.most_at_once, self.proving)
            try:
                await asyncio.sleep(self.prove_s)
            finally:
                self.proving -= 1
            command = self.command(f"build{built:08d}", params["nonce"])
            return {"command": command, "hash": command["hash"]}
        if op == "verify":  # the stored proof, checked against the builders' circuit
            stale = params["proof"].get("stale", False)
            return {"valid": not stale, "reason": "the proof does not verify" if stale else None}
        if op == "resign_transaction":
            command = self.command(params["command"]["memo"], params["nonce"])
            return {"command": command, "hash": command["hash"]}
        raise AssertionError(f"the publisher asked for {op}")


@pytest.fixture
async def node() -> AsyncIterator[StandinNode]:
    standin = await StandinNode().start()
    standin.advance(3)
    standin.accounts[(FEE_PAYER, DEFAULT_TOKEN)] = {"nonce": str(FIRST_NONCE),
                                                    "balance": str(10**12)}
    yield standin
    await standin.close()


async def publish_all(pool: asyncpg.Pool, database_url: str, node: StandinNode,
                      builder: StandinBuilder, count: int, *, concurrency: int,
                      stale: int = 0) -> list[dict]:
    """Queue `count` proven photos (the first `stale` with a proof an earlier circuit made),
    run the publish lane until all are complete or rejected."""
    rows = await queue_submissions(pool, count, status="proof_publishing",
                                   proof={"stand-in": True}, notify=True)
    for row in rows[:stale]:
        await pool.execute("UPDATE submissions SET proof_json = '{\"stale\": true}' "
                           "WHERE id = $1", row["id"])
    await pool.execute("UPDATE challenges SET deployment_status = 'active', zkapp_address = $1, "
                       "zkapp_token_id = 'wReceiptToken'", ZKAPP)
    client = ChainClient(node.url)
    publisher = MinaPublisher(pool=builder, chain=client, endpoint=node.url, network_id="devnet",
                              fee_payer_key="EKstandin", fee_payer_address=FEE_PAYER,
                              fee_nanomina=10**8, era_checked=True)
    control = RoleControl.new()
    queue = QueueSettings(poll_interval_s=0.2, publish_backoff_base_s=0.05, backoff_jitter=0)
    role = asyncio.create_task(run_lanes(
        "publish", [Lane(PUBLISH, make_publish_handler(publisher, pool))],
        database=DatabaseSettings(database_url=database_url), queue=queue,
        concurrency=concurrency, control=control, handle_signals=False))
    try:
        deadline = time.monotonic() + 60
        while await pool.fetchval("SELECT count(*) FROM submissions "
                                  "WHERE status IN ('complete', 'rejected')") < count:
            assert not role.done(), role.exception()
            assert time.monotonic() < deadline, "the photos were not all published"
            await asyncio.sleep(0.05)
    finally:
        control.stop.set()
        await role
        await client.close()
    return [dict(r) for r in await pool.fetch(
        "SELECT sha256_hash, status, transaction_hash, transaction_nonce, attempts, "
        "failure_reason FROM submissions ORDER BY transaction_nonce")] if rows else []


def sent_nonces(node: StandinNode) -> list[int]:
    return [int(node.sent[h]["feePayer"]["body"]["nonce"]) for h in node.sent_order]


async def test_two_builders_prove_at_once_and_the_lane_sends_ten_consecutive_nonces(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    builder = StandinBuilder()
    rows = await publish_all(pool, database_url, node, builder, 10, concurrency=2)
    assert builder.most_at_once == 2  # two transactions were proven at the same time
    assert builder.calls["verify_and_store_transaction"] == 10  # each photo proven once
    # each photo sent once, in nonce order, with no nonce used twice and none skipped
    assert sent_nonces(node) == list(range(FIRST_NONCE, FIRST_NONCE + 10))
    assert node.refused == []
    assert Counter(node.sent[h]["memo"] for h in node.sent_order).most_common(1)[0][1] == 1
    assert [r["transaction_nonce"] for r in rows] == list(range(FIRST_NONCE, FIRST_NONCE + 10))
    assert {r["transaction_hash"] for r in rows} == set(node.sent_order)
    # a photo proven for the nonce the lane then gave it is sent as it is: re-signing is
    # only for the ones whose guess was wrong (never more than the photos)
    assert builder.calls["resign_transaction"] < 10


async def test_a_refused_command_leaves_no_nonce_gap(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    builder = StandinBuilder()
    refused_once: set[str] = set()
    send = node._send

    def refuse_the_third(command: dict) -> dict:
        # the third photo to reach the node is refused once (its proof, say): the photo after
        # it, proven for the next nonce, must take the refused one's nonce instead
        if len(node.sent_order) == 2 and not refused_once:
            refused_once.add(command["memo"])
            raise ValueError("Couldn't send zkApp command: (Verification_failed "
                             "(Invalid_proof \"stand-in\"))")
        return send(command)

    node._send = refuse_the_third  # type: ignore[method-assign]
    rows = await publish_all(pool, database_url, node, builder, 6, concurrency=2)
    assert refused_once
    # no later command was sent with the refused one's nonce skipped (a daemon refuses that)
    assert node.refused == []
    assert sent_nonces(node) == list(range(FIRST_NONCE, FIRST_NONCE + 6))
    assert sorted(r["transaction_nonce"] for r in rows) == list(
        range(FIRST_NONCE, FIRST_NONCE + 6))
    # the refused one was proven again (its proof was refused); no other photo was
    assert builder.calls["verify_and_store_transaction"] == 7


async def test_a_proof_made_by_an_earlier_circuit_is_rejected_before_building(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    """After an upgrade that changes the circuit (docs/circuit.md, "Upgrading across a circuit
    change"), a proof stored by the earlier version is refused by the builders' circuit
    before seconds of proving; the row says how to prove it again, and the photos behind it
    are published."""
    builder = StandinBuilder()
    rows = await publish_all(pool, database_url, node, builder, 3, concurrency=1, stale=1)
    [rejected] = [r for r in rows if r["status"] == "rejected"]
    assert "made by an earlier one" in rejected["failure_reason"]
    assert f"touchgrass resubmit {rejected['sha256_hash']}" in rejected["failure_reason"]
    assert rejected["attempts"] == 1 and rejected["transaction_hash"] is None
    assert builder.calls["verify"] == 3
    assert builder.calls["verify_and_store_transaction"] == 2  # not for the stale one
    assert sent_nonces(node) == [FIRST_NONCE, FIRST_NONCE + 1]
    # rejected rows drop their proof, so a resubmit goes back to generate
    assert await pool.fetchval("SELECT proof_json FROM submissions WHERE status = 'rejected'"
                               ) is None


async def test_the_transaction_id_is_recorded_once_the_node_has_the_command(
        node: StandinNode) -> None:
    """docs/http-api.md: the web app lights its "Blockchain Transaction" step for an in-flight photo
    with a `transactionId`; it is recorded as soon as the node accepted the command, not
    only at `complete`."""
    import hashlib
    import uuid

    from touchgrass.chain import PublishRequest

    recorded: list[tuple[dict, bool]] = []

    async def record(fields: Mapping[str, Any]) -> bool:
        tx = fields.get("transaction_id")
        recorded.append((dict(fields), tx in node.sent if tx else False))
        return True

    client = ChainClient(node.url)
    publisher = MinaPublisher(pool=StandinBuilder(), chain=client, endpoint=node.url,
                              network_id="devnet", fee_payer_key="EKstandin",
                              fee_payer_address=FEE_PAYER, fee_nanomina=10**8, era_checked=True)
    digest = hashlib.sha256(b"a photo").hexdigest()
    try:
        receipt = await publisher.publish_proof(PublishRequest(
            submission_id=uuid.uuid4(), sha256_hex=digest, proof_json={"stand-in": True},
            chain_id=uuid.uuid4(), challenge_id=uuid.uuid4(), wallet_address="B62q",
            zkapp_address=ZKAPP, zkapp_token_id="wReceiptToken", record_progress=record))
    finally:
        await client.close()
    ids = [(fields, accepted) for fields, accepted in recorded if "transaction_id" in fields]
    assert ids == [({"transaction_id": receipt.transaction_hash}, True)]


async def test_a_challenge_on_an_earlier_contract_is_redeployed_before_its_next_photo(
        pool: asyncpg.Pool) -> None:
    """Migration 0010: a zkApp deployed before it (no verification key hash recorded: the
    token-account contract) takes no action receipts. Its next photo sends the challenge back
    to the deploy lane, fenced by the old address, without using the photo's attempt; once
    the current contract is deployed, the photo is published to it."""
    from tests.support.fakes import FlakyPublisher
    from touchgrass.queue.engine import Claimed
    from touchgrass.queue.outcomes import Done, Retry

    (row,) = await queue_submissions(pool, 1, status="proof_publishing", proof={"stand-in": True})
    await pool.execute("UPDATE challenges SET deployment_status = 'active', zkapp_address = $1, "
                       "zkapp_token_id = 'wOldToken'", ZKAPP)
    publisher = FlakyPublisher()
    publisher.contract_hash = "4242"
    handler = make_publish_handler(publisher, pool)

    async def job() -> Claimed:
        payload = dict(await pool.fetchrow(
            f"SELECT {', '.join(PUBLISH.payload_columns)} FROM submissions WHERE id = $1",
            row["id"]))
        return Claimed(id=row["id"], attempt=1, payload=payload)

    outcome = await handler(await job())
    assert isinstance(outcome, Retry) and not outcome.consume_attempt
    challenge = await pool.fetchrow("SELECT deployment_status, zkapp_address, failure_reason "
                                    "FROM challenges")
    assert challenge["deployment_status"] == "pending_deployment"
    assert challenge["zkapp_address"] is None and "earlier contract" in challenge["failure_reason"]
    assert publisher.calls == Counter()  # nothing was sent to the old zkApp
    # the deploy lane deployed the current contract: the photo goes to it
    await pool.execute("UPDATE challenges SET deployment_status = 'active', zkapp_address = "
                       "'B62qnewZkapp', zkapp_verification_key_hash = '4242'")
    assert isinstance(await handler(await job()), Done)
    assert sum(publisher.calls.values()) == 1
