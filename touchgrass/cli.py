"""The `touchgrass` command: one subcommand per role, plus operator and setup commands.

Commands are plain functions (typer skips `async def`); async work runs via `anyio.run`.
Exit codes: 0 ok, 1 the operation failed or was refused, 2 bad configuration or usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import anyio
import asyncpg
import typer
from rich.console import Console
from rich.live import Live

from touchgrass import __version__, db, logs, migrations
from touchgrass.errors import (
    ConfigError,
    MigrationError,
    OperatorError,
    PortTaken,
    ProverError,
    StorageError,
)
from touchgrass.roles.runner import RoleControl
from touchgrass.settings import DatabaseSettings, LogSettings, load

__all__ = ["app", "main"]

app = typer.Typer(
    name="touchgrass",
    help="Prove photos are authentic and record the proofs on Mina. One command per role; "
    "each role is a loop over the submissions table (Postgres is the queue).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
err = Console(stderr=True)
out = Console()

T = TypeVar("T")

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="PostgreSQL URL; default: $DATABASE_URL.",
                 show_default=False),
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, max=256, help="Rows worked on at once.")
]


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _run(role: str, work: Callable[[], Awaitable[T]], *, dsn: str | None = None) -> T:
    """Run async work and turn the errors an operator can act on into one clear line."""
    try:
        return anyio.run(work)
    except PortTaken as error:
        _fail(str(error), 2)
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)
    except (OperatorError, MigrationError) as error:
        _fail(str(error), 1)
    except StorageError as error:
        _fail(f"storage: {error}", 1)
    except ProverError as error:
        _fail(f"prover: {error}", 1)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InvalidCatalogNameError,
            asyncpg.InvalidAuthorizationSpecificationError) as error:
        where = f" at {migrations.where(dsn)}" if dsn else ""
        _fail(f"cannot reach the database{where}: {error}", 1)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _setup(role: str) -> None:
    try:
        settings = load(LogSettings)
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)
    logs.configure(role, fmt=settings.log_format, level=settings.log_level)


def _settings(*classes: type[Any]) -> tuple[Any, ...]:
    """Load settings classes, stopping with one line naming the bad variable."""
    try:
        return tuple(load(cls) for cls in classes)
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)


def _signal_control() -> RoleControl:
    """SIGTERM/SIGINT stop the running command gracefully (a second one hurries it)."""
    control = RoleControl.new()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, control.signal)
    return control


def _database(database_url: str | None) -> DatabaseSettings:
    try:
        return load(DatabaseSettings, database_url=database_url)
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(f"touchgrass {__version__}")
        raise typer.Exit(0)


# ---------------------------------------------------------------- roles


@app.command()
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

    _setup("api")
    database = _database(database_url)
    try:
        settings = load(ApiSettings, port=port)
        signer = load(SignerSettings)
        storage = load(StorageSettings)
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)

    async def work() -> None:
        control = _signal_control()
        ctx = await open_context(database, settings, storage, signer)
        await serve(ctx, host, settings.port, control.stop)

    _run("api", work, dsn=database.asyncpg_dsn)


@app.command()
def generate(concurrency: Concurrency = 1, database_url: DatabaseUrl = None) -> None:
    """Claim `proof_generation` rows, prove them with o1js, store the proof for publishing.

    --concurrency N runs N prover processes (each ~2-2.5 GB while proving). Needs
    DATABASE_URL, SIGNER_PUBLIC_KEY (and SIGNER_CURVE), the image storage settings and
    Node.js 20; installs the prover's JS dependencies first when they are missing. Stops
    gracefully on SIGTERM/SIGINT (a second signal releases in-flight rows at once).
    """
    from touchgrass.roles import generate as role
    from touchgrass.settings import ProverSettings, QueueSettings, SignerSettings, StorageSettings

    _setup("generate")
    database = _database(database_url)
    queue, storage, signer, prover = _settings(QueueSettings, StorageSettings, SignerSettings,
                                               ProverSettings)

    async def work() -> None:
        with _compile_progress() as progress:
            await role.run(database=database, queue=queue, storage=storage, signer=signer,
                           prover=prover, concurrency=concurrency, progress=progress)

    _run("generate", work, dsn=database.asyncpg_dsn)


@contextlib.contextmanager
def _compile_progress() -> Iterator[Callable[[str, float], None]]:
    """A spinner on a terminal (log lines otherwise) while the circuit compiles."""
    if not err.is_terminal:
        def log_line(name: str, elapsed: float) -> None:
            if int(elapsed) % 15 < 5:
                logs.get_logger("touchgrass.proof").info(
                    "compile", "%s still compiling the circuit (%.0f s)", name, elapsed)
        yield log_line
        return
    with err.status("starting the prover") as status:
        def show(name: str, elapsed: float) -> None:
            status.update(f"{name}: compiling the circuit, {elapsed:.0f} s (about a minute "
                          "the first time; later starts read the cache)")
        yield show


@app.command()
def setup(
    force: Annotated[bool, typer.Option("--force", help="Reinstall even when present.")] = False,
    compile_circuits: Annotated[bool, typer.Option(
        "--compile", help="Also compile the circuit and the zkApp for SIGNER_CURVE into "
                          "CIRCUIT_CACHE_PATH (what a container build does).")] = False,
) -> None:
    """Install the prover's JS dependencies (o1js, from the committed lockfile).

    `touchgrass generate` does this by itself when they are missing; run it ahead of time
    (in a container build, say) to keep first starts short.
    """
    from touchgrass.node.install import install
    from touchgrass.settings import CurveSettings, ProverSettings

    _setup("setup")
    try:
        settings, curve = load(ProverSettings), load(CurveSettings)
        with err.status("installing the prover's JS dependencies (npm ci)"):
            target = install(settings.prover_js_dir, settings.node_binary, force=force)
    except ConfigError as error:
        _fail(str(error), 2)
    err.print(f"prover JS dependencies installed in {target.directory}")
    if not compile_circuits:
        return

    async def work() -> float:
        from touchgrass.node.pool import PoolConfig, ProverPool

        settings.circuit_cache_path.mkdir(parents=True, exist_ok=True)
        pool = ProverPool(PoolConfig(size=1, curve=curve.signer_curve, zkapp=True,
                                     cache_dir=str(settings.circuit_cache_path),
                                     node_binary=settings.node_binary,
                                     start_timeout_s=settings.prover_start_timeout_s), target)
        started = asyncio.get_running_loop().time()
        with _compile_progress() as progress:
            await pool.start(progress)
        await pool.close()
        return asyncio.get_running_loop().time() - started

    seconds = _run("setup", work)
    err.print(f"circuits for {curve.signer_curve} compiled into {settings.circuit_cache_path} "
              f"({seconds:.0f} s)")


@app.command()
def prove(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                          help="The photo whose signature to prove.")],
    signature: Annotated[str, typer.Option(
        "--signature", help="r,s: the signature over the image's SHA-256, 64 hex each.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where to write the proof; default: IMAGE.proof.json.",
        show_default=False)] = None,
) -> None:
    """Prove offline that a signature over a photo's SHA-256 is valid; writes the proof JSON.

    Uses SIGNER_PUBLIC_KEY and SIGNER_CURVE like the generate role. No database needed.
    """
    from touchgrass.proof import ProofRequest
    from touchgrass.proof.o1js import open_prover
    from touchgrass.settings import ProverSettings, SignerSettings
    from touchgrass.signature import Signature

    _setup("prove")
    try:
        signer, settings = load(SignerSettings), load(ProverSettings)
        r_hex, s_hex = (part.strip().removeprefix("0x") for part in signature.split(","))
        parsed = Signature.from_hex(r_hex, s_hex)
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)
    except ValueError:
        _fail("--signature must be r,s with 64 hex characters each", 2)
    data = image.read_bytes()
    digest = hashlib.sha256(data).digest()
    if not signer.key.verify(digest, parsed):
        _fail(f"the signature does not verify for {image.name}'s SHA-256 {digest.hex()} "
              f"and SIGNER_PUBLIC_KEY ({signer.signer_curve})", 1)
    target = out or image.with_name(image.name + ".proof.json")

    async def work() -> dict[str, Any]:
        with _compile_progress() as progress:
            prover = await open_prover(settings, signer.key, size=1, progress=progress)
        try:
            with err.status("proving (tens of seconds)") if err.is_terminal else \
                    contextlib.nullcontext():
                return await prover.prove(ProofRequest(digest, parsed, digest.hex()))
        finally:
            await prover.close()

    proof = _run("prove", work)
    target.write_text(json.dumps({"curve": signer.signer_curve, "sha256": digest.hex(),
                                  "signer": str(signer.key), "proof": proof}))
    err.print(f"proof written to {target}")


@app.command("verify-proof")
def verify_proof(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A proof from `touchgrass prove` (or a bare "
                                              "o1js proof JSON, as stored in proof_json).")],
    image: Annotated[Path | None, typer.Option(
        "--image", help="Also check that the proof is about this photo's SHA-256.",
        show_default=False)] = None,
) -> None:
    """Verify a proof; exit 0 when it holds, 1 when it does not (with the reason)."""
    from touchgrass.proof.o1js import open_prover
    from touchgrass.settings import ProverSettings, SignerSettings
    from touchgrass.signing import SignerKey

    _setup("verify")
    try:
        document = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        _fail(f"{file} is not a proof JSON file: {error}", 2)
    if not isinstance(document, dict):
        _fail(f"{file} is not a proof JSON object", 2)
    proof = document.get("proof") if isinstance(document.get("proof"), dict) else document
    try:
        settings = load(ProverSettings)
        if "signer" in document:
            signer = SignerKey.parse(document["signer"], document.get("curve", "secp256k1"))
        else:
            signer = load(SignerSettings).key
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)
    except (ValueError, TypeError) as error:
        _fail(f"the signer key in {file} is invalid: {error}", 2)
    digest = None
    if image is not None:
        digest = hashlib.sha256(image.read_bytes()).digest()
    elif isinstance(document.get("sha256"), str):
        digest = bytes.fromhex(document["sha256"])

    async def work() -> Any:
        with _compile_progress() as progress:
            prover = await open_prover(settings, signer, size=1, progress=progress)
        try:
            return await prover.verify(proof, digest=digest)
        finally:
            await prover.close()

    verdict = _run("verify", work)
    if verdict.valid:
        about = f" for SHA-256 {digest.hex()}" if digest else ""
        out.print(f"valid: the proof verifies{about} (signer {signer.curve})", highlight=False)
        return
    out.print(f"INVALID: {verdict.reason}", highlight=False)
    raise typer.Exit(1)


@app.command()
def publish(concurrency: Concurrency = 1, database_url: DatabaseUrl = None) -> None:
    """Claim `proof_publishing` rows and pending zkApp deployments; send them to Mina.

    Runs one lane for the fee payer (FEE_PAYER_PRIVATE_KEY): every transaction of that key
    is built, recorded and sent in turn with explicitly tracked nonces; production runs
    `--concurrency 1`. Needs DATABASE_URL, MINA_NODE_ENDPOINT, SIGNER_CURVE and Node.js 20.
    """
    from touchgrass.roles import publish as role
    from touchgrass.settings import ChainSettings, CurveSettings, ProverSettings, QueueSettings

    _setup("publish")
    database = _database(database_url)
    queue, chain, prover, curve = _settings(QueueSettings, ChainSettings, ProverSettings,
                                            CurveSettings)

    async def work() -> None:
        with _compile_progress() as progress:
            await role.run(database=database, queue=queue, chain=chain, prover=prover,
                           curve=curve.signer_curve, concurrency=concurrency, progress=progress)

    _run("publish", work, dsn=database.asyncpg_dsn)


@app.command()
def monitor(database_url: DatabaseUrl = None) -> None:
    """Follow sent transactions to inclusion and finality; re-queue abandoned ones.

    Marks submissions `included` (with the block height), then `final` at FINALITY_DEPTH
    blocks; a transaction the node has forgotten is `abandoned` and its submission goes
    back to proof generation; a challenge becomes `active` once its zkApp is included.
    """
    from touchgrass.roles import monitor as role
    from touchgrass.settings import ChainSettings, MonitorSettings

    _setup("monitor")
    database = _database(database_url)
    chain, settings = _settings(ChainSettings, MonitorSettings)

    async def work() -> None:
        await role.run(database=database, chain=chain, settings=settings,
                       control=_signal_control())

    _run("monitor", work, dsn=database.asyncpg_dsn)


@app.command("verify")
def verify_photo(
    target: Annotated[str, typer.Argument(help="A submission's SHA-256, or the image file.")],
    check_proof: Annotated[bool, typer.Option(
        "--check-proof/--no-check-proof",
        help="Also verify a still-stored proof with the prover (starts one; slower).")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The public check of a photo: digest, signature, stored proof and on-chain receipt.

    Prints a verdict per check; exit 0 only when all hold. Needs DATABASE_URL,
    SIGNER_PUBLIC_KEY and MINA_NODE_ENDPOINT.
    """
    from touchgrass.chain.client import ChainClient
    from touchgrass.operator.verify import verify
    from touchgrass.settings import ChainSettings, ProverSettings, SignerSettings

    _setup("verify")
    database = _database(database_url)
    signer, chain = _settings(SignerSettings, ChainSettings)
    path = Path(target)
    image = path.read_bytes() if path.is_file() else None
    sha256 = hashlib.sha256(image).hexdigest() if image is not None else _check_sha256(target)

    async def work() -> Any:
        pool = await db.create_pool(database.asyncpg_dsn, size=2, application_name="touchgrass-verify")
        client = ChainClient(chain.mina_node_endpoint)
        prover = None
        try:
            async def proof_check(proof: dict[str, Any], digest: bytes) -> tuple[bool, str]:
                nonlocal prover
                from touchgrass.proof.o1js import open_prover

                prover = prover or await open_prover(load(ProverSettings), signer.key, size=1)
                verdict = await prover.verify(proof, digest=digest)
                return verdict.valid, verdict.reason

            return await verify(pool, client, signer.key, sha256_hex=sha256, image=image,
                                verify_proof=proof_check if check_proof else None)
        finally:
            if prover is not None:
                await prover.close()
            await client.close()
            await pool.close()

    checks = _run("verify", work, dsn=database.asyncpg_dsn)
    for check in checks:
        mark = {True: "[green]✔[/]", False: "[red]✘[/]", None: "[dim]–[/]"}[check.ok]
        out.print(f"{mark} {check.name}: {check.detail}", highlight=False)
    passed = all(check.ok is not False for check in checks) and any(
        check.name == "on-chain receipt" and check.ok for check in checks)
    out.print("VERIFIED" if passed else "NOT VERIFIED", style="bold green" if passed else "bold red")
    raise typer.Exit(0 if passed else 1)


