"""What every command shares on the terminal: one line per expected failure, progress while
the circuit compiles, and signals that stop a command gracefully.

`failure_of` is the one place an exception becomes an operator's line and an exit code
(0 ok, 1 the operation failed or was refused, 2 bad configuration or usage); anything it
does not know is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, NoReturn, TypeVar

import anyio
import typer
from rich.console import Console
from rich.status import Status

from touchgrass import logs
from touchgrass.errors import (
    ConfigError,
    DatabaseUnavailable,
    InvalidInput,
    MigrationError,
    OperatorError,
    PortTaken,
    ProverError,
    StorageError,
)
from touchgrass.roles.runner import RoleControl
from touchgrass.settings import LogSettings, load

__all__ = ["CONFIG_EXIT", "FAILED_EXIT", "command", "compile_progress", "err", "fail",
           "failure_of", "out", "run", "signal_control"]

err = Console(stderr=True)
out = Console()

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

FAILED_EXIT = 1
CONFIG_EXIT = 2


def failure_of(error: BaseException) -> tuple[str, int] | None:
    """(the line to print, the exit code) for an expected failure; None for a bug."""
    if isinstance(error, PortTaken):
        return str(error), CONFIG_EXIT
    if isinstance(error, ConfigError):
        return f"configuration: {error}", CONFIG_EXIT
    if isinstance(error, InvalidInput):  # a bad argument: usage
        return str(error), CONFIG_EXIT
    if isinstance(error, OperatorError | MigrationError | DatabaseUnavailable):
        return str(error), FAILED_EXIT
    if isinstance(error, StorageError):
        return f"storage: {error}", FAILED_EXIT
    if isinstance(error, ProverError):
        return f"prover: {error}", FAILED_EXIT
    if isinstance(error, OSError) and error.errno is not None:
        # ENOSPC for the circuit cache, EACCES for a state dir: the OS says it best.
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}", FAILED_EXIT
    return None


def fail(message: str, code: int = FAILED_EXIT) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def command(role: str) -> Callable[[F], F]:
    """Wrap a CLI command: configure logging for `role`, and turn expected failures raised
    anywhere inside (loading settings, the async work) into one line."""
    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                settings = load(LogSettings)
                logs.configure(role, fmt=settings.log_format, level=settings.log_level)
                return function(*args, **kwargs)
            except KeyboardInterrupt:
                raise typer.Exit(130) from None
            except (typer.Exit, typer.Abort):
                raise
            except Exception as error:
                failure = failure_of(error)
                if failure is None:
                    raise
                fail(*failure)
        return wrapper  # type: ignore[return-value]
    return decorate


def run(work: Callable[[], Awaitable[T]]) -> T:
    """Run a command's async work (typer commands are plain functions)."""
    return anyio.run(work)


def signal_control() -> RoleControl:
    """SIGTERM/SIGINT stop the running command gracefully (a second one hurries it)."""
    control = RoleControl.new()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, control.signal)
    return control


@contextlib.contextmanager
def compile_progress() -> Iterator[Callable[[str, float], None]]:
    """A spinner on a terminal (log lines otherwise) while the circuit compiles."""
    if not err.is_terminal:
        def log_line(name: str, elapsed: float) -> None:
            if int(elapsed) % 15 < 5:
                logs.get_logger("touchgrass.node").info(
                    "compile", "%s still compiling the circuit (%.0f s)", name, elapsed)
        yield log_line
        return
    with err.status("starting the prover") as status:
        def show(name: str, elapsed: float) -> None:
            status.update(f"{name}: compiling the circuit, {elapsed:.0f} s (about a minute "
                          "the first time; later starts read the cache)")
        yield show


@contextlib.contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner with `message` on a terminal; nothing otherwise."""
    if not err.is_terminal:
        yield
        return
    with err.status(message):
        yield


class StatusLine:
    """One line that says what is being waited for and updates in place on a terminal (a
    spinner); elsewhere (a log file) each new text is printed once, as a line."""

    def __init__(self, console: Console, *, prefix: str = "") -> None:
        self.console = console
        self.prefix = prefix
        self._status: Status | None = None

    def show(self, text: str) -> None:
        line = f"{self.prefix}{text}"
        if not self.console.is_terminal:
            self.console.print(line, highlight=False, soft_wrap=True)
        elif self._status is None:
            self._status = self.console.status(line)
            self._status.start()
        else:
            self._status.update(line)

    def clear(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
