"""The zkApp on the local devnet through the Python chain client (marked zk): deploy, a
receipt with a real proof, mempool nonce rules, a tampered proof refused, a restart that
keeps everything, and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import psutil
import pytest
from graphql import build_schema, parse, validate

from tests.conftest import REPO_ROOT
from tests.support.net import free_port
from touchgrass.chain.archive import ArchiveClient
from touchgrass.chain.batch import compose, recorded_digests
from touchgrass.chain.client import ChainClient
from touchgrass.chain.records import chain_id_field, receipt_fields
from touchgrass.devtools.devnet import DAEMON_SCHEMA, start_devnet
from touchgrass.errors import NodeNotSynced, ProverRequestError, SendErrorKind, SendRejected
from touchgrass.node import ops
from touchgrass.node.checks import open_checks
from touchgrass.node.install import find_node, install
from touchgrass.node.keys import known_keys
from touchgrass.node.pool import PoolConfig, ProverPool
from touchgrass.node.prover import O1jsProver, ProofRequest
from touchgrass.settings import ProverSettings
from touchgrass.signatures import generate_private_key, sign

pytestmark = [pytest.mark.anyio, pytest.mark.zk, pytest.mark.timeout(1500)]

FEE = 100_000_000



@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("devnet")


@pytest.fixture(scope="module")
async def world(state_dir: Path):
    """A devnet, a fee payer from it, and a prover pool that also builds zkApp transactions."""
    port = free_port()
    network = await start_devnet(port=port, state_dir=state_dir, block_interval_s=1.0)
    async with aiohttp.ClientSession() as http:
        payer = await (await http.get(f"{network.base_url}/acquire-account")).json()
    settings = ProverSettings()
    private, public = generate_private_key("secp256k1")
    pool = ProverPool(PoolConfig(size=1, curve="secp256k1", cache_dir=str(settings.circuit_cache_path),
                                 zkapp=True), install(settings.prover_js_dir))
    await pool.start()
    chain = ChainClient(network.graphql)
    shared = {"network": network, "payer": payer, "pool": pool, "chain": chain, "port": port,
              "prover": O1jsProver(pool, public), "signer_private": private, "signer": public}
    yield shared
    await chain.close()
    await pool.close()
    await shared["network"].stop()


async def until(predicate, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.3)


async def next_nonce(world) -> int:
    return (await world["chain"].account(world["payer"]["pk"])).next_nonce


async def deploy(world, nonce: int) -> ops.DeployTransaction:
    return await ops.deploy_transaction(
        world["pool"], endpoint=world["network"].graphql, network_id="devnet",
        fee_payer_key=world["payer"]["sk"], nonce=nonce, fee_nanomina=FEE)


async def included(world, tx_hash: str) -> bool:
    """Followed by hash through bestChain, as the monitor does on a real node."""
    return any(tx_hash in block.zkapp_command_hashes
               for block in await world["chain"].best_chain())


async def graphql(world, query: str, variables: dict | None = None) -> dict:
    async with aiohttp.ClientSession() as http:
        answer = await http.post(world["network"].graphql,
                                 json={"query": query, "variables": variables or {}})
        return await answer.json()


STATUS = "query S($id: ID!) { transactionStatus(zkappTransaction: $id) }"


def graphql_literal(value) -> str:
    """A JSON value as a GraphQL input literal (object keys unquoted), as o1js writes it."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {graphql_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(graphql_literal(v) for v in value) + "]"
    return json.dumps(value)


async def receipt_for(world, zkapp: str, digest: bytes, chain_id: uuid.UUID):
    signature = sign(world["signer_private"], digest, "secp256k1")
    proof = await world["prover"].prove(ProofRequest(digest, signature, digest.hex()))
    return await ops.record_transaction(
        world["pool"], endpoint=world["network"].graphql, network_id="devnet",
        fee_payer_key=world["payer"]["sk"], nonce=await next_nonce(world), fee_nanomina=FEE,
        zkapp_address=zkapp, photos=[ops.RecordedPhoto(chain_id_field(chain_id), proof)])