@app.command()
def devnet(
    port: Annotated[int, typer.Option(min=1, max=65535, help="GraphQL port.")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    block_interval: Annotated[float, typer.Option(
        "--block-interval", min=0.2, help="Seconds between blocks.")] = 5.0,
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", help="Where blocks and funded keys are kept; default: the user data "
        "dir.", show_default=False)] = None,
) -> None:
    """Run a local DEVELOPMENT Mina network (not a Mina node) for `touchgrass dev` and tests.

    An o1js LocalBlockchain with proofs verified, behind the part of the daemon's GraphQL
    API touchgrass uses (`/graphql`), a mempool with Mina's nonce rules, a block every
    --block-interval seconds, funded keys at `/acquire-account` (as Lightnet's account
    manager), and a journal replayed on restart. Production uses a real Mina node.
    """
    import platformdirs

    from touchgrass.devtools.devnet import start_devnet

    _setup("devnet")
    directory = state_dir or Path(platformdirs.user_data_dir("touchgrass")) / "devnet"

    async def work() -> int:
        control = _signal_control()
        network = await start_devnet(port=port, host=host, state_dir=directory,
                                     block_interval_s=block_interval)
        err.print(f"devnet: GraphQL {network.graphql} (height {network.height}); funded keys "
                  f"at {network.base_url}/acquire-account; state in {directory}")
        waiting = asyncio.create_task(control.stop.wait())
        exited = asyncio.create_task(network.process.wait())
        await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        return await network.stop()

    code = _run("devnet", work)
    raise typer.Exit(code)


