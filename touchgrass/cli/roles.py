"""The role commands: `api`, `generate`, `setup`, `publish`, `monitor`, `notify`, `migrate`.
Each loads its settings and calls the module that owns the work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from touchgrass import db, migrations
from touchgrass.cli import console
from touchgrass.cli.app import (
    Concurrency,
    DatabaseUrl,
    MetricsPort,
    app,
    database_settings,
    metrics_port_setting,
    serve_metrics,
)
from touchgrass.cli.console import err, run
from touchgrass.settings import load


@app.command()
@console.command("api")
def api(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "0.0.0.0",
    port: Annotated[int | None, typer.Option(help="Port; default: $PORT or 3000.",
                                             show_default=False)] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the HTTP API (a drop-in replacement for the TouchGrass backend).

    Needs DATABASE_URL, ADMIN_PASSWORD and SIGNER_PUBLIC_KEY; images go to S3 when
    MINIO_ENDPOINT is set, else to STORAGE_DIR. Stops gracefully on SIGTERM/SIGINT.
    """
    from touchgrass.api.app import open_context, serve
    from touchgrass.settings import ApiSettings, SignerSettings, StorageSettings

    database = database_settings(database_url)
    settings = load(ApiSettings, port=port)
    signer, storage = load(SignerSettings), load(StorageSettings)

    async def work() -> None:
        control = console.signal_control()
        ctx = await open_context(database, settings, storage, signer)
        await serve(ctx, host, settings.port, control.stop)

    run(work)


@app.command()
@console.command("generate")
def generate(concurrency: Concurrency = 1, database_url: DatabaseUrl = None,
             metrics_port: MetricsPort = None) -> None:
    """Claim `proof_generation` rows, prove them with o1js, store the proof for publishing.

    --concurrency N runs N prover processes (each ~2-2.5 GB while proving). Needs
    DATABASE_URL, SIGNER_PUBLIC_KEY (and SIGNER_CURVE), the image storage settings and
    Node.js 20; installs the prover's JS dependencies first when they are missing. Stops
    gracefully on SIGTERM/SIGINT (a second signal releases in-flight rows at once).
    """
    from touchgrass.roles import generate as role
    from touchgrass.settings import ProverSettings, QueueSettings, SignerSettings, StorageSettings

    database = database_settings(database_url)
    queue, storage = load(QueueSettings), load(StorageSettings)
    signer, prover = load(SignerSettings), load(ProverSettings)
    port = metrics_port_setting(metrics_port)

    async def work() -> None:
        serve_metrics(port)
        with console.compile_progress() as progress:
            await role.run(database=database, queue=queue, storage=storage, signer=signer,
                           prover=prover, concurrency=concurrency, progress=progress)

    run(work)


@app.command()
@console.command("setup")
def setup(
    force: Annotated[bool, typer.Option("--force", help="Reinstall even when present.")] = False,
    compile_circuits: Annotated[bool, typer.Option(
        "--compile", help="Also compile the circuit and the zkApp for SIGNER_CURVE into "
                          "CIRCUIT_CACHE_PATH (what a container build does).")] = False,
    dev: Annotated[bool, typer.Option(
        "--dev", help="Also install the JS package's dev dependencies (TypeScript, for the "
                      "type check the tests run).")] = False,
) -> None:
    """Install the prover's JS dependencies (o1js, from the committed lockfile).

    `touchgrass generate` does this by itself when they are missing; run it ahead of time
    (in a container build, say) to keep first starts short.
    """
    from touchgrass import node
    from touchgrass.settings import CurveSettings, ProverSettings

    settings, curve = load(ProverSettings), load(CurveSettings)
    with console.working("installing the prover's JS dependencies (npm ci)"):
        target = node.install(settings.prover_js_dir, settings.node_binary, force=force, dev=dev)
    err.print(f"prover JS dependencies installed in {target.directory}")
    if not compile_circuits:
        return

    async def work() -> str:
        with console.compile_progress() as progress:
            return await node.compile_circuits(settings, curve=curve.curve,
                                               progress=progress)

    started = datetime.now(UTC)
    key_hash = run(work)
    seconds = (datetime.now(UTC) - started).total_seconds()
    err.print(f"circuits for {curve.curve} compiled into {settings.circuit_cache_path} "
              f"({seconds:.0f} s; verification key hash {key_hash})")


