"""The `touchgrass` command: one subcommand per role, plus operator and setup commands.

Commands are plain functions (typer skips `async def`); async work runs via `anyio.run`.
Exit codes: 0 ok, 1 the operation failed or was refused, 2 bad configuration or usage.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import anyio
import asyncpg
import typer
from rich.console import Console
from rich.live import Live

from touchgrass import __version__, db, logs, migrations
from touchgrass.errors import ConfigError, NotAvailableError, OperatorError, StorageError
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


def _where(dsn: str) -> str:
    """host:port/db of a database URL, without credentials, for error messages."""
    parts = urlsplit(dsn)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"


def _run(role: str, work: Callable[[], Awaitable[T]], *, dsn: str | None = None) -> T:
    """Run async work and turn the errors an operator can act on into one clear line."""
    try:
        return anyio.run(work)
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)
    except NotAvailableError as error:
        _fail(str(error), 2)
    except OperatorError as error:
        _fail(str(error), 1)
    except StorageError as error:
        _fail(f"storage: {error}", 1)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InvalidCatalogNameError,
            asyncpg.InvalidAuthorizationSpecificationError) as error:
        where = f" at {_where(dsn)}" if dsn else ""
        _fail(f"cannot reach the database{where}: {error}", 1)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _setup(role: str) -> None:
    try:
        settings = load(LogSettings)
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)
    logs.configure(role, fmt=settings.log_format, level=settings.log_level)


def _database(database_url: str | None) -> DatabaseSettings:
    try:
        return load(DatabaseSettings, database_url=database_url)
    except ConfigError as error:
        _fail(f"configuration: {error}", 2)


def _not_available(what: str) -> NoReturn:
    _fail(f"{what} is not available in touchgrass {__version__} yet", 2)


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
        control = RoleControl.new()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, control.signal)
        ctx = await open_context(database, settings, storage, signer)
        await serve(ctx, host, settings.port, control.stop)

    _run("api", work, dsn=database.asyncpg_dsn)


@app.command()
def generate(concurrency: Concurrency = 1, database_url: DatabaseUrl = None) -> None:
    """Claim `proof_generation` rows, prove them with o1js, store the proof for publishing.

    Needs DATABASE_URL, the image storage settings and the prover; stops gracefully on
    SIGTERM/SIGINT (a second signal releases in-flight rows at once).
    """
    _setup("generate")
    _database(database_url)
    _not_available("the o1js prover behind `touchgrass generate`")


@app.command()
def publish(concurrency: Concurrency = 1, database_url: DatabaseUrl = None) -> None:
    """Claim `proof_publishing` rows and pending zkApp deployments; send them to Mina.

    Runs one lane per fee payer; production runs `--concurrency 1`.
    """
    _setup("publish")
    _database(database_url)
    _not_available("the Mina publisher behind `touchgrass publish`")


@app.command()
def monitor(database_url: DatabaseUrl = None) -> None:
    """Follow sent transactions to inclusion and finality; re-queue abandoned ones."""
    _not_available("`touchgrass monitor`")


@app.command()
def dev() -> None:
    """Run everything at once on embedded defaults (Postgres, storage, local chain)."""
    _not_available("`touchgrass dev`")


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
    except Exception as error:  # noqa: BLE001 - alembic wraps driver errors in many types
        cause = error.__cause__ or error
        text = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        _fail(f"migration failed on {_where(settings.database_url)}: {text}", 1)
    err.print(f"database at {_where(settings.database_url)} is at revision "
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

    async def work() -> None:
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
                out.print_json(json.dumps(report.report_json(await report.gather(pool))))
                return
            if not watch:
                out.print(report.render_report(await report.gather(pool)))
                return
            with Live(report.render_report(await report.gather(pool)), console=out,
                      auto_refresh=False, screen=False) as live:
                while True:
                    await anyio.sleep(interval)
                    live.update(report.render_report(await report.gather(pool)), refresh=True)
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
                       no_args_is_help=True)
challenge_app = typer.Typer(help="Challenges, through a running API.", no_args_is_help=True)
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
    begin = (start or datetime.now(timezone.utc)).replace(microsecond=0)
    begin = begin if begin.tzinfo else begin.replace(tzinfo=timezone.utc)
    finish = end or begin + timedelta(days=days)
    finish = finish if finish.tzinfo else finish.replace(tzinfo=timezone.utc)

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