@app.command()
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
    import platformdirs

    from touchgrass.devtools.dev import DevOptions, run_dev

    _setup("dev")
    directory = data_dir or Path(platformdirs.user_data_dir("touchgrass")) / "dev"

    def say(message: str) -> None:
        err.print(f"[bold green]dev[/] {message}", highlight=False, soft_wrap=True)

    async def work() -> None:
        await run_dev(DevOptions(directory, port, devnet_port, block_interval), say,
                      _signal_control())

    _run("dev", work)


# ---------------------------------------------------------------- schema


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Apply the database migrations (idempotent; safe to run on every start)."""
    _setup("migrate")
    settings = _database(database_url)
    try:
        migrations.upgrade(settings.database_url)
    except ConfigError as error:
        _fail(str(error), 2)
    except MigrationError as error:
        _fail(str(error), 1)
    err.print(f"database at {migrations.where(settings.database_url)} is at revision "
              f"{migrations.head_revision()} (head)")


# ---------------------------------------------------------------- operators


@app.command()
def status(
    sha256: Annotated[str | None, typer.Argument(
        help="Show one submission's timeline instead of the whole pipeline.",
        show_default=False)] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh in place until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    fee_payer: Annotated[str | None, typer.Option(
        "--fee-payer", envvar="FEE_PAYER_ADDRESS", show_default=False,
        help="Also show this Mina address's balance (from MINA_NODE_ENDPOINT).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show the pipeline now, or one submission's timeline.

    Per status: waiting / running / retrying and the oldest age; rows each stage finished in
    the last hour; the last failures; the live workers (lease owners). Given a SHA256: that
    submission's state and timeline.
    """
    from touchgrass.operator import status as report

    settings = _database(database_url)
    if sha256 is not None:
        sha256 = _check_sha256(sha256)
    pool: Any = None

    async def gather() -> Any:
        data = await report.gather(pool)
        if fee_payer:
            data.fee_payer = await _balance(fee_payer)
        return data

    async def work() -> None:
        nonlocal pool
        pool = await db.create_pool(settings.asyncpg_dsn, size=2, application_name="touchgrass-status")
        try:
            if sha256 is not None:
                row = await report.timeline(pool, sha256)
                if as_json:
                    out.print_json(json.dumps(report.timeline_json(row)))
                else:
                    out.print(report.render_timeline(row))
                return
            if as_json:
                out.print_json(json.dumps(report.report_json(await gather())))
                return
            if not watch:
                out.print(report.render_report(await gather()))
                return
            with Live(report.render_report(await gather()), console=out,
                      auto_refresh=False, screen=False) as live:
                while True:
                    await anyio.sleep(interval)
                    live.update(report.render_report(await gather()), refresh=True)
        finally:
            await pool.close()

    _run("status", work, dsn=settings.asyncpg_dsn)


