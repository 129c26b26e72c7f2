"""Batches against one photo a command, in one run on the devnet: MINA, commands and
transaction proofs per photo, photos per hour, latency of a burst and of a trickle, memory.

    python bench/batches.py [--burst 50] [--trickle 5] [--every 60]

Everything is the real thing in one process: `touchgrass devnet` (proofs verified on send,
a block every 2 s), the real `MinaPublisher` with one builder process (the publish role's
default, `-c 1`), real authenticity proofs. Only the queue is left out: the publisher is
called as the publish lane calls it, with as many photos in flight as the lane claims (the
batch size). The baseline is the same code with `PUBLISH_BATCH_SIZE=1`: one photo a
command, one fee, one command and one account-update proof per photo, as before batches.

Latency is measured from a photo's proof being stored (ready to publish) to `complete` (its
command accepted by the node); the upload -> proof part is the authenticity proof, the same
for both, and is measured here too. The burst is every photo ready at once; the trickle is a
photo every `--every` seconds, run for both publishers at the same time (two fee payers).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

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
BATCH_WAIT_S = 30.0  # the default


class CountingPool:
    """The builder pool, counting the update proofs it makes."""

    def __init__(self, pool: ProverPool) -> None:
        self.pool = pool
        self.update_proofs = 0

    async def run(self, op: str, params: Mapping[str, Any], timeout_s: float | None = None
                  ) -> Any:
        if op == "record_transaction":
            self.update_proofs += 1
        return await self.pool.run(op, params, timeout_s)


@dataclass
class Run:
    """One publisher's results over a set of photos."""

    name: str
    latencies: list[float] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)
    wall_s: float = 0.0
    paid_nanomina: int = 0
    update_proofs: int = 0
    photos: int = 0


class Memory:
    """Peak resident memory of this process and of its children (the builders), sampled."""

    def __init__(self) -> None:
        self.peak_python = 0
        self.peak_builders = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        me = psutil.Process()
        while True:
            self.peak_python = max(self.peak_python, me.memory_info().rss)
            builders = 0
            for child in me.children(recursive=True):
                try:
                    if any(part.endswith("src/main.js") for part in child.cmdline()):
                        builders += child.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_builders = max(self.peak_builders, builders)
            await asyncio.sleep(0.5)

    def __enter__(self) -> Memory:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def request(proof: dict[str, Any], digest: bytes, zkapp: str, token: str) -> PublishRequest:
    async def record(fields: Mapping[str, Any]) -> bool:
        return True
    return PublishRequest(submission_id=uuid.uuid4(), sha256_hex=digest.hex(), proof_json=proof,
                          chain_id=uuid.uuid4(), challenge_id=uuid.uuid4(), wallet_address="B62q",
                          zkapp_address=zkapp, zkapp_token_id=token, record_progress=record)


async def balance(chain: ChainClient, address: str) -> int:
    account = await chain.account(address)
    assert account is not None
    return account.balance_nanomina


