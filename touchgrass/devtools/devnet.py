"""`touchgrass devnet`: start the local DEVELOPMENT Mina network (devtools/js/devnet/).

It is not a Mina node: an o1js LocalBlockchain (proofs verified) behind the part of the
daemon's GraphQL API that touchgrass uses, for `touchgrass dev` and the tests. Production
points MINA_NODE_ENDPOINT at a real node. The JS program (js/devnet/) ships here, apart
from the production program, and runs from the prover's installation (whose node_modules
and o1js-internal.js it imports).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from touchgrass import logs
from touchgrass.errors import ConfigError
from touchgrass.node.install import find_node, install, sync_extra_source
from touchgrass.node.process import die_with_parent
from touchgrass.settings import ProverSettings, load

__all__ = ["DAEMON_SCHEMA", "DEVNET_JS", "Devnet", "default_state_dir", "serve_devnet", "start_devnet"]

log = logs.get_logger(__name__)

# The devnet's JS program (js/devnet/: chain.js, daemon.js, archive.js; main.js runs it).
DEVNET_JS = Path(__file__).resolve().parent / "js" / "devnet"
# The daemon's types the devnet serves (and the client's documents are checked against).
DAEMON_SCHEMA = Path(__file__).resolve().parent / "daemon.graphql"
ARCHIVE_SCHEMA = Path(__file__).resolve().parent / "archive.graphql"
START_TIMEOUT_S = 300


@dataclass
class Devnet:
    """A running devnet process; `graphql` is its daemon endpoint, `archive` its archive's."""

    process: asyncio.subprocess.Process
    graphql: str
    base_url: str
    height: int
    archive: str

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
                       accounts: int = 20, frontier_blocks: int = 290, unsynced_s: float = 0,
                       daemon_version: str | None = None, era: str = "berkeley",
                       network_id: str = "mina:devnet", archive_window: int = 10_000,
                       archive_lag: int = 0) -> Devnet:
    """Install the JS program when needed, start the devnet, wait until it serves.

    `frontier_blocks` is how many blocks `bestChain` knows (a daemon's k), `unsynced_s` a
    start-up period in which the node says BOOTSTRAP, `daemon_version` what `version` answers
    (a commit id, as a daemon's), `era` the protocol its consensus constants say (`mesa`, to
    see the publish role refuse it), `network_id` its `networkID`; `archive_window` is the
    archive's BLOCK_RANGE_SIZE and `archive_lag` how many blocks it is behind the node."""
    settings = prover or load(ProverSettings)
    installation = await asyncio.to_thread(install, settings.prover_js_dir, settings.node_binary)
    folder = await asyncio.to_thread(sync_extra_source, installation, DEVNET_JS, "devnet")
    script = folder / "main.js"
    schema = await asyncio.to_thread(sync_extra_source, installation, DAEMON_SCHEMA,
                                     "daemon.graphql")
    archive_schema = await asyncio.to_thread(sync_extra_source, installation, ARCHIVE_SCHEMA,
                                             "archive.graphql")
    node = find_node(settings.node_binary)
    state_dir.mkdir(parents=True, exist_ok=True)
    options = [f"--port={port}", f"--host={host}", f"--state-dir={state_dir}",
               f"--schema={schema}", f"--archive-schema={archive_schema}",
               f"--block-interval={block_interval_s:g}",
               f"--accounts={accounts}", f"--frontier={frontier_blocks}",
               f"--unsynced-s={unsynced_s:g}", f"--era={era}", f"--network-id={network_id}",
               f"--archive-window={archive_window}", f"--archive-lag={archive_lag}"]
    if daemon_version is not None:
        options.append(f"--daemon-version={daemon_version}")
    process = await asyncio.create_subprocess_exec(
        node, str(script), *options, stdout=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
    if not line:
        code = await process.wait()
        raise ConfigError(f"the devnet exited during start (code {code}); is port {port} free?")
    ready = json.loads(line)
    return Devnet(process, ready["graphql"], f"http://{host}:{port}", int(ready["height"]),
                  ready["archive"])


def default_state_dir() -> Path:
    return Path(platformdirs.user_data_dir("touchgrass")) / "devnet"


async def serve_devnet(*, port: int, host: str, state_dir: Path, block_interval_s: float,
                       stop: asyncio.Event, say: Callable[[str], None],
                       frontier_blocks: int = 290, unsynced_s: float = 0,
                       daemon_version: str | None = None, era: str = "berkeley",
                       network_id: str = "mina:devnet", archive_window: int = 10_000,
                       archive_lag: int = 0) -> int:
    """`touchgrass devnet`: run until `stop` is set or the devnet exits; its exit code."""
    network = await start_devnet(port=port, host=host, state_dir=state_dir,
                                 block_interval_s=block_interval_s,
                                 frontier_blocks=frontier_blocks, unsynced_s=unsynced_s,
                                 daemon_version=daemon_version, era=era, network_id=network_id,
                                 archive_window=archive_window, archive_lag=archive_lag)
    say(f"devnet: GraphQL {network.graphql} (height {network.height}), archive "
        f"{network.archive}; funded keys at "
        f"{network.base_url}/acquire-account; state in {state_dir}")
    waiting = asyncio.create_task(stop.wait())
    exited = asyncio.create_task(network.process.wait())
    await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    return await network.stop()