@app.command()
def resubmit(
    sha256: Annotated[str, typer.Argument(help="The submission's image SHA-256 (64 hex).")],
    force: Annotated[bool, typer.Option(
        "--force", help="Also re-queue a complete submission (it will be published again).")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Re-queue a rejected or stuck submission with a fresh attempt budget.

    It goes to publishing when its proof is stored, else to proof generation. A complete
    submission needs --force; one awaiting review is left to the admin.
    """
    from touchgrass.store import submissions

    settings = _database(database_url)
    sha256 = _check_sha256(sha256)

    async def work() -> submissions.ResubmitResult:
        pool = await db.create_pool(settings.asyncpg_dsn, size=1,
                                    application_name="touchgrass-resubmit")
        try:
            return await submissions.resubmit(pool, sha256, force=force)
        finally:
            await pool.close()

    result = _run("resubmit", work, dsn=settings.asyncpg_dsn)
    out.print(f"resubmitted {result.describe()}", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- clients of a deployment

keys_app = typer.Typer(help="Signer keys for the camera clients (and `touchgrass upload`).",
                       no_args_is_help=True, rich_markup_mode="markdown")
challenge_app = typer.Typer(help="Challenges, through a running API.", no_args_is_help=True,
                            rich_markup_mode="markdown")
app.add_typer(keys_app, name="keys")
app.add_typer(challenge_app, name="challenge")

CurveOption = Annotated[str, typer.Option(
    "--curve", envvar="SIGNER_CURVE", help="secp256k1 or secp256r1 (P-256).")]
ApiUrl = Annotated[str, typer.Option(
    "--api", envvar="TOUCHGRASS_API", help="Base URL of the API.")]


def _curve(value: str) -> Any:
    if value not in ("secp256k1", "secp256r1"):
        _fail(f"--curve must be secp256k1 or secp256r1, not {value!r}", 2)
    return value


@keys_app.command("new")
def keys_new(
    curve: CurveOption = "secp256k1",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make a signer key pair: the public key for the API, the private key for clients."""
    from touchgrass.signing import generate_private_key

    private, public = generate_private_key(_curve(curve))
    if as_json:
        out.print_json(json.dumps({"curve": curve, "privateKey": private,
                                   "publicKey": str(public)}))
        return
    out.print(f"# signer key pair ({curve}); keep the private key secret\n"
              f"SIGNER_CURVE={curve}\n"
              f"SIGNER_PUBLIC_KEY={public}\n"
              f"TOUCHGRASS_SIGNER_KEY={private}", highlight=False, soft_wrap=True)


@app.command()
def upload(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                          help="The photo to submit.")],
    chain: Annotated[str, typer.Option("--chain", help="Chain id to add the photo to.")],
    wallet: Annotated[str, typer.Option("--wallet", help="Mina address of the photographer.")],
    tagline: Annotated[str | None, typer.Option(help="Optional caption.")] = None,
    api_url: ApiUrl = "http://localhost:3000",
    signer_key: Annotated[str | None, typer.Option(
        "--signer-key", envvar="TOUCHGRASS_SIGNER_KEY", show_default=False,
        help="Private signer key (64 hex); default: $TOUCHGRASS_SIGNER_KEY.")] = None,
    curve: CurveOption = "secp256k1",
    content_type: Annotated[str | None, typer.Option(
        help="Declared type; default: guessed from the file name.")] = None,
) -> None:
    """Sign a photo's SHA-256 and upload it, printing the new submission."""
    from touchgrass.client.http_client import upload_image

    if not signer_key:
        _fail("no signer key: pass --signer-key or set TOUCHGRASS_SIGNER_KEY "
              "(`touchgrass keys new` makes one)", 2)

    async def work() -> Any:
        return await upload_image(api_url, image, chain_id=chain, wallet=wallet,
                                  signer_key=signer_key, curve=_curve(curve), tagline=tagline,
                                  content_type=content_type)

    answer = _client_call(work, api_url)
    if not answer.ok:
        _fail(f"upload refused ({answer.status}): {answer.error_message}", 1)
    out.print_json(json.dumps(answer.body))


