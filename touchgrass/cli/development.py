"""Development only: `touchgrass devnet` and `touchgrass dev` (touchgrass.devtools)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from touchgrass.cli import console
from touchgrass.cli.app import app
from touchgrass.cli.console import err, run


@app.command()
@console.command("devnet")
def devnet(
    port: Annotated[int, typer.Option(min=1, max=65535, help="GraphQL port.")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    block_interval: Annotated[float, typer.Option(
        "--block-interval", min=0.2, help="Seconds between blocks.")] = 5.0,
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", help="Where blocks and funded keys are kept; default: the user data "
        "dir.", show_default=False)] = None,
    frontier: Annotated[int, typer.Option(
        min=1, help="Blocks the node's frontier keeps (bestChain, INCLUDED); a daemon's k.")] = 290,
    unsynced: Annotated[float, typer.Option(
        min=0, help="Seconds after start during which the node says BOOTSTRAP and answers "
        "`account: null`, as a daemon catching up does.")] = 0.0,
    daemon_version: Annotated[str | None, typer.Option(
        help="What `version` answers (a daemon answers its 40-hex git commit id).",
        show_default=False)] = None,
    era: Annotated[str, typer.Option(
        help="The protocol the consensus constants say: berkeley (180 s slots) or mesa (90 s "
        "slots, 32 zkApp state fields), to see publish refuse a Mesa network.")] = "berkeley",
    network_id: Annotated[str, typer.Option(
        help="What `networkID` answers; publish refuses one that is not mina:<MINA_NETWORK>.")
    ] = "mina:devnet",
    archive_window: Annotated[int, typer.Option(
        min=1, help="The archive's BLOCK_RANGE_SIZE: blocks an actions query reads without "
        "from/to, and the widest range it accepts.")] = 10_000,
    archive_lag: Annotated[int, typer.Option(
        min=0, help="Blocks the archive is behind the node.")] = 0,
) -> None:
    """Run a local DEVELOPMENT Mina network (not a Mina node) for `touchgrass dev` and tests.

    An o1js LocalBlockchain with proofs verified, serving the daemon's own GraphQL types
    (`/graphql`, validated like a node), a mempool with Mina's nonce rules, a ledger that
    pending commands do not change, a block every --block-interval seconds, funded keys at
    `/acquire-account` (as Lightnet's account manager), and a journal replayed on restart.
    Production uses a real Mina node.
    """
    from touchgrass.devtools.devnet import default_state_dir, serve_devnet

    if era not in ("berkeley", "mesa"):
        raise typer.BadParameter("berkeley or mesa", param_hint="--era")

    async def work() -> int:
        control = console.signal_control()
        return await serve_devnet(port=port, host=host,
                                  state_dir=state_dir or default_state_dir(),
                                  block_interval_s=block_interval, stop=control.stop,
                                  say=err.print, frontier_blocks=frontier,
                                  unsynced_s=unsynced, daemon_version=daemon_version, era=era,
                                  network_id=network_id, archive_window=archive_window,
                                  archive_lag=archive_lag)

    raise typer.Exit(run(work))


@app.command()
@console.command("dev")
def dev(
    port: Annotated[int, typer.Option(help="API port.")] = 3000,
    devnet_port: Annotated[int, typer.Option(help="Local devnet GraphQL port.")] = 8080,
    block_interval: Annotated[float, typer.Option(help="Devnet seconds per block.")] = 3.0,
    data_dir: Annotated[Path | None, typer.Option(
        envvar="TOUCHGRASS_DEV_DIR", show_default=False,
        help="Where dev state lives (database, images, chain, keys); default: the user data "
             "dir. Kept between runs.")] = None,
) -> None:
    """Run everything at once on embedded defaults, for local work.

    An embedded PostgreSQL (unless DATABASE_URL), images in a folder (unless MINIO_ENDPOINT),
    the local devnet with a funded fee payer (unless MINA_NODE_ENDPOINT and
    FEE_PAYER_PRIVATE_KEY), a dev signer key, the migrations, a demo challenge, and the api,
    generate, publish and monitor roles supervised in one process tree. Prints the URLs and
    the exact `touchgrass upload` line to try. Ctrl-C (or SIGTERM) stops everything.
    """
    from touchgrass.devtools.dev import DevOptions, default_data_dir, run_dev

    waiting = console.StatusLine(err, prefix="[bold green]dev[/] ")

    def say(message: str) -> None:
        waiting.clear()
        err.print(f"[bold green]dev[/] {message}", highlight=False, soft_wrap=True)

    async def work() -> None:
        options = DevOptions(data_dir or default_data_dir(), port, devnet_port, block_interval)
        try:
            await run_dev(options, say, console.signal_control(), status=waiting.show)
        finally:
            waiting.clear()

    run(work)


