"""The publish side against a stand-in daemon (no o1js, no database): a node that is not
synced costs no attempt, and a Mesa network is refused with one line before any attempt."""

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
from touchgrass.errors import UnsupportedNetwork
from touchgrass.node import O1JS_VERSION
from touchgrass.queue.engine import Claimed
from touchgrass.queue.outcomes import Retry
from touchgrass.roles.publish import check_era, make_deploy_handler

pytestmark = pytest.mark.anyio

MESA = "4.0.0-mainnet-mesa-6850301"
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


async def deploy_outcome(node: StandinNode) -> object:
    client = ChainClient(node.url)
    publisher = MinaPublisher(pool=NoProver(), chain=client, endpoint=node.url,  # type: ignore[arg-type]
                              network_id="devnet", fee_payer_key="unused",
                              fee_payer_address=FEE_PAYER, fee_nanomina=10**8)
    job = Claimed(id=uuid.uuid4(), attempt=1, payload={
        "title": "t", "zkapp_address": None, "zkapp_token_id": None, "transaction_hash": None,
        "transaction_nonce": None})
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
    node.version = MESA
    outcome = await deploy_outcome(node)
    assert isinstance(outcome, Retry) and outcome.consume_attempt is False
    assert f"o1js {O1JS_VERSION}" in outcome.reason and "o1js 3" in outcome.reason


async def test_the_era_check_refuses_a_mesa_node_and_accepts_berkeley(node: StandinNode) -> None:
    client = ChainClient(node.url)
    try:
        await check_era(client)  # 3.x: fine
        node.version = MESA
        with pytest.raises(UnsupportedNetwork, match=r"daemon 4\.0\.0-mainnet-mesa.*o1js 3"):
            await check_era(client)
    finally:
        await client.close()


async def test_publish_stops_at_start_with_one_line_on_a_mesa_node(node: StandinNode) -> None:
    node.version = MESA
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
           "MINA_NODE_ENDPOINT": node.url, "FEE_PAYER_PRIVATE_KEY": "EKEunused",
           "SIGNER_CURVE": "secp256k1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "touchgrass.cli", "publish", cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    text = (out + err).decode()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert process.returncode not in (0, None), text
    assert "Traceback" not in text
    assert len(lines) == 1 and "o1js 3" in lines[0] and f"o1js {O1JS_VERSION}" in lines[0], text
