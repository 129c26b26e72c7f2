"""Publishing benchmark on the devnet: what a retry costs, how long the fee payer's lane is
held, and photos published per hour with one builder process and with two.

    python bench/publish.py [--photos 4]

Everything is the real thing in one process: `touchgrass devnet` (proofs verified), the
real `MinaPublisher` and its builder pool (o1js 2.15, secp256k1), real authenticity proofs.
Only the queue is left out (the publisher is called as the publish handler calls it), so the
numbers are the publisher's own. Time spent waiting for the node's answers is measured
apart (every GraphQL call is timed), because on a real network it is the node's, not ours.

Baseline, same run: what a retry cost before the transaction was kept, a rebuild and
re-prove of the photo's account update (the builder's `record_transaction` op, timed here
for every photo). One photo a command here (`batch_size=1`): bench/batches.py measures
batches.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.net import free_port  # noqa: E402
from touchgrass.chain import DeployRequest, PublishRequest  # noqa: E402
from touchgrass.chain.client import ChainClient  # noqa: E402
from touchgrass.chain.publisher import MinaPublisher  # noqa: E402
from touchgrass.devtools.devnet import Devnet, start_devnet  # noqa: E402
from touchgrass.node import open_pool  # noqa: E402
from touchgrass.node.pool import ProverPool  # noqa: E402
from touchgrass.node.prover import O1jsProver, ProofRequest  # noqa: E402
from touchgrass.settings import ProverSettings  # noqa: E402
from touchgrass.signatures import generate_private_key, sign  # noqa: E402

FEE = 100_000_000


class TimedChain(ChainClient):
    """The chain client, with the time spent waiting for the node added up."""

    waited_s = 0.0

    async def _call(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super()._call(*args, **kwargs)
        finally:
            TimedChain.waited_s += time.perf_counter() - started


class TimedPool:
    """The builder pool, with each op's duration recorded."""

    def __init__(self, pool: ProverPool) -> None:
        self.pool = pool
        self.seconds: dict[str, list[float]] = defaultdict(list)

    async def run(self, op: str, params: Mapping[str, Any], timeout_s: float | None = None
                  ) -> Any:
        started = time.perf_counter()
        try:
            return await self.pool.run(op, params, timeout_s)
        finally:
            self.seconds[op].append(time.perf_counter() - started)


