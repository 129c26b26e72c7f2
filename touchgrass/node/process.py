"""One Node.js prover process and its JSON-lines conversation (see js/src/service.js)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from touchgrass import logs
from touchgrass.errors import (
    ProverCrashed,
    ProverRequestError,
    ProverStartError,
    ProverTimeout,
)

__all__ = ["ProverProcess", "command_for", "environment"]

log = logs.get_logger(__name__)

# A proof is ~33 KB of JSON on one line; asyncio's default line limit is 64 KiB.
LINE_LIMIT = 16 * 1024 * 1024
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the kernel kills the child if this process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ProverProcess:
    def __init__(self, command: list[str], env: Mapping[str, str], *, name: str) -> None:
        self.command = command
        self.env = dict(env)
        self.name = name
        self.requests_served = 0
        self.ready_info: dict[str, Any] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._stderr_tail: deque[str] = deque(maxlen=30)
        self._stderr_task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def rss_bytes(self) -> int:
        """Resident memory of the process, from /proc (0 when unknown)."""
        if self.pid is None:
            return 0
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    async def start(self, timeout_s: float,
                    on_progress: Callable[[str, float], None] | None = None) -> dict[str, Any]:
        """Spawn and wait for `{"event": "ready"}` (the circuit compiled)."""
        self._process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env, limit=LINE_LIMIT,
            preexec_fn=die_with_parent,
        )
        self._stderr_task = asyncio.create_task(self._forward_stderr())
        started = time.monotonic()
        assert self._process.stdout is not None
        reading = asyncio.create_task(self._process.stdout.readline())
        try:
            while True:
                done, _ = await asyncio.wait({reading}, timeout=5.0)
                elapsed = time.monotonic() - started
                if done:
                    break
                if elapsed > timeout_s:
                    raise ProverStartError(f"{self.name} did not compile within {timeout_s:g} s")
                if on_progress:
                    on_progress(self.name, elapsed)
            line = reading.result()
        except BaseException:
            reading.cancel()
            await self.kill()
            raise
        if not line:
            await self.kill()
            raise ProverStartError(f"{self.name} exited before it was ready: "
                                   + self._last_error())
        try:
            message: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            await self.kill()
            raise ProverStartError(f"{self.name} printed something unexpected: {line[:200]!r}") from None
        if message.get("event") != "ready":
            await self.kill()
            raise ProverStartError(f"{self.name} did not announce readiness: {message}")
        self.ready_info = message
        return message

    async def _forward_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        while line := await self._process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self._stderr_tail.append(text)
            try:
                entry = json.loads(text)
                log.debug(entry.get("action", "node"), "%s", entry.get("message", text),
                          prover=self.name)
            except (json.JSONDecodeError, AttributeError):
                log.debug("node", "%s", text, prover=self.name)

    def _last_error(self) -> str:
        for line in reversed(self._stderr_tail):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if line.strip():
                    return line.strip()[:500]
                continue
            if entry.get("level") == "error":
                return str(entry.get("message", ""))[:500]
        return (self._stderr_tail[-1][:500] if self._stderr_tail else "no output")

    async def request(self, op: str, params: Mapping[str, Any], timeout_s: float) -> Any:
        """One request, one answer. Crash and timeout leave the process dead."""
        async with self._lock:
            if not self.alive:
                raise ProverCrashed(f"{self.name} is not running")
            assert self._process is not None and self._process.stdin and self._process.stdout
            request_id = next(self._ids)
            line = json.dumps({"id": request_id, "op": op, "params": params}) + "\n"
            try:
                self._process.stdin.write(line.encode())
                await self._process.stdin.drain()
                answer = await asyncio.wait_for(self._process.stdout.readline(), timeout_s)
            except TimeoutError:
                await self.kill()
                raise ProverTimeout(f"{self.name}: {op} took longer than {timeout_s:g} s; "
                                    "the process was killed") from None
            except (BrokenPipeError, ConnectionResetError):
                answer = b""
            if not answer:
                code = await self._wait_exit()
                raise ProverCrashed(f"{self.name} died during {op} (exit {code}): "
                                    + self._last_error())
            message = json.loads(answer)
            if message.get("id") != request_id:
                await self.kill()
                raise ProverCrashed(f"{self.name} answered out of order; restarting it")
            self.requests_served += 1
            if message.get("ok"):
                return message.get("result")
            error = message.get("error") or {}
            raise ProverRequestError(str(error.get("code", "internal")),
                                     str(error.get("message", "unknown error")))

    async def _wait_exit(self) -> int | None:
        assert self._process is not None
        with contextlib.suppress(asyncio.TimeoutError):
            return await asyncio.wait_for(self._process.wait(), 5)
        await self.kill()
        return self._process.returncode

    async def stop(self, grace_s: float = 5.0) -> None:
        """Close stdin (the program exits when it ends) and kill it if it lingers."""
        if self._process is None:
            return
        if self.alive and self._process.stdin:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._process.wait(), grace_s)
        await self.kill()

    async def kill(self) -> None:
        if self._process is None:
            return
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._process.wait(), 10)
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._stderr_task, 2)


def command_for(node: str, entry: str) -> list[str]:
    # --expose-gc: the service collects V8's garbage after each proof (service.js, serve).
    return [node, "--enable-source-maps", "--expose-gc", entry]


def environment(*, curve: str, cache_dir: str, threads: int, zkapp: bool = False
                ) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DATABASE_", "MINIO_", "ADMIN_", "FEE_PAYER"))}  # no secrets
    env.update({
        "TOUCHGRASS_CURVE": curve,
        "CIRCUIT_CACHE_PATH": cache_dir,
        "TOUCHGRASS_PROVER_THREADS": str(threads),
        "RAYON_NUM_THREADS": str(threads),
        "O1JS_BACKEND": env.get("O1JS_BACKEND", "native"),
        "TOUCHGRASS_ZKAPP": "1" if zkapp else "0",
    })
    # glibc's malloc gives each of the prover's threads its own arena, which keeps freed
    # memory: two arenas hold a P-256 prover ~90 MiB lower at the same speed (bench/README.md
    # "Prover memory"). An operator's own value wins.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env