@challenge_app.command("create")
def challenge_create(
    title: Annotated[str, typer.Option(help="Challenge title.")],
    description: Annotated[str, typer.Option(help="What to photograph.")],
    start: Annotated[datetime | None, typer.Option(
        help="Start (ISO 8601, UTC when no zone); default: now.", show_default=False)] = None,
    days: Annotated[float, typer.Option(min=0.001, help="Length in days when --end is not given.")] = 7,
    end: Annotated[datetime | None, typer.Option(help="End (ISO 8601).", show_default=False)] = None,
    api_url: ApiUrl = "http://localhost:3000",
    admin_password: Annotated[str | None, typer.Option(
        envvar="ADMIN_PASSWORD", show_default=False, help="Default: $ADMIN_PASSWORD.")] = None,
) -> None:
    """Create a challenge through the admin API; its zkApp is then deployed by `publish`."""
    from touchgrass.client.http_client import create_challenge

    if not admin_password:
        _fail("no admin password: pass --admin-password or set ADMIN_PASSWORD", 2)
    begin = (start or datetime.now(UTC)).replace(microsecond=0)
    begin = begin if begin.tzinfo else begin.replace(tzinfo=UTC)
    finish = end or begin + timedelta(days=days)
    finish = finish if finish.tzinfo else finish.replace(tzinfo=UTC)

    async def work() -> Any:
        return await create_challenge(api_url, admin_password=admin_password, title=title,
                                      description=description, start=begin, end=finish)

    answer = _client_call(work, api_url)
    if not answer.ok:
        _fail(f"challenge refused ({answer.status}): {answer.error_message}", 1)
    out.print_json(json.dumps(answer.body))