async def recorded(world, zkapp: str) -> list[tuple[int, ...]]:
    """The zkApp's records as the devnet's archive serves them, oldest first."""
    archive = ArchiveClient(world["network"].archive)
    try:
        return [action.fields for block in await archive.actions(zkapp)
                for action in block.actions]
    finally:
        await archive.close()


async def pause_blocks(world, paused: bool) -> None:
    async with aiohttp.ClientSession() as http:
        await http.post(f"{world['network'].base_url}/devnet/pause", json={"paused": paused})


async def test_deploy_then_a_receipt_with_a_real_proof(world) -> None:
    chain = world["chain"]
    built = await deploy(world, await next_nonce(world))
    await pause_blocks(world, True)  # hold blocks to see the command in the mempool
    try:
        # Asked the way o1js's tx.send() asks: the command inline, `id` and `hash` selected.
        answer = await graphql(world, "mutation($input: SendZkappInput!) { sendZkapp(input: "
                               "$input) { zkapp { id hash } } }",
                               {"input": {"zkappCommand": built.command}})
        sent = answer["data"]["sendZkapp"]["zkapp"]
        assert sent["hash"] == built.hash
        # As on a daemon: `id` is the whole serialized command (long), and transactionStatus
        # takes only that; a hash is a GraphQL error, not UNKNOWN.
        assert len(sent["id"]) > 5_000  # a deploy carries the verification key; far over 255
        assert (await graphql(world, STATUS, {"id": sent["id"]}))["data"] == \
            {"transactionStatus": "PENDING"}
        refused = await graphql(world, STATUS, {"id": built.hash})
        assert refused["data"] is None and "Invalid transaction" in refused["errors"][0]["message"]
        assert built.hash in await chain.pooled_hashes(public_key=world["payer"]["pk"])
        # A pending command changes no account until a block includes it.
        assert await chain.account(built.zkapp_address) is None
    finally:
        await pause_blocks(world, False)
    await until(lambda: included(world, built.hash))
    assert (await graphql(world, STATUS, {"id": sent["id"]}))["data"] == \
        {"transactionStatus": "INCLUDED"}
    world["deploy_id"] = sent["id"]
    zkapp_account = await chain.account(built.zkapp_address)
    assert zkapp_account is not None and zkapp_account.zkapp_state is not None

    digest = hashlib.sha256(os.urandom(4096)).digest()
    chain_id = uuid.uuid4()
    receipt = await receipt_for(world, built.zkapp_address, digest, chain_id)
    balance_before = (await chain.account(world["payer"]["pk"])).balance_nanomina
    # Sent the other way a daemon accepts, and o1js's own tx.send() uses: inline in the text.
    answer = await graphql(world, "mutation { sendZkapp(input: { zkappCommand: "
                           f"{graphql_literal(receipt.command)} }}) {{ zkapp {{ hash }} }} }}")
    assert answer.get("errors") is None, answer
    assert answer["data"]["sendZkapp"]["zkapp"]["hash"] == receipt.hash
    await until(lambda: included(world, receipt.hash))
    blocks = await chain.best_chain(30)
    assert any(receipt.hash in block.zkapp_command_hashes for block in blocks)

    # The receipt is an action: no account was created, the fee is the whole cost.
    paid = balance_before - (await chain.account(world["payer"]["pk"])).balance_nanomina
    assert paid == FEE, paid
    print(f"a photo's receipt cost {paid / 1e9:g} MINA (fee only; no new account)")
    signer = world["signer"]
    fields = tuple(receipt_fields(chain_id, digest, signer.x, signer.y))
    assert await recorded(world, built.zkapp_address) == [fields]
    # The zkApp runs the contract whose key touchgrass stores (no compile needed to check),
    # and the archive's actions fold into the action state the node holds.
    account = await chain.zkapp(built.zkapp_address)
    assert account.verification_key_hash == known_keys().current("secp256k1").zkapp.hash
    assert (await ops.info(world["pool"])).verification_key_hash == \
        known_keys().current("secp256k1").program.hash
    async with open_checks(ProverSettings()) as checks:
        assert int(await ops.action_state(checks, [[[str(v) for v in fields]]])) == \
            account.action_state
    archive = ArchiveClient(world["network"].archive)
    try:
        (block,) = await archive.actions(built.zkapp_address)
    finally:
        await archive.close()
    assert block.actions[0].transaction_hash == receipt.hash
    world["deployed"] = (built.zkapp_address, account.action_state)

    # Records are only appended: the same photo recorded again adds a second record and
    # leaves the first as it was.
    again = await receipt_for(world, built.zkapp_address, digest, chain_id)
    second = await chain.send_zkapp(again.command)
    await until(lambda: included(world, second.hash))
    assert await recorded(world, built.zkapp_address) == [fields, fields]
    world["deployed"] = (built.zkapp_address, (await chain.zkapp(built.zkapp_address)).action_state)