@app.command()
@console.command("publish")
def publish(concurrency: Concurrency = 1, database_url: DatabaseUrl = None,
            metrics_port: MetricsPort = None) -> None:
    """Claim `proof_publishing` rows and pending zkApp deployments; send them to Mina.

    Each photo's transaction is proven once (seconds), outside the fee payer's lane; the
    lane (FEE_PAYER_PRIVATE_KEY) then only gives it the next nonce, signs, records and sends
    (milliseconds). A retry re-signs the kept transaction, never proves it again.
    --concurrency N proves up to N transactions at once with N builder processes (each
    ~2-2.5 GB) and sends them in nonce order; the default 1 is what production runs. Needs
    DATABASE_URL, MINA_NODE_ENDPOINT, FEE_PAYER_PRIVATE_KEY, SIGNER_CURVE and Node.js 20.
    """
    from touchgrass.roles import publish as role
    from touchgrass.settings import ChainSettings, CurveSettings, ProverSettings, QueueSettings

    database = database_settings(database_url)
    queue, chain = load(QueueSettings), load(ChainSettings)
    prover, curve = load(ProverSettings), load(CurveSettings)
    port = metrics_port_setting(metrics_port)

    async def work() -> None:
        serve_metrics(port)
        with console.compile_progress() as progress:
            await role.run(database=database, queue=queue, chain=chain, prover=prover,
                           curve=curve.curve, concurrency=concurrency, progress=progress)

    run(work)


@app.command()
@console.command("monitor")
def monitor(database_url: DatabaseUrl = None, metrics_port: MetricsPort = None) -> None:
    """Follow sent transactions to inclusion and finality; re-queue abandoned ones.

    Follows each sent transaction by its hash: `included` (with the block height), then
    `final` at FINALITY_DEPTH blocks; one the node no longer has is `abandoned` and its
    submission goes back to publishing, where its kept proven transaction is signed again
    (to proof generation only when none is kept); a challenge becomes `active` once its
    zkApp is included.
    """
    from touchgrass.roles import monitor as role
    from touchgrass.settings import ChainSettings, MonitorSettings

    database = database_settings(database_url)
    chain, settings = load(ChainSettings), load(MonitorSettings)
    port = metrics_port_setting(metrics_port)

    async def work() -> None:
        serve_metrics(port)
        await role.run(database=database, chain=chain, settings=settings,
                       control=console.signal_control())

    run(work)


@app.command()
@console.command("notify")
def notify(concurrency: Concurrency = 1, database_url: DatabaseUrl = None,
           metrics_port: MetricsPort = None) -> None:
    """Announce each new submission on a Telegram channel, once (the old telegram worker).

    The API queues an announcement with each new submission while TELEGRAM_ENABLED is true;
    this sends them to TELEGRAM_CHANNEL_ID with TELEGRAM_BOT_TOKEN, linking to FRONTEND_URL.
    A 429 waits what Telegram asks; a 400 or 403 is not retried (the reason is kept on the
    row). Needs DATABASE_URL.
    """
    from touchgrass.roles import notify as role
    from touchgrass.settings import QueueSettings, TelegramSettings

    database = database_settings(database_url)
    queue, telegram = load(QueueSettings), load(TelegramSettings)
    port = metrics_port_setting(metrics_port)

    async def work() -> None:
        serve_metrics(port)
        await role.run(database=database, queue=queue, telegram=telegram,
                       concurrency=concurrency)

    run(work)


@app.command()
@console.command("migrate")
def migrate(database_url: DatabaseUrl = None) -> None:
    """Apply the database migrations (idempotent; safe to run on every start)."""
    settings = database_settings(database_url)
    migrations.upgrade(settings.database_url)
    err.print(f"database at {db.where(settings.database_url)} is at revision "
              f"{migrations.head_revision()} (head)")
