"""Batches (docs/decisions.md, "Batches") as the publish role runs them: the real worker, lane
and publisher on real PostgreSQL, against the stand-in daemon and a stand-in builder that
needs no o1js. Photos go out up to ten a command, two to an account update; each update is
proven once; a refused or failed batch is re-signed, never proven again; a photo whose proof
cannot be used leaves its batch alone; a lone photo waits at most the batch wait."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError

from tests.support.daemon_standin import DEFAULT_TOKEN, StandinNode
from tests.support.factories import queue_submissions
from touchgrass.chain.batch import MAX_PHOTOS_PER_COMMAND, recorded_digests
from touchgrass.chain.client import ChainClient
from touchgrass.chain.publisher import MinaPublisher
from touchgrass.queue.stages import PUBLISH
from touchgrass.roles.publish import make_publish_handler, publish_lanes
from touchgrass.roles.runner import RoleControl, run_lanes
from touchgrass.settings import ChainSettings, DatabaseSettings, QueueSettings

pytestmark = pytest.mark.anyio

FEE_PAYER = "B62qfeepayerofthelane"
ZKAPP = "B62qthechallengezkapp"
FIRST_NONCE = 5


def receipt_fields(digest_hex: str) -> list[str]:
    digest = bytes.fromhex(digest_hex)
    return ["1", str(int.from_bytes(digest[:16], "big")), str(int.from_bytes(digest[16:], "big")),
            "0", "0", "0", "0"]


class StandinBuilder:
    """The builder processes' ops, answered in Python: an update takes `prove_s` of wall clock
    (so two at once overlap) and records its photos' digests (the stand-in proof carries its
    photo's digest); a signed command's hash is made of its updates and its nonce."""

    def __init__(self, prove_s: float = 0.1) -> None:
        self.prove_s = prove_s
        self.calls: Counter[str] = Counter()
        self.photos_proven: Counter[str] = Counter()
        self.proving = 0
        self.most_at_once = 0

    async def run(self, op: str, params: Mapping[str, Any], timeout_s: float | None = None
                  ) -> Any:
        self.calls[op] += 1
        if op == "record_transaction":
            assert 1 <= len(params["photos"]) <= 2
            self.proving += 1
            self.most_at_once = max(self.most_at_once, self.proving)
            try:
                await asyncio.sleep(self.prove_s)
            finally:
                self.proving -= 1
            digests = [photo["proof"]["digest"] for photo in params["photos"]]
            self.photos_proven.update(digests)
            command = {"feePayer": {"body": {"publicKey": FEE_PAYER,
                                             "nonce": str(params["nonce"])}},
                       "accountUpdates": [{"body": {
                           "publicKey": params["zkappAddress"],
                           "actions": [receipt_fields(d) for d in digests],
                           "proof": f"proof-{self.calls[op]}"}}],
                       "memo": ""}
            return self.signed(command, params["nonce"])
        if op == "verify":  # the stored proof, checked against the builders' circuit
            stale = params["proof"].get("stale", False)
            return {"valid": not stale, "reason": "the proof does not verify" if stale else None}
        if op == "resign_transaction":
            return self.signed(params["command"], params["nonce"])
        raise AssertionError(f"the publisher asked for {op}")

    @staticmethod
    def signed(command: Mapping[str, Any], nonce: int) -> dict[str, Any]:
        signed = json.loads(json.dumps(command))
        signed.pop("hash", None)
        signed["feePayer"]["body"]["nonce"] = str(nonce)
        seed = hashlib.sha256(json.dumps(signed, sort_keys=True).encode()).hexdigest()
        signed["hash"] = f"5J{seed[:12]}n{nonce}"
        return {"command": signed, "hash": signed["hash"]}


@pytest.fixture
async def node() -> AsyncIterator[StandinNode]:
    standin = await StandinNode().start()
    standin.advance(3)
    standin.accounts[(FEE_PAYER, DEFAULT_TOKEN)] = {"nonce": str(FIRST_NONCE),
                                                    "balance": str(10**12)}
    yield standin
    await standin.close()


def make_publisher(builder: StandinBuilder, client: ChainClient, node: StandinNode, *,
                   batch_wait_s: float = 0.5) -> MinaPublisher:
    return MinaPublisher(pool=builder, chain=client, endpoint=node.url,  # type: ignore[arg-type]
                         network_id="devnet", fee_payer_key="EKstandin",
                         fee_payer_address=FEE_PAYER, fee_nanomina=10**8, era_checked=True,
                         batch_wait_s=batch_wait_s)


async def queue_photos(pool: asyncpg.Pool, count: int, *, stale: int = 0) -> list[dict]:
    """`count` proven photos (the first `stale` with a proof an earlier circuit made), on an
    active challenge."""
    rows = await queue_submissions(pool, count, status="proof_publishing",
                                   proof={"stand-in": True}, notify=True)
    await pool.execute("UPDATE submissions SET proof_json = jsonb_build_object('digest', "
                       "sha256_hash)")
    for row in rows[:stale]:
        await pool.execute("UPDATE submissions SET proof_json = '{\"stale\": true}' "
                           "WHERE id = $1", row["id"])
    await pool.execute("UPDATE challenges SET deployment_status = 'active', zkapp_address = $1, "
                       "zkapp_token_id = 'wReceiptToken'", ZKAPP)
    return rows


async def publish_all(pool: asyncpg.Pool, database_url: str, node: StandinNode,
                      builder: StandinBuilder, count: int, *, concurrency: int = 1,
                      stale: int = 0, batch_wait_s: float = 0.5, queued: bool = False,
                      until: str = "status IN ('complete', 'rejected')") -> list[dict]:
    """Queue `count` photos (unless `queued`), run the publish lanes as the role does until
    every row matches `until`."""
    if not queued:
        await queue_photos(pool, count, stale=stale)
    client = ChainClient(node.url)
    publisher = make_publisher(builder, client, node, batch_wait_s=batch_wait_s)
    control = RoleControl.new()
    # (by the settings' names: their fields take only those)
    queue = QueueSettings(QUEUE_POLL_INTERVAL_S=0.2, PUBLISH_BACKOFF_BASE_S=0.05,
                          QUEUE_BACKOFF_JITTER=0)
    assert queue.poll_interval_s == 0.2
    role = asyncio.create_task(run_lanes(
        "publish", publish_lanes(publisher, pool, batch_size=publisher.batch_size),
        database=DatabaseSettings(database_url=database_url), queue=queue,
        concurrency=concurrency, control=control, handle_signals=False))
    try:
        deadline = time.monotonic() + 60
        while await pool.fetchval(f"SELECT count(*) FROM submissions WHERE {until}") < count:
            assert not role.done(), role.exception()
            assert time.monotonic() < deadline, "the photos were not all published"
            await asyncio.sleep(0.05)
    finally:
        control.stop.set()
        await role
        await client.close()
    return [dict(r) for r in await pool.fetch(
        "SELECT sha256_hash, status, transaction_hash, transaction_nonce, attempts, "
        "failure_reason, batch_position, batch_size, proven_command FROM submissions "
        "ORDER BY transaction_nonce, batch_position")]


def sent_nonces(node: StandinNode) -> list[int]:
    return [int(node.sent[h]["feePayer"]["body"]["nonce"]) for h in node.sent_order]


def photos_sent(node: StandinNode) -> Counter[str]:
    return Counter(d for h in node.sent_order for d in recorded_digests(node.sent[h]))


def test_the_batch_setting_allows_what_the_command_size_rule_allows() -> None:
    """settings.py cannot import chain/batch.py (layers): its bound is written as a number."""
    assert ChainSettings().publish_batch_size == MAX_PHOTOS_PER_COMMAND
    assert ChainSettings(publish_batch_size=MAX_PHOTOS_PER_COMMAND)
    with pytest.raises(ValidationError):
        ChainSettings(publish_batch_size=MAX_PHOTOS_PER_COMMAND + 1)


async def test_a_burst_of_25_goes_out_in_three_commands_with_consecutive_nonces(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    builder = StandinBuilder()
    rows = await publish_all(pool, database_url, node, builder, 25, concurrency=2)
    assert [r["status"] for r in rows] == ["complete"] * 25
    # three commands (10, 10, 5 photos), consecutive nonces, every photo in exactly one
    assert sent_nonces(node) == [FIRST_NONCE, FIRST_NONCE + 1, FIRST_NONCE + 2]
    assert node.refused == []
    assert [len(recorded_digests(node.sent[h])) for h in node.sent_order] == [10, 10, 5]
    assert photos_sent(node) == Counter({r["sha256_hash"]: 1 for r in rows})
    # two photos an update: 5 + 5 + 3 proofs for 25 photos, each photo proven once
    assert builder.calls["record_transaction"] == 13
    assert set(builder.photos_proven.values()) == {1}
    assert builder.most_at_once >= 2  # a batch's updates are proven at once (the pool bounds it)
    # each row knows its command and its place in it
    for tx_hash in node.sent_order:
        places = sorted(r["batch_position"] for r in rows if r["transaction_hash"] == tx_hash)
        assert places == list(range(1, len(places) + 1))
        assert {r["batch_size"] for r in rows if r["transaction_hash"] == tx_hash} == \
            {len(places)}


async def test_a_refused_batch_is_signed_again_not_proven_again(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    """A nonce another command took while the batch was proven: the lane signs the batch for
    the next nonce; the proofs are counted, none is made twice."""
    builder = StandinBuilder()
    send = node._send
    taken: list[int] = []

    def take_the_nonce_first(command: dict) -> dict:
        if not taken:  # someone else's command takes the nonce just before ours
            taken.append(int(command["feePayer"]["body"]["nonce"]))
            node.accounts[(FEE_PAYER, DEFAULT_TOKEN)]["nonce"] = str(taken[0] + 1)
        return send(command)

    node._send = take_the_nonce_first  # type: ignore[method-assign]
    rows = await publish_all(pool, database_url, node, builder, 6)
    assert node.refused == ["Invalid_nonce"]
    assert sent_nonces(node) == [FIRST_NONCE + 1]  # the same batch, signed again
    assert {r["transaction_hash"] for r in rows} == set(node.sent_order)
    assert builder.calls["record_transaction"] == 3  # 6 photos, 3 updates, each proven once
    assert builder.calls["resign_transaction"] == 2  # signed for the taken nonce, then again
    assert [r["attempts"] for r in rows] == [0] * 6


async def test_a_failed_batch_is_retried_with_its_updates_as_proven(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    """A batch the node refused for a reason of its own (here a signature) goes back to the
    queue; the next attempt puts the same updates, kept on the rows, in a new command."""
    builder = StandinBuilder()
    node.send_refusal = "Invalid_signature"
    await queue_photos(pool, 5)
    await publish_all(pool, database_url, node, builder, 5, queued=True,
                      until="attempts >= 1 AND proven_command IS NOT NULL")
    assert builder.calls["record_transaction"] == 3
    node.send_refusal = None
    rows = await publish_all(pool, database_url, node, builder, 5, queued=True)
    assert [r["status"] for r in rows] == ["complete"] * 5
    assert builder.calls["record_transaction"] == 3  # nothing proven again
    assert sent_nonces(node) == [FIRST_NONCE]
    assert photos_sent(node) == Counter({r["sha256_hash"]: 1 for r in rows})


async def test_a_photo_whose_proof_is_unusable_leaves_its_batch_alone(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    """After an upgrade that changes the circuit (docs/circuit.md, "Upgrading across a circuit
    change"), a proof stored by the earlier version is refused by the builders' circuit
    before seconds of proving; the row says how to prove it again, and the rest of its batch
    is published without it."""
    builder = StandinBuilder()
    rows = await publish_all(pool, database_url, node, builder, 5, stale=1)
    [rejected] = [r for r in rows if r["status"] == "rejected"]
    assert "made by an earlier one" in rejected["failure_reason"]
    assert f"touchgrass resubmit {rejected['sha256_hash']}" in rejected["failure_reason"]
    assert rejected["attempts"] == 1 and rejected["transaction_hash"] is None
    assert builder.calls["verify"] == 5
    assert builder.calls["record_transaction"] == 2  # the other four, two updates
    assert sent_nonces(node) == [FIRST_NONCE]
    assert len(photos_sent(node)) == 4 and rejected["sha256_hash"] not in photos_sent(node)
    # rejected rows drop their proof, so a resubmit goes back to generate
    assert await pool.fetchval("SELECT proof_json FROM submissions WHERE status = 'rejected'"
                               ) is None


async def test_a_kept_update_whose_partner_is_not_in_the_batch_is_proven_again_alone(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    """An update records two photos: sending it for one of them alone would record the other
    twice. A photo retried apart from its partner gets a new update; the partner's kept
    update is not sent with it."""
    builder = StandinBuilder()
    node.send_refusal = "Invalid_signature"
    rows = await queue_photos(pool, 2)
    await publish_all(pool, database_url, node, builder, 2, queued=True,
                      until="attempts >= 1 AND proven_command IS NOT NULL")
    assert builder.calls["record_transaction"] == 1  # one update for both
    node.send_refusal = None
    # the partner is gone meanwhile (its user deleted it): only one is left to publish
    await pool.execute("DELETE FROM submissions WHERE id = $1", rows[1]["id"])
    await publish_all(pool, database_url, node, builder, 1, queued=True)
    assert builder.calls["record_transaction"] == 2
    assert photos_sent(node) == Counter({rows[0]["sha256_hash"]: 1})


async def sent_then_dropped(pool: asyncpg.Pool, database_url: str, node: StandinNode,
                            builder: StandinBuilder) -> list[dict]:
    """Two photos whose update was proven and sent, then dropped by the chain: back in the
    queue with the update kept and their proofs no longer stored."""
    node.send_refusal = "Invalid_signature"
    rows = await queue_photos(pool, 2)
    await publish_all(pool, database_url, node, builder, 2, queued=True,
                      until="attempts >= 1 AND proven_command IS NOT NULL")
    node.send_refusal = None
    await pool.execute("UPDATE submissions SET proof_json = NULL")
    assert builder.calls["record_transaction"] == 1
    # another command took the nonce meanwhile: a resend is a new command, not the old hash
    node.accounts[(FEE_PAYER, DEFAULT_TOKEN)]["nonce"] = str(FIRST_NONCE + 1)
    return rows


async def test_a_photo_without_its_partner_waits_a_batch_for_it(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    """The partner comes back a little later (a claim apart): the photo held back for it
    goes out with it, in the update proven the first time."""
    builder = StandinBuilder()
    rows = await sent_then_dropped(pool, database_url, node, builder)
    # the partner ready 1.5 s after the photo: after its first batch (0.8 s) closed without it
    await pool.execute("UPDATE submissions SET run_at = now() + CASE WHEN id = $1 THEN "
                       "interval '1.5 seconds' ELSE interval '0 seconds' END", rows[1]["id"])
    published = await publish_all(pool, database_url, node, builder, 2, queued=True,
                                  batch_wait_s=0.8)
    assert [r["status"] for r in published] == ["complete"] * 2
    assert builder.calls["record_transaction"] == 1  # nothing proven again
    assert photos_sent(node) == Counter({r["sha256_hash"]: 1 for r in rows})
    assert len(node.sent_order) == 1


async def test_a_photo_whose_partner_never_comes_is_sent_with_the_kept_update(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    """No proof to make a new update from, and the partner gone: after two batches the kept
    update goes anyway (its partner's record, if the partner is ever sent, is then there
    twice, which changes no verdict); nothing is lost, nothing is proven again."""
    builder = StandinBuilder()
    rows = await sent_then_dropped(pool, database_url, node, builder)
    await pool.execute("DELETE FROM submissions WHERE id = $1", rows[1]["id"])
    await pool.execute("UPDATE submissions SET run_at = now()")
    started = time.monotonic()
    published = await publish_all(pool, database_url, node, builder, 1, queued=True,
                                  batch_wait_s=0.3)
    assert [r["status"] for r in published] == ["complete"]
    assert time.monotonic() - started >= 3 * 0.3  # held back twice, then sent
    assert builder.calls["record_transaction"] == 1
    assert photos_sent(node) == Counter({r["sha256_hash"]: 1 for r in rows})


async def test_a_lone_photo_waits_the_batch_wait_and_no_longer(
        pool: asyncpg.Pool, database_url: str, node: StandinNode) -> None:
    builder = StandinBuilder(prove_s=0)
    await queue_photos(pool, 1)
    started = time.monotonic()
    rows = await publish_all(pool, database_url, node, builder, 1, queued=True,
                             batch_wait_s=1.0)
    took = time.monotonic() - started
    assert [r["batch_size"] for r in rows] == [1]
    assert 1.0 <= took < 1.0 + 1.5  # the wait, then a claim's poll and a send


async def test_the_transaction_id_is_recorded_once_the_node_has_the_command(
        node: StandinNode) -> None:
    """docs/http-api.md: the web app lights its "Blockchain Transaction" step for an in-flight photo
    with a `transactionId`; it is recorded as soon as the node accepted the command, not
    only at `complete`."""
    import uuid

    from touchgrass.chain import PublishRequest

    recorded: list[tuple[dict, bool]] = []

    async def record(fields: Mapping[str, Any]) -> bool:
        tx = fields.get("transaction_id")
        recorded.append((dict(fields), tx in node.sent if tx else False))
        return True

    client = ChainClient(node.url)
    publisher = make_publisher(StandinBuilder(), client, node, batch_wait_s=0)
    digest = hashlib.sha256(b"a photo").hexdigest()
    try:
        receipt = await publisher.publish_proof(PublishRequest(
            submission_id=uuid.uuid4(), sha256_hex=digest, proof_json={"digest": digest},
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