class Sends(logging.Handler):
    """The publisher's `sent` log lines: lane hold and node wait of every send."""

    def __init__(self) -> None:
        super().__init__()
        self.lanes: list[tuple[float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "action", None) == "sent":
            self.lanes.append((record.lane_ms, record.node_ms))  # type: ignore[attr-defined]


class Photo:
    def __init__(self, proof: dict[str, Any], digest: bytes) -> None:
        self.proof, self.digest = proof, digest
        self.kept: dict[str, Any] = {}

    def request(self, zkapp: str, token: str, **earlier: Any) -> PublishRequest:
        async def record(fields: Mapping[str, Any]) -> bool:
            self.kept.update(fields)
            return True
        return PublishRequest(submission_id=uuid.uuid4(), sha256_hex=self.digest.hex(),
                              proof_json=self.proof, chain_id=uuid.uuid4(),
                              challenge_id=uuid.uuid4(), wallet_address="B62q", zkapp_address=zkapp,
                              zkapp_token_id=token, record_progress=record, **earlier)


async def devnet_post(devnet: Devnet, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{devnet.base_url}{path}", json=body) as answer:
            answer.raise_for_status()


async def photos(prover: O1jsProver, private: str, count: int) -> list[Photo]:
    made = []
    for n in range(count):
        digest = hashlib.sha256(os.urandom(2048)).digest()
        started = time.perf_counter()
        proof = await prover.prove(ProofRequest(digest, sign(private, digest, "secp256k1"),
                                                digest.hex()))
        print(f"  authenticity proof {n + 1}/{count}: {time.perf_counter() - started:.1f} s",
              flush=True)
        made.append(Photo(proof, digest))
    return made


def publisher_for(pool: TimedPool, chain: ChainClient, devnet: Devnet, payer: dict[str, str]
                  ) -> MinaPublisher:
    return MinaPublisher(pool=pool, chain=chain, endpoint=devnet.graphql, network_id="devnet",
                         fee_payer_key=payer["sk"], fee_payer_address=payer["pk"],
                         fee_nanomina=FEE, batch_size=1, batch_wait_s=0)


async def publish_batch(publisher: MinaPublisher, batch: list[Photo], zkapp: str, token: str,
                        concurrency: int) -> float:
    """Publish `batch` with `concurrency` photos in flight (as the worker runs them)."""
    slots = asyncio.Semaphore(concurrency)

    async def one(photo: Photo) -> None:
        async with slots:
            await publisher.publish_proof(photo.request(zkapp, token))

    started = time.perf_counter()
    await asyncio.gather(*(one(photo) for photo in batch))
    return time.perf_counter() - started


async def timed_retry(publisher: MinaPublisher, request: PublishRequest) -> tuple[float, float]:
    """(wall seconds, of which waiting for the node) of one publish attempt."""
    waited = TimedChain.waited_s
    started = time.perf_counter()
    await publisher.publish_proof(request)
    return time.perf_counter() - started, TimedChain.waited_s - waited


def ms(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def main(count: int) -> None:
    sends = Sends()
    logging.getLogger("touchgrass").addHandler(sends)
    logging.getLogger("touchgrass").setLevel(logging.INFO)
    state = Path(tempfile.mkdtemp(prefix="touchgrass-bench-publish-"))
    devnet = await start_devnet(port=free_port(), state_dir=state, block_interval_s=2.0)
    async with aiohttp.ClientSession() as http:
        payer = await (await http.get(f"{devnet.base_url}/acquire-account")).json()
    chain = TimedChain(devnet.graphql)
    settings = ProverSettings()
    private, public = generate_private_key("secp256k1")
    print("starting one builder process (compiles circuit and zkApp from the cache)", flush=True)
    one = TimedPool(await open_pool(settings, curve="secp256k1", size=1, zkapp=True))
    try:
        publisher = publisher_for(one, chain, devnet, payer)
        deployed = await publisher.deploy_zkapp(DeployRequest(challenge_id=uuid.uuid4(),
                                                               title="bench"))
        while await chain.account(deployed.zkapp_address) is None:
            await asyncio.sleep(0.5)
        zkapp, token = deployed.zkapp_address, deployed.zkapp_token_id
        print(f"zkApp {zkapp} deployed; proving {2 * count + 2} authenticity proofs", flush=True)
        made = await photos(O1jsProver(one.pool, public), private, 2 * count + 2)
        serial, parallel, (clash, dropped) = made[:count], made[count:2 * count], made[2 * count:]

        print(f"publishing {count} photos with one builder (-c 1)", flush=True)
        one_s = await publish_batch(publisher, serial, zkapp, token, 1)

        # A nonce clash: the lane's nonce is one that was used already (another sender of the
        # same key took it); the node refuses it, the lane resyncs and re-signs.
        publisher._next_nonce = (publisher._next_nonce or 1) - 1
        lanes_before = len(sends.lanes)
        await publisher.publish_proof(clash.request(zkapp, token))
        clash_lane, clash_node = sends.lanes[lanes_before]

        # A dropped transaction: sent, dropped from the mempool, then the next attempt (the
        # monitor's abandon sends the row back to publishing) with the kept proven command.
        await devnet_post(devnet, "/devnet/pause", {"paused": True})
        await publisher.publish_proof(dropped.request(zkapp, token))
        await devnet_post(devnet, "/devnet/drop", {"hash": dropped.kept["transaction_hash"]})
        await devnet_post(devnet, "/devnet/pause", {"paused": False})
        retry_s, retry_node_s = await timed_retry(publisher, dropped.request(
            zkapp, token, previous_transaction_hash=dropped.kept["transaction_hash"],
            previous_nonce=dropped.kept["transaction_nonce"],
            proven_command=dropped.kept["proven_command"]))
        one_lanes = list(sends.lanes)
    finally:
        await one.pool.close()

    print("starting two builder processes (-c 2)", flush=True)
    two = TimedPool(await open_pool(settings, curve="secp256k1", size=2, zkapp=True))
    try:
        lanes_before = len(sends.lanes)
        two_s = await publish_batch(publisher_for(two, chain, devnet, payer), parallel, zkapp,
                                    token, 2)
        two_lanes = sends.lanes[lanes_before:]
    finally:
        await two.pool.close()
        await chain.close()
        await devnet.stop()

    rebuild = one.seconds["record_transaction"]
    resign = one.seconds["resign_transaction"] + two.seconds["resign_transaction"]
    lanes = one_lanes + two_lanes
    held = [lane for lane, _node in lanes]
    own = [lane - node for lane, node in lanes]
    print("\n| measure | value |\n| --- | ---: |")
    print(f"| rebuild + re-prove the update (the retry before; median of {len(rebuild)}) "
          f"| {statistics.median(rebuild):.1f} s |")
    print(f"| re-sign a kept command (median of {len(resign)}) | {ms([s * 1000 for s in resign])} |")
    print(f"| retry after a nonce clash: lane held / of it our own work | {clash_lane:.0f} ms / "
          f"{clash_lane - clash_node:.0f} ms |")
    print(f"| retry after a dropped transaction (whole attempt): wall / our own work | "
          f"{retry_s * 1000:.0f} ms / {(retry_s - retry_node_s) * 1000:.0f} ms |")
    print(f"| lane held per transaction, median / p95 ({len(held)} sends) | "
          f"{statistics.median(held):.0f} / {p95(held):.0f} ms |")
    print(f"| of it our own work, median / p95 | {statistics.median(own):.0f} / "
          f"{p95(own):.0f} ms |")
    print(f"| -c 1: {count} photos | {one_s:.1f} s, {count / one_s * 3600:.0f} photos/hour |")
    print(f"| -c 2: {count} photos | {two_s:.1f} s, {count / two_s * 3600:.0f} photos/hour |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=4, help="photos per concurrency level")
    asyncio.run(main(parser.parse_args().photos))
