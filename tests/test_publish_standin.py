"""The publish side against a stand-in daemon (no o1js, no database) that answers as a real
daemon does (docs/chain.md): a node that is not synced or not ready costs no attempt, a Mesa
network (told by its consensus constants; its `version` is a commit id) and a node of another
network are refused with one line before any attempt, a configuration refusal rejects, and a
send whose answer is lost is found by hash within seconds."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.conftest import REPO_ROOT
from tests.support.daemon_standin import StandinNode
from touchgrass.chain.client import ChainClient
from touchgrass.chain.publisher import MinaPublisher
from touchgrass.errors import PermanentJobError, UnsupportedNetwork, WrongNetwork
from touchgrass.node import O1JS_VERSION
from touchgrass.queue.engine import Claimed
from touchgrass.queue.outcomes import Done, Retry
from touchgrass.roles.publish import check_node, make_deploy_handler

pytestmark = pytest.mark.anyio

MESA_SLOT_MS = 90_000  # Mesa's consensus constant; Berkeley's is 180,000
FEE_PAYER = "B62qfeepayerstandin"


class NoProver:
    """The publisher must not reach the prover before the node is usable."""

    async def request(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("the prover was called")


@pytest.fixture
async def node() -> AsyncIterator[StandinNode]:
    standin = await StandinNode().start()
    standin.advance(3)
    standin.accounts[(FEE_PAYER, "wSHV2S4qX9jFsLjQo8r1BsMLH2ZRKsZx6EJd1sbozGPieEC4Jf")] = {
        "nonce": "0", "balance": str(10**12)}
    yield standin
    await standin.close()


class DeployBuilder:
    """Builds a stand-in deploy command (no proofs in a deploy): what the publisher signs and
    sends, with the hash the stand-in node takes as the command's."""

    def __init__(self) -> None:
        self.built = 0

    async def run(self, op: str, params: dict, timeout_s: float | None = None) -> dict:
        assert op == "deploy_transaction", op
        self.built += 1
        command = {"hash": f"5Jdeploy{self.built}", "feePayer": {"body": {
            "publicKey": FEE_PAYER, "nonce": str(params["nonce"])}}, "accountUpdates": []}
        return {"command": command, "hash": command["hash"], "zkappAddress": "B62qzkapp",
                "tokenId": "wTokenOfTheZkapp"}


async def deploy_outcome(node: StandinNode, prover: object | None = None) -> object:
    client = ChainClient(node.url, timeout_s=2)
    publisher = MinaPublisher(pool=prover or NoProver(), chain=client,  # type: ignore[arg-type]
                              endpoint=node.url, network_id="devnet", fee_payer_key="unused",
                              fee_payer_address=FEE_PAYER, fee_nanomina=10**8,
                              lost_answer_pause_s=0.3)
    job = Claimed(id=uuid.uuid4(), attempt=1, payload={
        "title": "t", "zkapp_address": None, "zkapp_token_id": None, "transaction_hash": None,
        "transaction_nonce": None, "correlation_id": None})
    try:
        return await make_deploy_handler(publisher)(job)
    finally:
        await client.close()


async def test_a_node_that_is_not_synced_costs_no_attempt(node: StandinNode) -> None:
    node.sync_status = "CATCHUP"  # `account` is null with no error, as on a daemon
    outcome = await deploy_outcome(node)
    assert isinstance(outcome, Retry) and outcome.consume_attempt is False
    assert "not synced (syncStatus CATCHUP)" in outcome.reason


async def test_a_mesa_node_found_after_start_costs_no_attempt(node: StandinNode) -> None:
    node.slot_duration_ms = MESA_SLOT_MS
    outcome = await deploy_outcome(node)
    assert isinstance(outcome, Retry) and outcome.consume_attempt is False
    assert f"o1js {O1JS_VERSION}" in outcome.reason and "o1js 3" in outcome.reason


