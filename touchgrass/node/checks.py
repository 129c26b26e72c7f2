"""A checks process: o1js for `verify-proof` and `verify`, ready in under a second.

Proving needs a compiled circuit (seconds to minutes); checking a proof needs only the
stored verification key (node/keys.py), and folding a zkApp's actions into its action-state
hash needs only o1js's Poseidon. One short-lived Node.js process (js/src/tools.js) does both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from touchgrass.node.install import find_node, install
from touchgrass.node.process import ProverProcess, command_for, environment
from touchgrass.settings import ProverSettings

__all__ = ["ChecksProcess", "open_checks"]

START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 120.0


class ChecksProcess:
    """A `Runner` (node/ops.py) for the checks ops."""

    def __init__(self, process: ProverProcess) -> None:
        self._process = process

    async def run(self, op: str, params: Mapping[str, Any],
                  timeout_s: float | None = None) -> Any:
        return await self._process.request(op, params, timeout_s or REQUEST_TIMEOUT_S)


@asynccontextmanager
async def open_checks(settings: ProverSettings) -> AsyncIterator[ChecksProcess]:
    installation = await asyncio.to_thread(install, settings.prover_js_dir, settings.node_binary)
    node = find_node(settings.node_binary)
    await asyncio.to_thread(settings.circuit_cache_path.mkdir, parents=True, exist_ok=True)
    process = ProverProcess(
        command_for(node, str(installation.checks_entry)),
        # the provers' cache: verifying reads the SRS and the wrap domain's Lagrange basis
        # from it (tools.js), computing and writing them only on a machine's first check
        environment(curve="", cache_dir=str(settings.circuit_cache_path),
                    threads=settings.prover_threads or 2),
        name="checks")
    await process.start(START_TIMEOUT_S)
    try:
        yield ChecksProcess(process)
    finally:
        await process.stop()
