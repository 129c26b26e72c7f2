"""How long `verify`'s public check takes as a zkApp's history grows.

    python bench/verify_scale.py [--receipts 1000 100000] [--per-block 10] [--window 10000]

A synthetic zkApp of N receipts (`--per-block` a block) served by the stand-in node and
archive (tests/support/daemon_standin.py: the real GraphQL schemas, Archive-Node-API's range
rules); the check is operator/receipts.py's `check_receipt` with o1js's hashing (the checks
process), as `touchgrass verify` runs it. The archive's claimed states before each block are
random where no check reaches them: a check folds only from the record's block on, so the
prefix costs nothing, and that is what is measured. Cases, each the median of three:

- the newest photo, located by a pointer's block height (`--api`, `DATABASE_URL`);
- the newest photo from the zkApp address alone (windows backwards from the archive's tip);
- the oldest photo (a fold of every later record), at N up to 10,000;
- baseline, the check before this change: every record folded from the empty state (the
  archive read without a range, which a real archive limits to its last 10,000 blocks); at N
  over 10,000 it is the measured per-record rate times N, said so.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.daemon_standin import DEFAULT_TOKEN, StandinNode  # noqa: E402
from tests.support.factories import mina_address as _address  # noqa: E402
from touchgrass.chain.archive import ArchiveClient  # noqa: E402
from touchgrass.chain.client import ChainClient  # noqa: E402
from touchgrass.chain.records import EMPTY_ACTION_STATE, receipt_fields  # noqa: E402
from touchgrass.mina import decode_address  # noqa: E402
from touchgrass.node import ops  # noqa: E402
from touchgrass.node.checks import ChecksProcess, open_checks  # noqa: E402
from touchgrass.node.keys import known_keys  # noqa: E402
from touchgrass.operator.receipts import ArchiveReading, Pointer, check_receipt  # noqa: E402
from touchgrass.operator.trust import TrustAnchors, contract_permissions  # noqa: E402
from touchgrass.operator.verify import ChecksMath  # noqa: E402
from touchgrass.settings import ProverSettings  # noqa: E402
from touchgrass.signatures import generate_private_key  # noqa: E402


def _digest(i: int) -> bytes:
    return hashlib.sha256(f"photo {i}".encode()).digest()


async def _zkapp(node: StandinNode, checks: ChecksProcess, receipts: int, per_block: int,
                 exact_from: int, zkapp: str, operator: str, signer: Any, chain: uuid.UUID
                 ) -> None:
    """Blocks of receipts; states exact from block index `exact_from` on, random before."""
    blocks = [list(range(i, min(i + per_block, receipts))) for i in range(0, receipts, per_block)]
    fields = {i: [str(v) for v in receipt_fields(chain, _digest(i), signer.x, signer.y)]
              for i in range(receipts)}
    start = secrets.randbelow(2**250) if exact_from else EMPTY_ACTION_STATE
    exact = await ops.action_states(checks, start, [[[fields[i]] for i in block]
                                                    for block in blocks[exact_from:]])
    states = [secrets.randbelow(2**250) for _ in blocks[:exact_from]] + exact
    before = [start if h == exact_from else EMPTY_ACTION_STATE if h == 0 else states[h - 1]
              for h in range(len(blocks))]
    node.archive_actions[zkapp] = [{
        "blockInfo": {"height": h + 1, "stateHash": f"3N{h}", "chainStatus": "canonical",
                      "distanceFromMaxBlockHeight": len(blocks) - h},
        "actionData": [{"accountUpdateId": str(i), "data": fields[i],
                        "transactionInfo": {"hash": f"5Jtx{i}", "status": "applied",
                                            "authorizationKind": "Proof"}} for i in block],
        "actionState": {"actionStateOne": str(states[h]), "actionStateTwo": str(before[h])}}
        for h, block in enumerate(blocks)]
    x, parity = decode_address(operator)
    flat = contract_permissions(3)
    auth, txn = flat.pop("setVerificationKey").split("/")
    node.accounts[(zkapp, DEFAULT_TOKEN)] = {
        "verificationKey": {"verificationKey": "AA",
                            "hash": known_keys().current("secp256k1").zkapp.hash},
        "actionState": [str(s) for s in reversed(states[-5:])],
        "zkappState": [str(x), str(parity)] + ["0"] * 6,
        "permissions": {**flat, "setVerificationKey": {"auth": auth, "txnVersion": txn}}}
    while (node.blocks[-1].height if node.blocks else 0) < len(blocks):
        node.advance(1)


async def _timed(runs: int, work: Any) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        report = await work()
        times.append(time.perf_counter() - started)
        assert report.verified, [c.detail for c in report.checks]
    return statistics.median(times)


async def main(sizes: list[int], per_block: int, window: int) -> None:
    _, signer = generate_private_key("secp256k1")
    operator, chain_id = _address(), uuid.uuid4()
    anchors = TrustAnchors((signer,), operator)
    reading = ArchiveReading(window=window)
    async with open_checks(ProverSettings()) as checks:
        # the baseline's rate: every record folded from the empty state, one call
        rate_records = 2000
        started = time.perf_counter()
        await ops.action_state(checks, [[[str(v) for v in receipt_fields(
            chain_id, _digest(i), signer.x, signer.y)]] for i in range(rate_records)])
        per_record = (time.perf_counter() - started) / rate_records
        print(f"folding: {per_record * 1000:.2f} ms a record (o1js Poseidon, checks process)")
        for receipts in sizes:
            node = await StandinNode().start()
            node.archive_window = window
            zkapp = _address()
            blocks = -(-receipts // per_block)
            oldest = receipts <= 10_000
            await _zkapp(node, checks, receipts, per_block, 0 if oldest else blocks - 1, zkapp,
                         operator, signer, chain_id)
            client, archive = ChainClient(node.url), ArchiveClient(node.archive_url)
            math = ChecksMath(checks)

            def check(digest: bytes, pointer: Pointer, client: ChainClient = client,
                      archive: ArchiveClient = archive, math: ChecksMath = math) -> Any:
                return lambda: check_receipt(digest, pointer, node=client, archive=archive,
                                             math=math, anchors=anchors, reading=reading)
            newest = receipts - 1
            pointed = await _timed(3, check(_digest(newest), Pointer(
                zkapp, "bench", block_height=blocks)))
            searched = await _timed(3, check(_digest(newest), Pointer(zkapp, "--zkapp")))
            line = (f"{receipts:>7,} receipts ({blocks:,} blocks): newest photo {pointed:.2f} s "
                    f"with a block height, {searched:.2f} s from the address alone")
            if oldest:
                old = await _timed(3, check(_digest(0), Pointer(zkapp, "--zkapp")))
                started = time.perf_counter()
                await ops.action_state(checks, [[[str(v) for v in receipt_fields(
                    chain_id, _digest(i), signer.x, signer.y)]] for i in range(receipts)])
                baseline = time.perf_counter() - started
                line += (f", oldest photo {old:.2f} s; baseline (fold everything) "
                         f"{baseline:.2f} s measured")
            else:
                line += (f"; baseline (fold everything) ~{per_record * receipts:.0f} s "
                         "(rate x N)")
            print(line, flush=True)
            await client.close()
            await archive.close()
            await node.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receipts", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--per-block", type=int, default=10)
    parser.add_argument("--window", type=int, default=10_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.receipts, arguments.per_block, arguments.window))