async def test_same_nonce_is_refused_and_consecutive_nonces_land_in_order(world) -> None:
    chain = world["chain"]
    nonce = await next_nonce(world)
    first, clash, second = await deploy(world, nonce), await deploy(world, nonce), \
        await deploy(world, nonce + 1)
    # Blocks are held while the clash is sent: with `first` still in the pool the node must
    # answer a replace-fee refusal (once a block includes it, the answer is Invalid_nonce,
    # checked at the end). CI once saw a block land between the two sends.
    await pause_blocks(world, True)
    try:
        accepted = await chain.send_zkapp(first.command)
        with pytest.raises(SendRejected) as refused:
            await chain.send_zkapp(clash.command)
        assert refused.value.message == 'Couldn\'t send zkApp command: ["Insufficient_replace_fee"]'
        assert refused.value.kind is SendErrorKind.REPLACE_FEE
        later = await chain.send_zkapp(second.command)
        account = await chain.account(world["payer"]["pk"])
        assert (account.nonce, account.inferred_nonce) == (nonce, nonce + 2)
    finally:
        await pause_blocks(world, False)
    await until(lambda: included(world, later.hash))
    assert await included(world, accepted.hash)
    order = [h for block in await chain.best_chain(30) for h in block.zkapp_command_hashes]
    assert order.index(first.hash) < order.index(second.hash)
    assert (await chain.account(world["payer"]["pk"])).nonce == nonce + 2
    with pytest.raises(SendRejected) as stale:
        await chain.send_zkapp((await deploy(world, nonce)).command)
    assert stale.value.kind is SendErrorKind.NONCE
    # Re-sending a command that is already in a block fails on its nonce (Duplicate is only
    # for one still in the pool), as on a daemon.
    with pytest.raises(SendRejected) as again:
        await chain.send_zkapp(first.command)
    assert again.value.message == 'Couldn\'t send zkApp command: ["Invalid_nonce"]'


async def test_a_proven_command_signed_again_with_another_nonce_is_accepted(world) -> None:
    """docs/decisions.md, "A retry re-signs": no proven body of `recordOne`/`recordTwo`
    mentions the fee payer's nonce, so a command whose nonce was taken needs new signatures
    only, never a new proof. The publisher's cheap retry depends on this; it is checked here
    on every run."""
    zkapp, _ = world["deployed"]
    chain = world["chain"]
    digest = hashlib.sha256(os.urandom(512)).digest()
    nonce = await next_nonce(world)
    receipt = await receipt_for(world, zkapp, digest, uuid.uuid4())  # proven with `nonce`
    # another command takes that nonce first
    taker = await deploy(world, nonce)
    await chain.send_zkapp(taker.command)
    with pytest.raises(SendRejected):
        await chain.send_zkapp(receipt.command)
    started = time.monotonic()
    resigned = await ops.resign_transaction(
        world["pool"], command=receipt.command, nonce=nonce + 1, network_id="devnet",
        fee_payer_key=world["payer"]["sk"])
    command, tx_hash = resigned.command, resigned.hash
    resigned_s = time.monotonic() - started
    assert tx_hash != receipt.hash
    proofs = [u["authorization"].get("proof") for u in command["accountUpdates"]]
    assert proofs == [u["authorization"].get("proof") for u in receipt.command["accountUpdates"]]
    sent = await chain.send_zkapp(command)
    assert sent.hash == tx_hash
    await until(lambda: included(world, tx_hash))
    failures = {h for block in await chain.best_chain() for h in block.failed}
    assert tx_hash not in failures
    assert any(fields[1] == int.from_bytes(digest[:16], "big")
               for fields in await recorded(world, zkapp))
    world["deployed"] = (zkapp, (await chain.zkapp(zkapp)).action_state)
    print(f"re-signed in {resigned_s * 1000:.0f} ms (no proof)")