async def publish(publisher: MinaPublisher, pool: CountingPool, chain: ChainClient, run: Run,
                  photos: list[tuple[dict[str, Any], bytes]], zkapp: str, token: str, *,
                  every_s: float = 0.0) -> None:
    """Each photo ready at `start + i * every_s`, published with at most a batch in flight
    (the lane's claims); latency from ready to accepted by the node."""
    slots = asyncio.Semaphore(publisher.batch_size)
    proofs_before, before = pool.update_proofs, await balance(chain, publisher.fee_payer)
    started = time.perf_counter()

    async def one(n: int, proof: dict[str, Any], digest: bytes) -> None:
        await asyncio.sleep(max(0.0, started + n * every_s - time.perf_counter()))
        ready = time.perf_counter()
        async with slots:
            receipt = await publisher.publish_proof(request(proof, digest, zkapp, token))
        run.latencies.append(time.perf_counter() - ready)
        run.hashes.add(receipt.transaction_hash)

    await asyncio.gather(*(one(n, proof, digest) for n, (proof, digest) in enumerate(photos)))
    run.wall_s = time.perf_counter() - started
    await asyncio.sleep(5)  # the last command into a block, so its fee is paid
    while await chain.pooled_hashes(public_key=publisher.fee_payer):
        await asyncio.sleep(1)
    run.paid_nanomina = before - await balance(chain, publisher.fee_payer)
    run.update_proofs = pool.update_proofs - proofs_before
    run.photos = len(photos)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(burst: int, trickle: int, every_s: float) -> None:
    state = Path(tempfile.mkdtemp(prefix="touchgrass-bench-batches-"))
    devnet: Devnet = await start_devnet(port=free_port(), state_dir=state, block_interval_s=2.0)
    async with aiohttp.ClientSession() as http:
        payers = [await (await http.get(f"{devnet.base_url}/acquire-account")).json()
                  for _ in range(2)]
    chain = ChainClient(devnet.graphql)
    private, public = generate_private_key("secp256k1")
    print("starting one builder process (compiles circuit and zkApp from the cache)", flush=True)
    pool = CountingPool(await open_pool(ProverSettings(), curve="secp256k1", size=1, zkapp=True))
    try:
        def publisher(payer: dict[str, str], batch_size: int, wait_s: float) -> MinaPublisher:
            return MinaPublisher(pool=pool, chain=chain, endpoint=devnet.graphql,
                                 network_id="devnet", fee_payer_key=payer["sk"],
                                 fee_payer_address=payer["pk"], fee_nanomina=FEE,
                                 batch_size=batch_size, batch_wait_s=wait_s)

        one_a_command = publisher(payers[0], 1, 0.0)
        batches = publisher(payers[1], 10, BATCH_WAIT_S)
        zkapps = []
        for each in (one_a_command, batches):
            deployed = await each.deploy_zkapp(DeployRequest(challenge_id=uuid.uuid4(),
                                                              title="bench"))
            while await chain.account(deployed.zkapp_address) is None:
                await asyncio.sleep(0.5)
            zkapps.append((deployed.zkapp_address, deployed.zkapp_token_id))
        # Both publishers record the same proofs, each in its own zkApp (a proof may be
        # recorded anywhere its admin signs for); the trickles reuse the first few.
        count = max(burst, trickle)
        print(f"proving {count} authenticity proofs", flush=True)
        prover = O1jsProver(pool.pool, public)
        proofs, proof_s = [], []
        for n in range(count):
            digest = hashlib.sha256(os.urandom(2048)).digest()
            started = time.perf_counter()
            proofs.append((await prover.prove(ProofRequest(
                digest, sign(private, digest, "secp256k1"), digest.hex())), digest))
            proof_s.append(time.perf_counter() - started)
            print(f"  {n + 1}/{count}: {proof_s[-1]:.1f} s", flush=True)
        bursts = {"one photo a command": Run("burst, one a command"),
                  "batches": Run("burst, batches")}
        memory = {}
        for (name, run), each, (zkapp, token) in zip(bursts.items(), (one_a_command, batches),
                                                     zkapps, strict=True):
            print(f"burst of {burst}: {name}", flush=True)
            with Memory() as sampled:
                await publish(each, pool, chain, run, proofs[:burst], zkapp, token)
            memory[name] = sampled
            print(f"  {run.wall_s:.0f} s, {len(run.hashes)} commands, {run.update_proofs} "
                  "update proofs", flush=True)
        print(f"trickle of {trickle}, a photo every {every_s:g} s, both at once", flush=True)
        trickles = {"one photo a command": Run("trickle, one a command"),
                    "batches": Run("trickle, batches")}
        await asyncio.gather(*(
            publish(each, pool, chain, run, chosen, zkapp, token, every_s=every_s)
            for run, each, (zkapp, token), chosen in zip(
                trickles.values(), (one_a_command, batches), zkapps,
                (proofs[:trickle], proofs[:trickle]), strict=True)))
    finally:
        await pool.pool.close()
        await chain.close()
        await devnet.stop()

    print(f"\nauthenticity proof (upload -> proof stored, warm): median "
          f"{statistics.median(proof_s):.1f} s of {len(proof_s)}\n")
    print("| measure | one photo a command (baseline) | batches (10, 30 s) |")
    print("| --- | ---: | ---: |")
    base, new = bursts["one photo a command"], bursts["batches"]

    def row(label: str, value: Any) -> None:
        print(f"| {label} | {value(base)} | {value(new)} |")

    row(f"MINA per photo (burst of {burst})", lambda r: f"{r.paid_nanomina / r.photos / 1e9:.3f}")
    row("chain commands per 100 photos", lambda r: f"{len(r.hashes) * 100 / r.photos:.0f}")
    row("transaction (update) proofs per 100 photos",
        lambda r: f"{r.update_proofs * 100 / r.photos:.0f}")
    row("photos per hour, one publish process (-c 1)",
        lambda r: f"{r.photos / r.wall_s * 3600:.0f}")
    row(f"burst of {burst}: proof stored -> complete, p50 / p95",
        lambda r: f"{quantile(r.latencies, 0.5):.0f} / {quantile(r.latencies, 0.95):.0f} s")
    tb, tn = trickles["one photo a command"], trickles["batches"]
    print(f"| trickle ({trickle}, one every {every_s:g} s): proof stored -> complete, p50 / p95 "
          f"| {quantile(tb.latencies, 0.5):.0f} / {quantile(tb.latencies, 0.95):.0f} s "
          f"| {quantile(tn.latencies, 0.5):.0f} / {quantile(tn.latencies, 0.95):.0f} s |")
    for name in bursts:
        m = memory[name]
        print(f"peak memory during the {name} burst: Python {m.peak_python / 2**20:.0f} MiB, "
              f"builder {m.peak_builders / 2**20:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=50, help="photos ready at once")
    parser.add_argument("--trickle", type=int, default=5, help="photos, one every --every s")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between trickle photos")
    args = parser.parse_args()
    asyncio.run(main(args.burst, args.trickle, args.every))
