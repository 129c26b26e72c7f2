"""The `touchgrass` command: one subcommand per role (roles.py), plus the operator commands
(operators.py), the clients of a deployment (clients.py) and the development tools
(development.py), all registered on one Typer app (app.py).

The package only wires: each command loads its settings and calls the module that owns the
work. Commands are plain functions (typer skips `async def`); `console` runs the async work
and turns expected failures into one line. Exit codes: 0 ok, 1 the operation failed or was
refused, 2 bad configuration or usage.
"""

from __future__ import annotations

import sys
from typing import Any

# Each command module registers its commands on `app` (cli/app.py, a leaf) as it is imported;
# the order here is the order of `touchgrass --help`: the roles first.
# isort: off
from touchgrass.cli import roles  # noqa: F401
from touchgrass.cli import clients, development, operators  # noqa: F401
from touchgrass.cli.app import app
# isort: on

__all__ = ["app", "main"]


def main() -> Any:
    """Console-script entry point."""
    return app()


if __name__ == "__main__":
    sys.exit(main())
