"""`touchgrass devnet`: start the local DEVELOPMENT Mina network (proof/js/src/devnet.js).

It is not a Mina node: an o1js LocalBlockchain (proofs verified) behind the part of the
daemon's GraphQL API that touchgrass uses, for `touchgrass dev` and the tests. Production
points MINA_NODE_ENDPOINT at a real node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from dataclasses import dataclass
from pathlib import Path

from touchgrass import logs
from touchgrass.proof.install import find_node, install
from touchgrass.proof.process import _die_with_parent
from touchgrass.settings import ProverSettings

__all__ = ["Devnet", "start_devnet"]

log = logs.get_logger(__name__)


@dataclass
class Devnet:
    """A running devnet process; `graphql` is its endpoint."""

    process: asyncio.subprocess.Process
    graphql: str
    base_url: str
    height: int

    async def stop(self, timeout_s: float = 10.0) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0


async def start_devnet(*, port: int, state_dir: Path, block_interval_s: float = 5.0,
                       host: str = "127.0.0.1", prover: ProverSettings | None = None,
                       accounts: int = 20) -> Devnet:
    """Install the JS program when needed, start the devnet, wait until it serves."""
    settings = prover or ProverSettings()
    installation = await asyncio.to_thread(install, settings.prover_js_dir, settings.node_binary)
    node = find_node(settings.node_binary)
    state_dir.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        node, str(installation.directory / "src" / "devnet.js"), f"--port={port}",
        f"--host={host}", f"--state-dir={state_dir}", f"--block-interval={block_interval_s:g}",
        f"--accounts={accounts}", stdout=asyncio.subprocess.PIPE, preexec_fn=_die_with_parent,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 300)
    if not line:
        code = await process.wait()
        raise RuntimeError(f"the devnet exited during start (code {code}); is port {port} free?")
    ready = json.loads(line)
    return Devnet(process, ready["graphql"], f"http://{host}:{port}", int(ready["height"]))
