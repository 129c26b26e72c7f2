"""The prover pool's mechanics with a stand-in Node program (fast; the real prover's own
tests are in test_prover.py): recycling, timeouts, crashes, start failures, clear errors."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from touchgrass.errors import (
    ConfigError,
    ProverCrashed,
    ProverRequestError,
    ProverStartError,
    ProverTimeout,
)
from touchgrass.node.install import Installation, find_node
from touchgrass.node.pool import PoolConfig, ProverPool

pytestmark = pytest.mark.anyio

FAKE = Path(__file__).parent / "support" / "fake_prover.mjs"


class FakeInstallation(Installation):
    @property
    def entry(self) -> Path:
        return FAKE


def pool_of(size: int = 1, **config: object) -> ProverPool:
    return ProverPool(PoolConfig(size=size, curve="secp256k1", cache_dir="/tmp", **config),  # type: ignore[arg-type]
                      FakeInstallation(FAKE.parent))


async def wait_for_idle(pool: ProverPool, count: int) -> None:
    for _ in range(200):
        if pool._idle.qsize() >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the pool did not recover")


async def test_requests_are_spread_and_answered() -> None:
    pool = pool_of(2)
    await pool.start()
    try:
        answers = await asyncio.gather(*(pool.run("prove", {"delayMs": 50}) for _ in range(6)))
        assert len({a["pid"] for a in answers}) == 2
    finally:
        await pool.close()


async def test_a_process_is_recycled_after_max_proofs() -> None:
    pool = pool_of(1, max_proofs=2)
    await pool.start()
    try:
        first = [(await pool.run("prove", {}))["pid"] for _ in range(2)]
        await wait_for_idle(pool, 1)
        after = (await pool.run("prove", {}))["pid"]
        assert first[0] == first[1] != after and pool.recycles == 1
    finally:
        await pool.close()


async def test_a_process_above_the_memory_limit_is_recycled() -> None:
    pool = pool_of(1, max_rss_mb=256)
    await pool.start()
    try:
        [process] = list(pool._all)
        process.rss_bytes = lambda: 512 * 2**20  # type: ignore[method-assign]
        before = (await pool.run("prove", {}))["pid"]
        await wait_for_idle(pool, 1)
        assert (await pool.run("prove", {}))["pid"] != before and pool.recycles == 1
    finally:
        await pool.close()


async def test_a_crash_fails_the_request_and_the_process_is_replaced() -> None:
    pool = pool_of(1)
    await pool.start()
    try:
        with pytest.raises(ProverCrashed, match="died during crash"):
            await pool.run("crash", {})
        await wait_for_idle(pool, 1)
        assert (await pool.run("prove", {}))["pid"] and pool.restarts == 1
    finally:
        await pool.close()


async def test_a_hung_request_times_out_and_the_process_is_killed() -> None:
    pool = pool_of(1, request_timeout_s=0.5)
    await pool.start()
    try:
        [hung_pid] = pool.pids
        with pytest.raises(ProverTimeout, match="longer than 0.5 s"):
            await pool.run("hang", {})
        await wait_for_idle(pool, 1)
        assert (await pool.run("prove", {}))["pid"] != hung_pid
        with pytest.raises(ProcessLookupError):
            os.kill(hung_pid, 0)
    finally:
        await pool.close()


async def test_a_refusal_keeps_the_process() -> None:
    pool = pool_of(1)
    await pool.start()
    try:
        [pid] = pool.pids
        with pytest.raises(ProverRequestError) as refused:
            await pool.run("refuse", {})
        assert not refused.value.retryable and pool.pids == [pid]
    finally:
        await pool.close()


async def test_a_start_failure_says_why(monkeypatch) -> None:
    monkeypatch.setenv("FAKE_PROVER_FAIL_START", "1")
    pool = pool_of(1)
    with pytest.raises(ProverStartError, match="compile exploded"):
        await pool.start()
    await pool.close()


async def test_close_leaves_no_process() -> None:
    pool = pool_of(2)
    await pool.start()
    pids = pool.pids
    await pool.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_missing_node_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="NODE_BINARY"):
        find_node("node-that-does-not-exist")


def test_the_memory_limit_defaults_per_curve_and_the_setting_wins() -> None:
    from touchgrass.node.pool import BUILDER_MAX_RSS_MB, MAX_RSS_MB, max_rss_mb
    from touchgrass.settings import ProverSettings

    defaults = ProverSettings()
    assert max_rss_mb(defaults, "secp256r1", zkapp=False) == MAX_RSS_MB["secp256r1"]
    assert max_rss_mb(defaults, "secp256k1", zkapp=False) == MAX_RSS_MB["secp256k1"]
    assert max_rss_mb(defaults, "secp256r1", zkapp=True) == BUILDER_MAX_RSS_MB
    assert max_rss_mb(ProverSettings(prover_max_rss_mb=3000), "secp256r1", zkapp=False) == 3000
