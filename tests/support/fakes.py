"""Test implementations of the Prover and Publisher protocols (only ever used by tests)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

from touchgrass.chain import DeployReceipt, DeployRequest, PublishReceipt, PublishRequest
from touchgrass.node.prover import ProofRequest


class CountingProver:
    """Returns a fake proof after `delay_s`; counts calls per sha256, optionally into a file
    (one line per call) so calls made by several processes can be counted."""

    def __init__(self, *, delay_s: float = 0.0, calls_file: Path | None = None,
                 fail_times: int = 0) -> None:
        self.delay_s = delay_s
        self.calls_file = calls_file
        self.calls: Counter[str] = Counter()
        self.fail_times = fail_times

    async def prove(self, request: ProofRequest) -> dict[str, Any]:
        self.calls[request.sha256_hex] += 1
        if self.calls_file is not None:
            with open(self.calls_file, "a") as handle:  # O_APPEND: lines never interleave
                handle.write(f"start {request.sha256_hex} {os.getpid()}\n")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("prover exploded (test)")
        if self.calls_file is not None:
            with open(self.calls_file, "a") as handle:
                handle.write(f"done {request.sha256_hex} {os.getpid()}\n")
        return {"publicInput": [request.digest.hex()], "proof": "test-proof", "maxProofsVerified": 0}


class FlakyPublisher:
    """Fails the first `fail_times` publishes, then succeeds; counts calls."""

    contract_hash: str | None = None  # never redeploys

    def __init__(self, *, fail_times: int = 0, delay_s: float = 0.0) -> None:
        self.fail_times = fail_times
        self.delay_s = delay_s
        self.calls: Counter[str] = Counter()
        self.deploys: Counter[str] = Counter()

    async def publish_proof(self, request: PublishRequest) -> PublishReceipt:
        self.calls[request.sha256_hex] += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionError("node unreachable (test)")
        return PublishReceipt(
            transaction_id=f"tx-{request.sha256_hex[:16]}",
            transaction_hash=f"hash-{request.sha256_hex[:16]}",
            nonce=sum(self.calls.values()),
        )

    async def deploy_zkapp(self, request: DeployRequest) -> DeployReceipt:
        self.deploys[str(request.challenge_id)] += 1
        return DeployReceipt(zkapp_address="B62qzkapp-test", zkapp_token_id="token-test",
                             transaction_id="deploy-tx", transaction_hash="deploy-hash", nonce=0)


def read_calls(path: Path) -> tuple[Counter[str], Counter[str]]:
    """(started, finished) prover calls per sha256 from a calls file."""
    started: Counter[str] = Counter()
    finished: Counter[str] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            kind, sha, _pid = line.split()
            (started if kind == "start" else finished)[sha] += 1
    return started, finished