async def test_a_command_with_a_tampered_proof_is_refused(world) -> None:
    zkapp, _ = world["deployed"]
    receipt = await receipt_for(world, zkapp, hashlib.sha256(os.urandom(64)).digest(), uuid.uuid4())
    tampered = copy.deepcopy(receipt.command)
    proved = [u for u in tampered["accountUpdates"] if u["authorization"].get("proof")]
    assert proved, "the zkApp's update carries a proof"
    body = proved[0]["authorization"]["proof"]
    middle = len(body) // 2
    proved[0]["authorization"]["proof"] = body[:middle] + ("A" if body[middle] != "A" else "B") \
        + body[middle + 1:]
    nonce_before = await next_nonce(world)
    with pytest.raises(SendRejected) as refused:
        await world["chain"].send_zkapp(tampered)
    assert refused.value.kind in {SendErrorKind.INVALID_PROOF, SendErrorKind.OTHER}
    assert "Couldn't" in refused.value.message
    assert await next_nonce(world) == nonce_before


async def test_a_command_over_the_daemons_size_rule_is_refused_in_its_words(world) -> None:
    """Seven proofs in one command (7 x 10.26 + 9.14 for the fee payer is over 69.45): the
    daemon refuses it before looking at nonces or proofs, and so does the devnet."""
    zkapp, _ = world["deployed"]
    receipt = await receipt_for(world, zkapp, hashlib.sha256(os.urandom(64)).digest(), uuid.uuid4())
    command = copy.deepcopy(receipt.command)
    proved = [u for u in command["accountUpdates"] if u["authorization"].get("proof")]
    command["accountUpdates"] += [copy.deepcopy(proved[0]) for _ in range(6)]
    nonce_before = await next_nonce(world)
    with pytest.raises(SendRejected) as refused:
        await world["chain"].send_zkapp(command)
    assert refused.value.kind is SendErrorKind.TOO_BIG
    assert refused.value.message.endswith(
        "Zkapp too big (zkapp transaction too expensive) \")")
    assert await next_nonce(world) == nonce_before


async def photo_proof(world, digest: bytes) -> dict:
    signature = sign(world["signer_private"], digest, "secp256k1")
    return await world["prover"].prove(ProofRequest(digest, signature, digest.hex()))


