"""The `touchgrass` command: one subcommand per role, plus operator and setup commands.

Commands are plain functions (typer skips `async def`); async work runs via `anyio.run`.
Exit codes: 0 ok, 1 the operation failed or was refused, 2 bad configuration or usage.
"""

from __future__ import annotations

import json
import sys
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
from touchgrass.settings import DatabaseSettings, LogSettings, QueueSettings, load

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
    port: Annotated[int | None, typer.Option(help="Port; default: $PORT or 3000.")] = None,
) -> None:
    """Serve the HTTP API (a drop-in replacement for the TouchGrass backend)."""
    _not_available("`touchgrass api` (the HTTP API)")


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
