"""Prover benchmark: compile (cold, cached), prove time and peak RSS per proof, and a warm
process proving several in a row against a fresh process per proof (the old service
recompiled for every job).

    python bench/prover.py [--curve secp256k1] [--proofs 3] [--row 5]

Everything runs through the real pool (`touchgrass.node.prover`), one process at a time, with
the thread count the generate role would use. The cold compile uses an empty cache folder;
every later start reads it.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from touchgrass.node.prover import (  # noqa: E402
    O1jsProver,
    ProofRequest,  # noqa: E402
    open_prover,
)
from touchgrass.settings import ProverSettings  # noqa: E402
from touchgrass.signatures import generate_private_key, sign  # noqa: E402


def request(private: str, curve: str) -> ProofRequest:
    digest = hashlib.sha256(os.urandom(1024)).digest()
    return ProofRequest(digest, sign(private, digest, curve), digest.hex())  # type: ignore[arg-type]


async def start(settings: ProverSettings, public) -> tuple[O1jsProver, float]:
    started = time.perf_counter()
    prover = await open_prover(settings, public, size=1)
    return prover, time.perf_counter() - started


async def timed_proof(prover: O1jsProver, req: ProofRequest) -> tuple[float, int]:
    """(seconds, peak RSS in bytes of the prover process while it proved)."""
    [process] = list(prover.pool._all)  # one process in a size-1 pool
    peak = process.rss_bytes()
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, process.rss_bytes())
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    await prover.prove(req)
    elapsed = time.perf_counter() - started
    done = True
    await sampler
    return elapsed, peak


async def main(args: argparse.Namespace) -> None:
    private, public = generate_private_key(args.curve)
    cold_dir = Path(tempfile.mkdtemp(prefix="touchgrass-cold-cache-"))
    cold = ProverSettings(circuit_cache_path=cold_dir)

    prover, cold_s = await start(cold, public)
    print(f"cold compile (empty cache): {cold_s:.1f} s", flush=True)
    await prover.close()
    prover, cached_s = await start(cold, public)
    print(f"cached compile: {cached_s:.1f} s", flush=True)

    proofs = []
    for n in range(1, args.proofs + 1):
        seconds, rss = await timed_proof(prover, request(private, args.curve))
        proofs.append((seconds, rss))
        [process] = list(prover.pool._all)  # a recycled process is replaced
        memory = (await process.request("info", {}, 30))["memory"]
        print(f"proof {n}: {seconds:.1f} s, peak RSS {rss / 2**20:.0f} MiB; after it: V8 heap "
              f"{memory['heapUsed'] / 2**20:.0f} of {memory['heapTotal'] / 2**20:.0f} MiB, "
              f"external {memory['external'] / 2**20:.0f} MiB, rest (native) "
              f"{(memory['rss'] - memory['heapTotal'] - memory['external']) / 2**20:.0f} MiB",
              flush=True)
    first_peak, highest_peak = proofs[0][1], max(rss for _, rss in proofs)
    growth = 100 * (highest_peak - first_peak) / first_peak
    limit_mb, recycled = prover.pool.config.max_rss_mb, prover.pool.recycles

    warm_s = fresh_s = 0.0
    if args.row:  # --row 0: only the proofs above (a long memory run)
        started = time.perf_counter()
        for _ in range(args.row):
            await prover.prove(request(private, args.curve))
        warm_s = time.perf_counter() - started
        print(f"warm process, {args.row} proofs in a row: {warm_s:.1f} s", flush=True)
    await prover.close()
    if args.row:
        started = time.perf_counter()
        for _ in range(args.row):
            fresh, _ = await start(cold, public)
            await fresh.prove(request(private, args.curve))
            await fresh.close()
        fresh_s = time.perf_counter() - started
        print(f"fresh process per proof, {args.row} proofs: {fresh_s:.1f} s", flush=True)

    median_prove = statistics.median(s for s, _ in proofs)
    median_rss = statistics.median(r for _, r in proofs)
    print("\n| measure | value |\n| --- | ---: |")
    print(f"| cold compile ({args.curve}) | {cold_s:.1f} s |")
    print(f"| cached compile | {cached_s:.1f} s |")
    print(f"| prove, median of {args.proofs} | {median_prove:.1f} s |")
    print(f"| peak RSS while proving, median of {args.proofs} | {median_rss / 2**20:.0f} MiB |")
    print(f"| highest peak RSS over {args.proofs} proofs | {highest_peak / 2**20:.0f} MiB "
          f"({growth:+.1f} % on the first proof's) |")
    print(f"| recycling limit (PROVER_MAX_RSS_MB for {args.curve}) / recycles | {limit_mb} MiB / "
          f"{recycled} |")
    if args.row:
        print(f"| {args.row} proofs, one warm process | {warm_s:.1f} s "
              f"({warm_s / args.row:.1f} s each) |")
        print(f"| {args.row} proofs, a fresh process each | {fresh_s:.1f} s "
              f"({fresh_s / args.row:.1f} s each) |")
        print(f"| proofs per hour per warm process | {3600 * args.row / warm_s:.0f} |")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curve", choices=["secp256k1", "secp256r1"], default="secp256k1")
    parser.add_argument("--proofs", type=int, default=3)
    parser.add_argument("--row", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