async def test_updates_of_two_photos_and_of_one_make_one_command(world) -> None:
    """docs/decisions.md, "Batches": each update is proven in a command of its own; the batch
    is their account updates under one fee payer, signed for the lane's nonce. The devnet
    (proofs verified, as a daemon does) takes it; the archive lists three actions in two
    account updates of one transaction, and they fold into the node's action state."""
    zkapp, _ = world["deployed"]
    chain = world["chain"]
    chain_id = uuid.uuid4()
    digests = [hashlib.sha256(os.urandom(256)).digest() for _ in range(3)]
    proofs = [await photo_proof(world, digest) for digest in digests]
    photos = [ops.RecordedPhoto(chain_id_field(chain_id), proof) for proof in proofs]
    nonce = await next_nonce(world)
    two = await ops.record_transaction(
        world["pool"], endpoint=world["network"].graphql, network_id="devnet",
        fee_payer_key=world["payer"]["sk"], nonce=nonce, fee_nanomina=FEE,
        zkapp_address=zkapp, photos=photos[:2])
    one = await ops.record_transaction(
        world["pool"], endpoint=world["network"].graphql, network_id="devnet",
        fee_payer_key=world["payer"]["sk"], nonce=nonce, fee_nanomina=FEE,
        zkapp_address=zkapp, photos=photos[2:])
    # No signed companion: one proof update each, the admin's consent inside the proof.
    for built in (two, one):
        assert [u["body"]["authorizationKind"]["isProved"] for u in
                built.command["accountUpdates"]] == [True]
    assert recorded_digests(two.command) == {digests[0].hex(), digests[1].hex()}
    batch = await ops.resign_transaction(
        world["pool"], command=compose([two.command, one.command]), nonce=nonce,
        network_id="devnet", fee_payer_key=world["payer"]["sk"])
    balance_before = (await chain.account(world["payer"]["pk"])).balance_nanomina
    sent = await chain.send_zkapp(batch.command)
    await until(lambda: included(world, sent.hash))
    paid = balance_before - (await chain.account(world["payer"]["pk"])).balance_nanomina
    assert paid == FEE  # one fee for three photos
    signer = world["signer"]
    # Within an account update the archive lists actions in the update's own order, newest
    # first (o1js puts each dispatch in front): the second photo of the pair, then the first.
    expected = [tuple(receipt_fields(chain_id, digests[i], signer.x, signer.y))
                for i in (1, 0, 2)]
    archive = ArchiveClient(world["network"].archive)
    try:
        blocks = await archive.actions(zkapp)
    finally:
        await archive.close()
    [block] = [b for b in blocks if any(a.transaction_hash == sent.hash for a in b.actions)]
    assert [a.fields for a in block.actions if a.transaction_hash == sent.hash] == expected
    assert [len(update) for update in block.updates()] == [2, 1]
    account = await chain.zkapp(zkapp)
    async with open_checks(ProverSettings()) as checks:
        states = await ops.action_states(checks, block.state_before, [
            [[[str(v) for v in a.fields] for a in update] for update in block.updates()]])
    assert states[-1] == account.action_state
    world["deployed"] = (zkapp, account.action_state)
    world["two_photo_update"] = two.command

    # Six of these updates are over the daemon's size rule (6 x 10.26 + 9.14 > 69.45): the
    # publisher never composes more than five.
    six = compose([two.command] * 5)
    six["accountUpdates"] += copy.deepcopy(two.command["accountUpdates"])
    with pytest.raises(SendRejected) as refused:
        await chain.send_zkapp((await ops.resign_transaction(
            world["pool"], command=six, nonce=await next_nonce(world), network_id="devnet",
            fee_payer_key=world["payer"]["sk"])).command)
    assert refused.value.kind is SendErrorKind.TOO_BIG


async def test_only_the_zkapps_admin_can_record_in_it(world) -> None:
    """The admin gate is a signature checked inside the contract: a stranger (any other fee
    payer) cannot make an update that records in the operator's zkApp."""
    zkapp, _ = world["deployed"]
    async with aiohttp.ClientSession() as http:
        stranger = await (await http.get(f"{world['network'].base_url}/acquire-account")).json()
    digest = hashlib.sha256(os.urandom(256)).digest()
    proof = await photo_proof(world, digest)
    with pytest.raises(ProverRequestError, match="not signed by the zkApp's admin"):
        await ops.record_transaction(
            world["pool"], endpoint=world["network"].graphql, network_id="devnet",
            fee_payer_key=stranger["sk"], nonce=0, fee_nanomina=FEE, zkapp_address=zkapp,
            photos=[ops.RecordedPhoto("1", proof)])


