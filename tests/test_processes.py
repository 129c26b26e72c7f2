"""Acceptance: generate roles as separate OS processes (the way production runs them)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest

from tests.conftest import REPO_ROOT
from tests.support.factories import queue_submissions
from tests.support.fakes import read_calls

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def start_generate(database_url: str, storage_dir: Path, calls: Path, *, concurrency: int = 1,
                   delay_s: float = 0.0, lease_s: float = 600.0, name: str = "p",
                   **extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STORAGE_DIR": str(storage_dir),
        "TEST_PROVER_CALLS": str(calls),
        "TEST_PROVER_DELAY_S": str(delay_s),
        "TEST_CONCURRENCY": str(concurrency),
        "GENERATE_LEASE_S": str(lease_s),
        "QUEUE_POLL_INTERVAL_S": "0.5",
        "SHUTDOWN_GRACE_S": "5",
        **extra,
    }
    log = open(storage_dir.parent / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "tests.support.worker_process"], cwd=REPO_ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def stop_all(processes: list[subprocess.Popen]) -> list[int]:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    return [process.wait(timeout=30) for process in processes]


async def test_eight_processes_process_two_thousand_rows_exactly_once(
    pool: asyncpg.Pool, database_url: str, storage, tmp_path: Path,
) -> None:
    rows = await queue_submissions(pool, 2000, storage=storage)
    calls = tmp_path / "calls.txt"
    processes = [start_generate(database_url, storage.root, calls, concurrency=4, name=f"g{i}")
                 for i in range(8)]
    started = time.monotonic()
    try:
        async def all_done() -> bool:
            return await pool.fetchval(
                "SELECT count(*) FROM submissions WHERE status = 'proof_publishing'") == 2000
        await wait_until(all_done, 180, "2000 rows to reach proof_publishing")
    finally:
        codes = stop_all(processes)
    elapsed = time.monotonic() - started
    started_calls, finished_calls = read_calls(calls)
    print(f"8 processes x concurrency 4: 2000 rows in {elapsed:.1f} s "
          f"({2000 / elapsed:.0f} rows/s)")
    assert codes == [0] * 8
    assert set(started_calls) == {r["sha256_hash"] for r in rows}
    assert max(started_calls.values()) == 1 and sum(started_calls.values()) == 2000
    assert sum(finished_calls.values()) == 2000
    pids = {line.split()[2] for line in calls.read_text().splitlines()}
    assert len(pids) > 1, "the work was not shared between processes"
    assert await pool.fetchval("SELECT count(*) FROM submissions WHERE proof_json IS NULL") == 0


async def test_kill_9_then_another_process_finishes_the_rows_once_each(
    pool: asyncpg.Pool, database_url: str, storage, tmp_path: Path,
) -> None:
    rows = await queue_submissions(pool, 3, storage=storage)
    calls = tmp_path / "calls.txt"
    victim = start_generate(database_url, storage.root, calls, concurrency=3, delay_s=60,
                            lease_s=2.0, name="victim")

    async def all_leased() -> bool:
        return await pool.fetchval(
            "SELECT count(*) FROM submissions WHERE lease_owner IS NOT NULL") == 3
    try:
        await wait_until(all_leased, 30, "the victim to lease all rows")
        victim_owner = await pool.fetchval("SELECT DISTINCT lease_owner FROM submissions")
        victim.kill()  # SIGKILL: no release, no cleanup
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    rescuer = start_generate(database_url, storage.root, calls, concurrency=3, name="rescuer")
    try:
        async def all_done() -> bool:
            return await pool.fetchval(
                "SELECT count(*) FROM submissions WHERE status = 'proof_publishing'") == 3
        await wait_until(all_done, 60, "the rescuer to finish the rows")
    finally:
        assert stop_all([rescuer]) == [0]
    started_calls, finished_calls = read_calls(calls)
    # each row finished exactly once; the victim may have begun a row before it died (on a
    # loaded machine it can die holding leases it had not started working on yet)
    assert finished_calls == {r["sha256_hash"]: 1 for r in rows}
    assert all(started_calls[r["sha256_hash"]] in (1, 2) for r in rows)
    assert victim_owner.startswith("generate@")


async def test_sigterm_releases_in_flight_rows_and_exits_cleanly(
    pool: asyncpg.Pool, database_url: str, storage, tmp_path: Path,
) -> None:
    await queue_submissions(pool, 2, storage=storage)
    process = start_generate(database_url, storage.root, tmp_path / "calls.txt", concurrency=2,
                             delay_s=60, name="term")

    async def leased() -> bool:
        return await pool.fetchval(
            "SELECT count(*) FROM submissions WHERE lease_owner IS NOT NULL") == 2
    await wait_until(leased, 30, "rows to be leased")
    children_before = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0  # grace is 5 s, the proof would take 60
    rows = await pool.fetch("SELECT lease_owner, attempts FROM submissions")
    assert [dict(r) for r in rows] == [{"lease_owner": None, "attempts": 0}] * 2
    assert not any(child.is_running() for child in children_before)
