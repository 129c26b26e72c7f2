"""A pool of Node.js prover processes: one proof at a time per process.

Processes compile once at start (the first one alone, so the others find a warm file
cache), are replaced when they crash or hang (only the request in flight fails, and the
queue retries it), and are recycled after `max_proofs` requests or above `max_rss_mb`, a
safety net: with the garbage collected after each proof (service.js) a process's memory
stays flat after its second proof (bench/README.md "Prover memory").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from touchgrass import logs, metrics
from touchgrass.errors import ConfigError, ProverCrashed, ProverRequestError, ProverStartError, ProverTimeout
from touchgrass.node import ops
from touchgrass.node.install import Installation, find_node, install
from touchgrass.node.process import ProverProcess, command_for, environment
from touchgrass.settings import ProverSettings

__all__ = ["CACHE_BYTES", "MAX_RSS_MB", "PoolConfig", "Progress", "ProverPool",
           "check_cache_space", "compile_circuits", "max_rss_mb", "open_pool"]

log = logs.get_logger(__name__)

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class PoolConfig:
    size: int
    curve: str
    cache_dir: str
    node_binary: str = "node"
    threads: int | None = None
    request_timeout_s: float = 600.0
    start_timeout_s: float = 900.0
    max_proofs: int = 50
    max_rss_mb: int = 4096
    zkapp: bool = False  # also compile AuthenticityZkApp (the publisher's processes)

    @property
    def threads_per_process(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.size)


class ProverPool:
    def __init__(self, config: PoolConfig, installation: Installation) -> None:
        if config.size < 1:
            raise ValueError("a prover pool needs at least one process")
        self.config = config
        self.installation = installation
        self._idle: asyncio.Queue[ProverProcess] = asyncio.Queue()
        self._all: set[ProverProcess] = set()
        self._replacing: set[asyncio.Task[None]] = set()
        self._counter = 0
        self._closed = False
        self.restarts = 0
        self.recycles = 0

    def _new_process(self) -> ProverProcess:
        self._counter += 1
        node = find_node(self.config.node_binary)
        return ProverProcess(
            command_for(node, str(self.installation.entry)),
            environment(curve=self.config.curve, cache_dir=self.config.cache_dir,
                        threads=self.config.threads_per_process, zkapp=self.config.zkapp),
            name=f"prover-{self._counter}",
        )

    async def _start_one(self, progress: Progress | None) -> ProverProcess:
        process = self._new_process()
        info = await process.start(self.config.start_timeout_s, progress)
        log.info("prover", "%s ready (pid %s, compiled in %.1f s)", process.name, process.pid,
                 info.get("compileSeconds", 0.0))
        self._all.add(process)
        return process

    def process_rss(self) -> list[int]:
        """Resident memory of each live process (the metrics read it when scraped)."""
        return [process.rss_bytes() for process in list(self._all)]

    async def start(self, progress: Progress | None = None) -> None:
        """Start every process; the first alone (a cold compile fills the cache)."""
        metrics.watch_pool(self)
        first = await self._start_one(progress)
        await self._idle.put(first)
        if self.config.size > 1:
            try:
                others = await asyncio.gather(*(self._start_one(progress)
                                                 for _ in range(self.config.size - 1)))
            except BaseException:
                await self.close()
                raise
            for process in others:
                await self._idle.put(process)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._all if p.pid is not None and p.alive]

    async def run(self, op: str, params: Mapping[str, Any],
                  timeout_s: float | None = None) -> Any:
        """Send one request to an idle process; crashes and timeouts replace the process."""
        if self._closed:
            raise ProverCrashed("the prover pool is closed")
        process = await self._idle.get()
        healthy = True
        try:
            return await process.request(op, params, timeout_s or self.config.request_timeout_s)
        except ProverRequestError:
            raise  # the process is fine; the request was refused
        except (ProverCrashed, ProverTimeout, OSError, ValueError):
            healthy = False
            raise
        except asyncio.CancelledError:
            healthy = False  # mid-request: the answer would arrive out of turn
            raise
        finally:
            if healthy and process.alive and not self._due_for_recycling(process):
                self._idle.put_nowait(process)
            else:
                self._replace(process, crashed=not healthy)

    def _due_for_recycling(self, process: ProverProcess) -> bool:
        if process.requests_served >= self.config.max_proofs:
            return True
        return process.rss_bytes() > self.config.max_rss_mb * 1024 * 1024

    def _replace(self, process: ProverProcess, *, crashed: bool) -> None:
        if crashed:
            self.restarts += 1
            log.warning("prover", "%s failed; starting a replacement", process.name)
        else:
            self.recycles += 1
            log.info("prover", "recycling %s after %d requests (rss %d MiB)", process.name,
                     process.requests_served, process.rss_bytes() // 2**20)
        self._all.discard(process)
        task = asyncio.create_task(self._replacement(process))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _replacement(self, old: ProverProcess) -> None:
        await old.stop(grace_s=2.0)
        delay = 1.0
        while not self._closed:
            try:
                fresh = await self._start_one(None)
            except (ProverStartError, OSError) as error:
                log.error("prover", "could not start a prover process (%s); retrying in %.0f s",
                          error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
                continue
            if self._closed:
                await fresh.stop()
                self._all.discard(fresh)
                return
            self._idle.put_nowait(fresh)
            return

    async def close(self) -> None:
        """Stop every process (and any replacement being started); idempotent."""
        self._closed = True
        metrics.unwatch_pool(self)
        for task in list(self._replacing):
            task.cancel()
        for task in list(self._replacing):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(*(p.stop() for p in list(self._all)), return_exceptions=True)
        self._all.clear()


# PROVER_MAX_RSS_MB's defaults (MiB), from bench/prover.py's 20-proof runs: a prover's
# highest peak over 20 proofs with a quarter on top, so a process recycles only if it grows
# well past what was measured. Size a container for this plus one proof's ~350 MiB above
# its resting memory (docs/operations.md). The builders also hold the contract and prove
# its transactions; they keep the earlier, unmeasured 4096.
MAX_RSS_MB = {"secp256k1": 2688, "secp256r1": 2688}
BUILDER_MAX_RSS_MB = 4096


def max_rss_mb(settings: ProverSettings, curve: str, *, zkapp: bool) -> int:
    if settings.prover_max_rss_mb is not None:
        return settings.prover_max_rss_mb
    return BUILDER_MAX_RSS_MB if zkapp else MAX_RSS_MB[curve]


async def open_pool(settings: ProverSettings, *, curve: str, size: int = 1, zkapp: bool = False,
                    progress: Progress | None = None) -> ProverPool:
    """Install the JS dependencies when missing, start `size` processes, wait until ready.

    The one place a pool is configured from settings: `zkapp` processes also compile the
    contract (the publisher's builders, `touchgrass setup --compile`).
    """
    installation = await asyncio.to_thread(install, settings.prover_js_dir, settings.node_binary)
    await asyncio.to_thread(check_cache_space, settings.circuit_cache_path, curve)
    pool = ProverPool(PoolConfig(
        size=size, curve=curve, cache_dir=str(settings.circuit_cache_path), zkapp=zkapp,
        node_binary=settings.node_binary, threads=settings.prover_threads,
        request_timeout_s=settings.prover_timeout_s,
        start_timeout_s=settings.prover_start_timeout_s, max_proofs=settings.prover_max_proofs,
        max_rss_mb=max_rss_mb(settings, curve, zkapp=zkapp),
    ), installation)
    await pool.start(progress)
    return pool


# What a cold compile writes into CIRCUIT_CACHE_PATH with the zkApp, measured with
# `touchgrass setup --compile` into an empty directory: secp256k1 635 MiB, P-256 925 MiB.
CACHE_BYTES = {"secp256k1": 640 * 2**20, "secp256r1": 930 * 2**20}


def check_cache_space(path: Path, curve: str) -> None:
    """Refuse to start a compile that would fill the disk halfway (one line, before any
    process starts), counting what the cache already holds."""
    path.mkdir(parents=True, exist_ok=True)
    held = sum(entry.stat().st_size for entry in path.iterdir() if entry.is_file())
    needed = CACHE_BYTES.get(curve, max(CACHE_BYTES.values())) - held
    free = shutil.disk_usage(path).free
    if needed > free:
        raise ConfigError(f"CIRCUIT_CACHE_PATH {path} has {free // 2**20} MiB free and compiling "
                          f"the {curve} circuit writes about {needed // 2**20} MiB there; free "
                          "space or point CIRCUIT_CACHE_PATH at a larger disk")


async def compile_circuits(settings: ProverSettings, *, curve: str,
                           progress: Progress | None = None) -> str:
    """`touchgrass setup --compile`: fill the cache for `curve` (circuit and zkApp); returns
    the verification key hash the cache holds."""
    pool = await open_pool(settings, curve=curve, zkapp=True, progress=progress)
    try:
        return (await ops.info(pool)).verification_key_hash
    finally:
        await pool.close()