async def test_a_restarted_devnet_still_has_the_zkapp_and_the_receipt(world, state_dir) -> None:
    zkapp, action_state = world["deployed"]
    records = await recorded(world, zkapp)
    await world["network"].stop()
    # Restarted as a node that is still catching up, with a short frontier.
    world["network"] = await start_devnet(port=world["port"], state_dir=state_dir,
                                          block_interval_s=1.0, unsynced_s=5,
                                          frontier_blocks=2)
    chain = world["chain"]
    with pytest.raises(NodeNotSynced):
        await chain.account(zkapp)
    await until(lambda: synced(chain), timeout=30)
    assert (await chain.account(zkapp)).zkapp_state is not None
    # the journal replayed: the same records, the same action state
    assert (await chain.zkapp(zkapp)).action_state == action_state
    assert await recorded(world, zkapp) == records
    # Older than the frontier: the daemon can no longer say INCLUDED, only UNKNOWN.
    assert len(await chain.best_chain()) == 2
    assert (await graphql(world, STATUS, {"id": world["deploy_id"]}))["data"] == \
        {"transactionStatus": "UNKNOWN"}


async def synced(chain: ChainClient) -> bool:
    return (await chain.node_info()).sync_status == "SYNCED"


async def test_o1js_own_documents_are_valid_and_answered(world) -> None:
    """The queries o1js 2.15 itself sends (fetchAccount, the last-block, genesis-constants,
    current-slot and failure-check queries), read from the installed package, are valid
    against the daemon's SDL and answered by the devnet without errors."""
    installation = install(ProverSettings().prover_js_dir)
    script = (
        "const m = await import(new URL('./lib/mina/v1/graphql.js', import.meta.resolve('o1js')));"
        f"console.log(JSON.stringify({{account: m.accountQuery('{world['payer']['pk']}', "
        "'wSHV2S4qX9jFsLjQo8r1BsMLH2ZRKsZx6EJd1sbozGPieEC4Jf'), lastBlock: m.lastBlockQuery, "
        "genesis: m.genesisConstantsQuery, slot: m.currentSlotQuery, "
        "failures: m.lastBlockQueryFailureCheck(3)}));")
    node = find_node(ProverSettings().node_binary)
    printed = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True,
                             text=True, cwd=installation.directory, timeout=60, check=True)
    documents = json.loads(printed.stdout)
    schema = build_schema(DAEMON_SCHEMA.read_text())
    for name, document in documents.items():
        assert [e.message for e in validate(schema, parse(document))] == [], name
        answer = await graphql(world, document)
        assert answer.get("errors") is None and answer["data"], (name, answer)


GENESIS = ("{ daemonStatus { consensusConfiguration { slotDuration epochDuration slotsPerEpoch "
           "k } } }")


