"""Upload benchmark: uploads/s and peak memory of a `touchgrass api` process.

    python bench/api.py [--clients 8] [--size 1048576] [--uploads 160] [--runs 3] [--storage s3|fs]

Starts a real SeaweedFS (S3) and the API as a subprocess, then `--clients` concurrent
clients upload distinct, correctly signed `--size`-byte images (signed before the clock
starts). Reports per run and the median of the runs: uploads/s, latency median/p95, and the
API process's peak RSS (sampled every 20 ms) above its idle RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import databases  # noqa: E402
from tests.support.api import WALLET  # noqa: E402
from tests.support.seaweed import seaweedfs  # noqa: E402
from touchgrass.signatures import generate_private_key, sign  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def make_chain(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        challenge = await connection.fetchval(
            "INSERT INTO challenges (title, description, start_time, end_time, deployment_status,"
            " zkapp_address) VALUES ('bench', 'bench', now() - interval '1 hour', now() + "
            "interval '1 day', 'active', $1) RETURNING id", WALLET)
        return str(await connection.fetchval(
            "INSERT INTO chains (name, challenge_id) VALUES ('Default', $1) RETURNING id", challenge))
    finally:
        await connection.close()


async def run_once(base: str, chain_id: str, private: str, args, process: psutil.Process) -> dict:
    images = [os.urandom(args.size) for _ in range(args.uploads)]
    signed = [(image, sign(private, hashlib.sha256(image).digest(), "secp256k1")) for image in images]
    queue: asyncio.Queue = asyncio.Queue()
    for item in signed:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: list[int] = []
    idle_rss = process.memory_info().rss
    peak = idle_rss
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.02)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            image, signature = queue.get_nowait()
            form = aiohttp.FormData()
            form.add_field("image", image, filename="p.jpg", content_type="image/jpeg")
            form.add_field("chainId", chain_id)
            form.add_field("walletAddress", WALLET)
            form.add_field("signatureR", f"{signature.r:064x}")
            form.add_field("signatureS", f"{signature.s:064x}")
            started = time.perf_counter()
            async with session.post(f"{base}/api/submissions", data=form) as response:
                await response.read()
                statuses.append(response.status)
            latencies.append(time.perf_counter() - started)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(args.clients)))
    elapsed = time.perf_counter() - started
    sampling = False
    await sampler
    assert statuses == [201] * len(statuses), sorted(set(statuses))
    return {"uploads_per_s": len(images) / elapsed,
            "latency_ms": statistics.median(latencies) * 1000,
            "p95_ms": statistics.quantiles(latencies, n=20)[-1] * 1000,
            "peak_rss_mib": peak / 2**20, "idle_rss_mib": idle_rss / 2**20,
            "growth_mib": (peak - idle_rss) / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    parser.add_argument("--uploads", type=int, default=160)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--storage", choices=["s3", "fs"], default="s3")
    args = parser.parse_args()
    private, public = generate_private_key("secp256k1")
    with databases.postgres_server() as server, seaweedfs() as s3:
        url = databases.create_database(server, "touchgrass_bench")
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "ADMIN_PASSWORD": "bench",
               "SIGNER_PUBLIC_KEY": str(public), "LOG_LEVEL": "WARNING",
               "UPLOAD_MAX_SIZE": str(max(args.size, 10 * 1024 * 1024))}
        if args.storage == "s3":
            env.update(MINIO_ENDPOINT=s3.endpoint, MINIO_ROOT_USER=s3.access_key,
                       MINIO_ROOT_PASSWORD=s3.secret_key, MINIO_BUCKET="bench")
        else:
            env["STORAGE_DIR"] = f"/tmp/touchgrass-bench-{os.getpid()}"
        api = subprocess.Popen([sys.executable, "-m", "touchgrass.cli", "api", "--host",
                                "127.0.0.1", "--port", str(port)], cwd=REPO, env=env)
        try:
            chain_id = asyncio.run(make_chain(url))
            for _ in range(300):
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
            process = psutil.Process(api.pid)
            runs = []
            for number in range(1, args.runs + 1):
                result = asyncio.run(run_once(f"http://127.0.0.1:{port}", chain_id, private,
                                              args, process))
                runs.append(result)
                print(f"run {number}: {result['uploads_per_s']:6.1f} uploads/s  latency median "
                      f"{result['latency_ms']:6.1f} ms p95 {result['p95_ms']:6.1f} ms  peak RSS "
                      f"{result['peak_rss_mib']:6.1f} MiB (+{result['growth_mib']:.1f} over idle "
                      f"{result['idle_rss_mib']:.1f})", flush=True)
        finally:
            api.terminate()
            api.wait(timeout=30)
            databases.drop_database(url)
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(f"\nmedian of {args.runs} runs ({args.clients} clients, {args.size / 2**20:g} MiB images, "
          f"{args.uploads} uploads each, {args.storage}): {median['uploads_per_s']:.1f} uploads/s, "
          f"latency median {median['latency_ms']:.1f} ms, p95 {median['p95_ms']:.1f} ms, "
          f"peak RSS {median['peak_rss_mib']:.1f} MiB (+{median['growth_mib']:.1f} MiB over idle)")


if __name__ == "__main__":
    main()
