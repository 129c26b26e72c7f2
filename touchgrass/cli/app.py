"""The `touchgrass` Typer application and what its commands share: the option types,
the settings helpers and the root callback. A leaf: the command modules (roles.py,
operators.py, clients.py, development.py) import it and register on `app`; the package
imports them all (cli/__init__.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from touchgrass import __version__
from touchgrass.cli.console import err, out
from touchgrass.settings import DatabaseSettings, load

__all__ = ["Concurrency", "DatabaseUrl", "MetricsPort", "app", "database_settings",
           "metrics_port_setting", "serve_metrics"]

app = typer.Typer(
    name="touchgrass",
    help="Prove photos are authentic and record the proofs on Mina. One command per role; "
    "each role is a loop over the submissions table (Postgres is the queue).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="PostgreSQL URL; default: $DATABASE_URL.",
                 show_default=False),
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, max=256, help="Rows worked on at once.")
]


MetricsPort = Annotated[
    int | None,
    typer.Option("--metrics-port", min=1, max=65535, show_default=False,
                 help="Serve Prometheus /metrics on this port; default: $METRICS_PORT, off."),
]


def serve_metrics(port: int | None) -> None:
    from touchgrass.roles.runner import serve_metrics

    serve_metrics(port)


def metrics_port_setting(port: int | None) -> int | None:
    from touchgrass.settings import MetricsSettings

    return load(MetricsSettings, metrics_port=port).metrics_port


def database_settings(database_url: str | None) -> DatabaseSettings:
    return load(DatabaseSettings, database_url=database_url)


@app.callback(invoke_without_command=True)
def _root(
    context: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(f"touchgrass {__version__}")
        raise typer.Exit(0)
    # Runs before the subcommand's options are read: a running `touchgrass dev` fills the
    # settings left unset (its envvar options and settings classes read os.environ).
    from touchgrass.devtools.instance import ADOPTED_BY, adopt

    names = ADOPTED_BY.get(context.invoked_subcommand or "")
    if names and (line := adopt(names)):
        err.print(f"[dim]{line}[/]", highlight=False, soft_wrap=True)