def test_the_devnet_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """Started as the tests' pipeline starts it (blocks made by hand: a huge interval), it still
    answers o1js's genesis-constants query within the daemon's 32-bit Int; then SIGTERM."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "touchgrass.cli", "devnet", "--port",
                                str(port), "--state-dir", str(tmp_path / "state"),
                                "--block-interval", "100000"],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        asked = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                       data=json.dumps({"query": GENESIS}).encode(),
                                       headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(asked, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer.get("errors") is None, answer["errors"][0]["message"][:200]
        assert answer["data"]["daemonStatus"]["consensusConfiguration"]["epochDuration"] < 2**31
        children = psutil.Process(process.pid).children(recursive=True)
        assert children
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive
    finally:
        if process.poll() is None:
            process.kill()


# -- the daemon's and the archive's own rules (docs/chain.md "Conformance") ----------------

async def post(url: str, query: str, variables: dict | None) -> tuple[int, dict]:
    body: dict = {"query": query}
    if variables is not None:
        body["variables"] = variables
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as answer:
        return answer.status, await answer.json()


async def test_the_devnet_answers_as_the_daemons_graphql_library_does(world) -> None:
    """ocaml-graphql-server 0.13.0: a used variable left out is HTTP 400 "Missing variable"
    with data null (graphql-js would read null), and an answer without data is HTTP 400; the
    client, which sends every declared variable, still works against it."""
    url = world["network"].graphql
    account = "query A($publicKey: PublicKey!, $token: TokenId) { account(publicKey: " \
              "$publicKey, token: $token) { nonce } }"
    status, answer = await post(url, account, {"publicKey": world["payer"]["pk"]})
    assert (status, answer) == (400, {"errors": [{"message": "Missing variable `token`"}],
                                      "data": None})
    status, answer = await post(url, account, {"publicKey": world["payer"]["pk"], "token": None})
    assert status == 200 and answer["data"]["account"]["nonce"] is not None
    status, answer = await post(url, "{ account(publicKey: \"x\") { nonceOfPayer } }", None)
    assert status == 400 and "data" not in answer  # a validation error
    assert (await world["chain"].account(world["payer"]["pk"])) is not None
    info = await world["chain"].node_info()
    assert len(info.version) == 40 and int(info.version, 16) >= 0  # a commit id, no release
    assert info.network_id == "mina:devnet" and len(info.chain_id) == 64
    # Berkeley's slot; k is the frontier this devnet was started with (an earlier test here
    # restarts it with a short one)
    assert info.slot_duration_ms == 180_000 and info.k == len(await world["chain"].best_chain())


async def test_the_archive_reads_ranges_as_archive_node_api_does(world) -> None:
    """`to` is exclusive, a range wider than the window is an error, and so is an action state
    the archive never recorded (Archive-Node-API's actions resolver)."""
    url = world["network"].archive
    zkapp = world["deployed"][0] if "deployed" in world else world["payer"]["pk"]
    document = ("query Q($input: ActionFilterOptionsInput!) { actions(input: $input) { "
                "blockInfo { height } } }")
    _, every = await post(url, document, {"input": {"address": zkapp}})
    heights = [item["blockInfo"]["height"] for item in every["data"]["actions"]]
    if heights:
        top = heights[-1]
        _, upto = await post(url, document, {"input": {"address": zkapp, "from": 1, "to": top}})
        assert top not in [i["blockInfo"]["height"] for i in upto["data"]["actions"]]
    _, wide = await post(url, document, {"input": {"address": zkapp, "from": 1, "to": 20_000}})
    assert "maximum range is 10000" in wide["errors"][0]["message"]
    _, unknown = await post(url, document, {"input": {"address": zkapp,
                                                      "fromActionState": "12345"}})
    assert "fromActionState 12345 does not exist" in unknown["errors"][0]["message"]


async def test_a_mesa_devnet_not_synced_refuses_sends_and_shows_its_era(tmp_path: Path) -> None:
    network = await start_devnet(port=free_port(), state_dir=tmp_path / "mesa",
                                 block_interval_s=1.0, era="mesa", network_id="mina:mainnet",
                                 unsynced_s=120)
    chain = ChainClient(network.graphql)
    try:
        info = await chain.node_info()
        assert (info.slot_duration_ms, info.network_id, info.sync_status) == \
            (90_000, "mina:mainnet", "BOOTSTRAP")
        status, answer = await post(network.graphql, "mutation($input: SendZkappInput!) { "
                                    "sendZkapp(input: $input) { zkapp { hash } } }",
                                    {"input": {"zkappCommand": {"feePayer": {}}}})
        assert status == 400 and answer["data"] is None
        assert "Daemon is bootstrapping" in answer["errors"][0]["message"]
    finally:
        await chain.close()
        await network.stop()


async def test_a_held_command_waits_and_a_reorg_sends_it_back_to_the_pool(world) -> None:
    """The devnet's two chain events a real network has and a timer does not: a pending
    command kept out of blocks (a producer that does not take it), and the best tip replaced
    (a reorg) with the command back in the mempool and a new state hash at that height."""
    chain = world["chain"]
    base = world["network"].base_url
    await pause_blocks(world, True)
    try:
        built = await deploy(world, await next_nonce(world))
        assert (await chain.send_zkapp(built.command)).hash == built.hash
        async with aiohttp.ClientSession() as http:
            await http.post(f"{base}/devnet/hold", json={"hash": built.hash, "blocks": 2})
            for _ in range(2):
                await http.post(f"{base}/devnet/block")
                assert not await included(world, built.hash)
            assert await chain.pooled_hashes(hashes=[built.hash]) == {built.hash}
            await http.post(f"{base}/devnet/block")
            assert await included(world, built.hash)
            tip = (await chain.best_chain(1))[-1]
            async with http.post(f"{base}/devnet/reorg",
                                 json={"depth": 1, "keepOut": [built.hash]}) as answer:
                replaced = await answer.json()
            assert replaced["height"] == tip.height and replaced["stateHash"] != tip.state_hash
            assert not await included(world, built.hash)
            assert await chain.pooled_hashes(hashes=[built.hash]) == {built.hash}
            await http.post(f"{base}/devnet/block")
            assert await included(world, built.hash)
    finally:
        await pause_blocks(world, False)


# ---------------------------------------------------------------- the daemon's size rule

def _size_verdict(updates: list[dict]) -> dict:
    """The devnet's size rule (devnet/limits.js) on a made-up command: only the shape counts."""
    from touchgrass.devtools.devnet import DEVNET_JS

    command = {"feePayer": {}, "accountUpdates": updates}
    script = (f"import {{ sizeProblem, segments }} from {json.dumps((DEVNET_JS / 'limits.js').as_uri())};"
              f"const c = {json.dumps(command)};"
              "console.log(JSON.stringify({ problem: sizeProblem(c), segments: segments(c) }));")
    done = subprocess.run([find_node("node"), "--input-type=module", "-e", script],
                          capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)


def _update(kind: str, actions: int = 0, events: int = 0) -> dict:
    authorization = {"proof": "p"} if kind == "proof" else {"signature": "s"}
    return {"authorization": authorization,
            "body": {"actions": [["1"] * actions] if actions else [],
                     "events": [["1"] * events] if events else []}}


@pytest.mark.parametrize(("shape", "segments", "refused"), [
    # fee payer alone (9.14) + five proofs (51.3) = 60.44 < 69.45
    (["proof"] * 5, {"proof": 5, "signedPair": 0, "signedSingle": 1}, None),
    # a sixth proof: 70.70
    (["proof"] * 6, {"proof": 6, "signedPair": 0, "signedSingle": 1}, "too expensive"),
    # a signed update next to the fee payer shares its segment: 10.08 + 51.3 = 61.38
    (["signature"] + ["proof"] * 5, {"proof": 5, "signedPair": 1, "signedSingle": 0}, None),
    # the same updates with the signed one last cannot pair: 9.14 + 51.3 + 9.14 = 69.58
    (["proof"] * 5 + ["signature"], {"proof": 5, "signedPair": 0, "signedSingle": 2},
     "too expensive"),
])
def test_the_devnet_prices_a_command_as_the_daemon_does(shape, segments, refused) -> None:
    verdict = _size_verdict([_update(kind) for kind in shape])
    assert verdict["segments"] == segments
    if refused is None:
        assert verdict["problem"] is None
    else:
        assert verdict["problem"] == ('(invalid "Some commands have one or more well-formedness '
                                      'errors: Zkapp too big (zkapp transaction too expensive) ")')


def test_the_devnet_counts_action_and_event_fields_across_the_command() -> None:
    assert _size_verdict([_update("proof", actions=50), _update("proof", actions=50)]
                         )["problem"] is None
    over = _size_verdict([_update("proof", actions=50), _update("proof", actions=51),
                          _update("proof", events=101)] + [_update("proof")] * 4)["problem"]
    assert over == ('(invalid "Some commands have one or more well-formedness errors: Zkapp too '
                    'big (zkapp transaction too expensive; too many event elements (101, max '
                    'allowed is 100); too many sequence event elements (101, max allowed is '
                    '100)) ")')
