"""List benchmark: `GET /api/submissions?chainId=` over 1k to 1M rows, this code against a
baseline revision, each API a real `touchgrass api` process on its own database.

    python bench/lists.py [--sizes 1000,10000,100000,1000000] [--runs 3] [--baseline REV]

For each size: time to the first body byte and to the last, bytes, and the API process's
peak RSS above its idle RSS (sampled every 10 ms); the median of `--runs` (one run at 1M,
where the baseline takes a minute). Then pages of 100 at the start, the middle and the end
of the largest chain: this code's `?limit=100&after=` against the OFFSET query a
LIMIT/OFFSET API would run (SQL only, so the baseline is not charged for HTTP).

The baseline is checked out with `git worktree` into a temporary folder and migrated with
its own migrations, so each side runs with the indexes it ships.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import databases  # noqa: E402
from tests.support.api import WALLET  # noqa: E402
from tests.support.api_process import ApiProcess  # noqa: E402
from touchgrass.api import pages  # noqa: E402
from touchgrass.signatures import generate_private_key  # noqa: E402
from touchgrass.store.keyset import Key  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "b703b29"  # main before keyset lists


async def seed(url: str, up_to: int, have: int, chain_id: str | None) -> str:
    """Grow one chain of complete submissions to `up_to` rows (one a second into the past)."""
    connection = await asyncpg.connect(url)
    try:
        if chain_id is None:
            await connection.execute("INSERT INTO users (wallet_address) VALUES ($1)", WALLET)
            challenge = await connection.fetchval(
                "INSERT INTO challenges (title, description, start_time, end_time, "
                "deployment_status, zkapp_address) VALUES ('bench', 'bench', now() - interval "
                "'1 hour', now() + interval '1 day', 'active', $1) RETURNING id", WALLET)
            chain_id = str(await connection.fetchval(
                "INSERT INTO chains (name, challenge_id) VALUES ('Default', $1) RETURNING id",
                challenge))
        await connection.execute(
            """INSERT INTO submissions (sha256_hash, wallet_address, signature, challenge_id,
                   chain_id, storage_key, tagline, chain_position, status, challenge_verified,
                   attempts, transaction_id, created_at)
               SELECT encode(sha256(n::text::bytea), 'hex'), $1,
                      '{"r":"' || repeat('a', 64) || '","s":"' || repeat('b', 64) || '"}',
                      c.challenge_id, c.id, 'images/' || encode(sha256(n::text::bytea), 'hex'),
                      'a tagline ' || n, n, 'complete', true, 1, '5Ju' || md5(n::text),
                      timestamptz '2026-01-01' - n * interval '1 second'
               FROM chains c, generate_series($2::int + 1, $3::int) AS n WHERE c.id = $4""",
            WALLET, have, up_to, uuid.UUID(chain_id))
        await connection.execute("VACUUM ANALYZE submissions")
        return chain_id
    finally:
        await connection.close()


def start_api(source: Path, url: str, signer: str) -> ApiProcess:
    """One `touchgrass api` process from `source` (a checkout) on database `url`."""
    return ApiProcess({"DATABASE_URL": url, "ADMIN_PASSWORD": "bench-password-1234",
                       "SIGNER_PUBLIC_KEY": signer, "LOG_LEVEL": "WARNING",
                       "STORAGE_DIR": tempfile.mkdtemp(prefix="touchgrass-bench-")},
                      source=source)


async def full_list(api: ApiProcess, chain_id: str) -> dict[str, float]:
    process = psutil.Process(api.process.pid)
    idle = peak = process.memory_info().rss
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    size = 0
    first: float | None = None
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        async with session.get(f"{api.base}/api/submissions?chainId={chain_id}") as response:
            assert response.status == 200
            async for chunk in response.content.iter_any():
                if first is None:
                    first = time.perf_counter() - started
                size += len(chunk)
        elapsed = time.perf_counter() - started
    sampling = False
    await sampler
    return {"total_s": elapsed, "first_byte_ms": (first or elapsed) * 1000,
            "mb": size / 1e6, "rss_growth_mib": (peak - idle) / 2**20}


async def page_times(api: ApiProcess, url: str, chain_id: str, depths: list[int]) -> dict[int, float]:
    """Median ms of `?limit=100&after=<key of row depth-1>` (20 requests each)."""
    connection = await asyncpg.connect(url)
    results = {}
    try:
        async with aiohttp.ClientSession() as session:
            for depth in depths:
                query = f"/api/submissions?chainId={chain_id}&limit=100"
                if depth:
                    row = await connection.fetchrow(
                        "SELECT created_at, id FROM submissions WHERE chain_id = $1 ORDER BY "
                        "created_at DESC, id DESC OFFSET $2 LIMIT 1",
                        uuid.UUID(chain_id), depth - 1)
                    query += "&after=" + pages.encode_cursor(Key(row["created_at"], row["id"]))
                times = []
                for _ in range(20):
                    started = time.perf_counter()
                    async with session.get(api.base + query) as response:
                        body = await response.read()
                        assert response.status == 200 and body.startswith(b"[{"), body[:200]
                    times.append((time.perf_counter() - started) * 1000)
                results[depth] = statistics.median(times)
    finally:
        await connection.close()
    return results


async def offset_times(url: str, source: Path, chain_id: str, depths: list[int]) -> dict[int, float]:
    """The baseline of a page: the old list query with LIMIT 100 OFFSET depth, in SQL."""
    statement = subprocess.run(
        [sys.executable, "-c", "from touchgrass.store import submissions as s; "
         "print(s.SUBMISSION_LIST)"], cwd=source, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(source)}, check=True).stdout
    statement = statement.strip() + " LIMIT 100 OFFSET $5"
    connection = await asyncpg.connect(url)
    results = {}
    try:
        for depth in depths:
            times = []
            for _ in range(5):
                started = time.perf_counter()
                await connection.fetch(statement, None, uuid.UUID(chain_id),
                                       None, None, depth)
                times.append((time.perf_counter() - started) * 1000)
            results[depth] = statistics.median(times)
    finally:
        await connection.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    _, public = generate_private_key("secp256k1")
    baseline_dir = Path(tempfile.mkdtemp(prefix="touchgrass-baseline-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(baseline_dir), args.baseline],
                   cwd=REPO, check=True, capture_output=True)
    sides = {"this": REPO, f"baseline {args.baseline}": baseline_dir}
    try:
        with databases.postgres_server() as server:
            urls = {}
            for name, source in sides.items():
                urls[name] = databases.create_database(server, "touchgrass_bench", migrate=False)
                subprocess.run([sys.executable, "-m", "touchgrass.cli", "migrate"], cwd=source,
                               env={**os.environ, "DATABASE_URL": urls[name],
                                    "PYTHONPATH": str(source)}, check=True,
                               capture_output=True)
            apis = {name: start_api(source, urls[name], str(public)) for name, source in sides.items()}
            try:
                for api in apis.values():
                    asyncio.run(api.ready())
                chains: dict[str, str | None] = {name: None for name in sides}
                have = 0
                print("| rows | code | total | first byte | MB | API RSS growth |")
                print("| ---: | --- | ---: | ---: | ---: | ---: |")
                for size in sizes:
                    for name in sides:
                        chains[name] = asyncio.run(seed(urls[name], size, have, chains[name]))
                    have = size
                    runs = 1 if size >= 1_000_000 else args.runs
                    for name, api in apis.items():
                        results = [asyncio.run(full_list(api, chains[name])) for _ in range(runs)]
                        median = {k: statistics.median(r[k] for r in results) for k in results[0]}
                        print(f"| {size:,} | {name} | {median['total_s'] * 1000:,.0f} ms | "
                              f"{median['first_byte_ms']:,.1f} ms | {median['mb']:,.1f} | "
                              f"{median['rss_growth_mib']:,.1f} MiB |", flush=True)
                largest = sizes[-1]
                depths = [0, largest // 2, largest - 100]
                ours = asyncio.run(page_times(apis["this"], urls["this"], chains["this"], depths))
                name = f"baseline {args.baseline}"
                offset = asyncio.run(offset_times(urls[name], baseline_dir, chains[name], depths))
                print(f"\npages of 100 in {largest:,} rows (median ms)")
                print("| where | keyset, HTTP (this) | OFFSET, SQL only (baseline) |")
                print("| --- | ---: | ---: |")
                for depth in depths:
                    print(f"| row {depth:,} | {ours[depth]:.1f} | {offset[depth]:.1f} |")
            finally:
                for api in apis.values():
                    api.stop()
                for url in urls.values():
                    databases.drop_database(url)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline_dir)], cwd=REPO,
                       check=False, capture_output=True)


if __name__ == "__main__":
    main()
