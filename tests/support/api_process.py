"""`touchgrass api` as a real process on a loopback port, for the tests and the benchmarks
that need the whole serving stack (or a baseline checkout's)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import aiohttp

from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]


class ApiProcess:
    """`touchgrass api` from `source` (a checkout; this one by default) with `env` on top of
    the environment (MINIO_ENDPOINT removed: images go to STORAGE_DIR unless given)."""

    def __init__(self, env: dict[str, str], *, source: Path = REPO,
                 output: IO[str] | None = None) -> None:
        self.port = free_port()
        environment = {**os.environ, "PYTHONPATH": str(source), **env}
        if "MINIO_ENDPOINT" not in env:
            environment.pop("MINIO_ENDPOINT", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "touchgrass.cli", "api", "--host", "127.0.0.1", "--port",
             str(self.port)], cwd=source, env=environment,
            stdout=output if output is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"

    async def ready(self, path: str = "/api/version", timeout_s: float = 30) -> None:
        """Until `path` answers 200 (`/health` also waits for the database and storage)."""
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(self.base + path) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.process.poll() is not None:
                    raise RuntimeError(f"the API exited with code {self.process.returncode}")
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the API did not answer {path} within {timeout_s:g} s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
