"""NOTIFY wake-up benchmark: time from a committed, NOTIFYed row to its claim by an idle worker.

    python bench/wakeup.py [--rows 50] [--poll 5]

An idle worker polls every `--poll` seconds (production's default is 5 s); without the
LISTEN connection a new row would wait half a poll interval on average. Prints the median
and p95 of the wake-up latency, and the same for a worker with LISTEN switched off
(the poll-only baseline), in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import databases  # noqa: E402
from tests.support.factories import queue_submissions  # noqa: E402
from touchgrass import db  # noqa: E402
from touchgrass.queue.engine import Claimed  # noqa: E402
from touchgrass.queue.listener import Listener  # noqa: E402
from touchgrass.queue.outcomes import Done, Outcome  # noqa: E402
from touchgrass.queue.stages import GENERATE, Policy  # noqa: E402
from touchgrass.queue.worker import Worker, WorkerEvent  # noqa: E402


async def measure(url: str, rows: int, poll_s: float, listen: bool) -> list[float]:
    pool = await db.create_pool(url, size=4)
    claimed: asyncio.Queue[float] = asyncio.Queue()

    async def handler(job: Claimed) -> Outcome:
        return Done({"proof_json": {}})

    def on_event(event: WorkerEvent) -> None:
        if event.kind == "claimed":
            claimed.put_nowait(time.perf_counter())

    worker = Worker(pool, GENERATE, Policy(3, 60, 600, 0.2), handler, owner="bench",
                    poll_interval_s=poll_s, on_event=on_event)
    stop = asyncio.Event()
    listener = Listener(url)
    listener.subscribe(GENERATE.channel, worker.wake)
    tasks = [asyncio.create_task(worker.run(stop))]
    if listen:
        tasks.append(asyncio.create_task(listener.run(stop)))
        await asyncio.wait_for(listener.listening.wait(), 10)
    await asyncio.sleep(0.5)
    while not claimed.empty():
        claimed.get_nowait()
    latencies = []
    try:
        for _ in range(rows):
            await asyncio.sleep(0.05)
            async with pool.acquire() as connection:
                started = time.perf_counter()
                await queue_submissions(connection, 1, notify=True)
            latencies.append(await asyncio.wait_for(claimed.get(), poll_s * 2) - started)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await pool.close()
    return latencies


def summary(values: list[float]) -> str:
    p95 = statistics.quantiles(values, n=20)[-1]
    return f"median {statistics.median(values) * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--poll", type=float, default=5.0)
    args = parser.parse_args()
    with databases.postgres_server() as server:
        url = databases.create_database(server, "touchgrass_bench")
        try:
            with_listen = asyncio.run(measure(url, args.rows, args.poll, listen=True))
            poll_only = asyncio.run(measure(url, max(10, args.rows // 5), args.poll, listen=False))
        finally:
            databases.drop_database(url)
    print(f"LISTEN/NOTIFY   ({len(with_listen)} rows): {summary(with_listen)}")
    print(f"poll only {args.poll:g} s ({len(poll_only)} rows): {summary(poll_only)}")


if __name__ == "__main__":
    main()