def _client_call(work: Callable[[], Awaitable[T]], api_url: str) -> T:
    import aiohttp

    try:
        return anyio.run(work)
    except (aiohttp.ClientConnectionError, OSError) as error:
        _fail(f"cannot reach the API at {api_url}: {error}", 1)
    except aiohttp.InvalidURL:
        _fail(f"--api {api_url!r} is not a URL", 2)
    except ValueError as error:
        _fail(str(error), 2)


async def _balance(address: str) -> dict[str, Any]:
    """The fee payer's balance for `status`; a chain outage is shown, not fatal."""
    from touchgrass.chain.client import ChainClient
    from touchgrass.errors import ChainError
    from touchgrass.settings import ChainSettings

    try:
        client = ChainClient(load(ChainSettings).mina_node_endpoint, timeout_s=5)
    except ConfigError as error:
        return {"address": address, "error": str(error)}
    try:
        account = await client.account(address)
        if account is None:
            return {"address": address, "error": "no such account"}
        return {"address": address, "balance_mina": account.balance_nanomina / 1e9}
    except ChainError as error:
        return {"address": address, "error": str(error)}
    finally:
        await client.close()


def _check_sha256(value: str) -> str:
    value = value.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        _fail(f"{value!r} is not a SHA-256 (64 hex characters)", 2)
    return value


def main() -> Any:
    """Console-script entry point."""
    return app()


if __name__ == "__main__":
    sys.exit(main())