async def test_the_era_is_told_by_the_consensus_constants_not_the_version(
        node: StandinNode) -> None:
    """A daemon's `version` is a 40-hex commit id: the old check found no release in it and
    let a Mesa node through. The slot duration tells the era."""
    client = ChainClient(node.url)
    try:
        assert len(node.version) == 40
        await check_node(client, "devnet")  # Berkeley constants: fine
        node.slot_duration_ms = MESA_SLOT_MS
        with pytest.raises(UnsupportedNetwork, match=r"Mesa protocol \(90 s slots\).*o1js 3"):
            await check_node(client, "devnet")
        node.slot_duration_ms, node.network_id = 5_000, "mina:mainnet"
        with pytest.raises(UnsupportedNetwork, match="neither Berkeley's.*nor Mesa's"):
            await check_node(client, "mainnet")  # an unknown era on mainnet: refused
        node.network_id = "mina:devnet"
        await check_node(client, "devnet")  # elsewhere: a warning
    finally:
        await client.close()


async def test_a_node_of_another_network_is_refused(node: StandinNode) -> None:
    client = ChainClient(node.url)
    try:
        node.network_id = "mina:mainnet"
        with pytest.raises(WrongNetwork, match="serves mina:mainnet but MINA_NETWORK is devnet"):
            await check_node(client, "devnet")
        node.network_id = "mina:testnet"
        with pytest.raises(WrongNetwork):
            await check_node(client, "devnet")
        node.network_id = "mina:preflight-7"  # same signature domain, another name: accepted
        await check_node(client, "devnet")
        with pytest.raises(WrongNetwork):
            await check_node(client, "mainnet")
    finally:
        await client.close()


@pytest.mark.parametrize("refusal", ["Daemon is bootstrapping", "After_slot_tx_end",
                                     "Overloaded", "Expired"])
async def test_node_not_ready_refusals_cost_no_attempt(node: StandinNode, refusal: str) -> None:
    node.send_refusal = refusal
    outcome = await deploy_outcome(node, DeployBuilder())
    assert isinstance(outcome, Retry) and outcome.consume_attempt is False, outcome
    assert refusal in outcome.reason


async def test_a_configuration_refusal_rejects_with_its_reason(node: StandinNode) -> None:
    node.send_refusal = "Fee_payer_not_permitted_to_send"
    with pytest.raises(PermanentJobError, match="Fee_payer_not_permitted_to_send"):
        await deploy_outcome(node, DeployBuilder())


async def test_a_command_over_the_size_rule_rejects_with_its_reason(node: StandinNode) -> None:
    node.send_refusal = ('(invalid "Some commands have one or more well-formedness errors: '
                         'Zkapp too big (zkapp transaction too expensive) ")')
    with pytest.raises(PermanentJobError, match="refuses the command's size"):
        await deploy_outcome(node, DeployBuilder())


async def test_a_send_whose_answer_is_lost_is_found_by_hash_within_seconds(
        node: StandinNode) -> None:
    """The node took the command but its answer came after the client's timeout: the
    publisher finds it in the mempool by hash and counts it sent, at once."""
    node.lose_answers, node.slow_s = 1, 4.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    from touchgrass.chain import publisher as publisher_module
    old_timeout = publisher_module.SEND_TIMEOUT_S
    publisher_module.SEND_TIMEOUT_S = 1.0
    try:
        outcome = await deploy_outcome(node, DeployBuilder())
    finally:
        publisher_module.SEND_TIMEOUT_S = old_timeout
    assert isinstance(outcome, Done), outcome
    assert outcome.fields["transaction_hash"] == "5Jdeploy1"
    assert node.sent_order == ["5Jdeploy1"]  # sent once, never again
    assert loop.time() - started < 8


async def test_publish_stops_at_start_with_one_line_on_a_mesa_node(node: StandinNode) -> None:
    node.slot_duration_ms = MESA_SLOT_MS
    lines, text = await publish_role_output(node)
    assert len(lines) == 1 and "o1js 3" in lines[0] and f"o1js {O1JS_VERSION}" in lines[0], text


async def test_publish_stops_at_start_with_one_line_on_another_network(node: StandinNode) -> None:
    node.network_id = "mina:mainnet"
    lines, text = await publish_role_output(node)
    assert len(lines) == 1 and "MINA_NETWORK" in lines[0] and "mina:mainnet" in lines[0], text


async def publish_role_output(node: StandinNode) -> tuple[list[str], str]:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
           "MINA_NODE_ENDPOINT": node.url, "FEE_PAYER_PRIVATE_KEY": "EKEunused",
           "SIGNER_CURVE": "secp256k1", "MINA_NETWORK": "devnet"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "touchgrass.cli", "publish", cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    text = (out + err).decode()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert process.returncode not in (0, None), text
    assert "Traceback" not in text
    return lines, text
