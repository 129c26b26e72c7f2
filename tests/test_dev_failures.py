"""`touchgrass dev` when something a first run commonly meets is wrong: one line saying what
and what to change, exit code 1 or 2, no traceback, and nothing started."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.support.net import free_port


def run_dev(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    for name in ("MINA_NODE_ENDPOINT", "FEE_PAYER_PRIVATE_KEY", "MINIO_ENDPOINT"):
        environment.pop(name, None)
    if "DATABASE_URL" not in env:
        environment.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "touchgrass.cli", "dev", "--data-dir",
                           str(tmp_path / "dev"), *args], cwd=REPO_ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr and "Error:" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture
def listening() -> Iterator[Callable[[str], int]]:
    sockets: list[socket.socket] = []

    def listen(host: str) -> int:
        sock = socket.socket()
        sock.bind((host, 0))
        sock.listen()
        sockets.append(sock)
        return sock.getsockname()[1]

    yield listen
    for sock in sockets:
        sock.close()


def test_the_api_port_taken(tmp_path: Path, listening) -> None:
    port = listening("0.0.0.0")
    line = one_error_line(run_dev(tmp_path, "--port", str(port),
                                  "--devnet-port", str(free_port())))
    assert f"port {port} is taken" in line and "--port N" in line
    assert not (tmp_path / "dev" / "pgdata").exists()  # nothing was started


def test_the_devnet_port_taken(tmp_path: Path, listening) -> None:
    port = listening("127.0.0.1")
    line = one_error_line(run_dev(tmp_path, "--port", str(free_port()),
                                  "--devnet-port", str(port)))
    assert f"port {port} is taken" in line and "--devnet-port N" in line


def test_node_missing(tmp_path: Path) -> None:
    line = one_error_line(run_dev(tmp_path, "--port", str(free_port()), "--devnet-port",
                                  str(free_port()), NODE_BINARY=str(tmp_path / "no-node")))
    assert "Node.js" in line


def test_node_too_old(tmp_path: Path) -> None:
    old = tmp_path / "node"
    old.write_text("#!/bin/sh\necho v18.19.0\n")
    old.chmod(old.stat().st_mode | stat.S_IEXEC)
    line = one_error_line(run_dev(tmp_path, "--port", str(free_port()), "--devnet-port",
                                  str(free_port()), NODE_BINARY=str(old)))
    assert "Node.js 20+ is required" in line and "18" in line


def test_no_postgresql_where_database_url_points(tmp_path: Path) -> None:
    port = free_port()
    line = one_error_line(run_dev(tmp_path, "--port", str(free_port()), "--devnet-port",
                                  str(free_port()),
                                  DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/x"))
    assert f"127.0.0.1:{port}/x" in line


def test_a_malformed_database_url(tmp_path: Path) -> None:
    line = one_error_line(run_dev(tmp_path, "--port", str(free_port()), "--devnet-port",
                                  str(free_port()),
                                  DATABASE_URL="postgresql://u:secret@db:port/touchgrass"))
    assert "DATABASE_URL is invalid" in line and "secret" not in line


def test_a_port_with_only_closed_connections_of_an_earlier_run_is_free(tmp_path: Path) -> None:
    """A restart right after a stop: the server closed its connections first, so they sit in
    TIME_WAIT on its port; the servers bind with SO_REUSEADDR, and so must the check."""
    from touchgrass.devtools.dev import DevOptions, _check_ports

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: TIME_WAIT on `port`
    client.close()
    server.close()
    _check_ports(DevOptions(tmp_path, api_port=port, devnet_port=port), devnet=True)


def test_a_full_disk_for_the_circuit_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiling into a cache on a disk without room stops before any process starts."""
    import shutil as real_shutil

    from typer.testing import CliRunner

    from touchgrass.cli import app
    from touchgrass.node import pool

    usage = real_shutil.disk_usage(tmp_path)
    monkeypatch.setattr(pool.shutil, "disk_usage",
                        lambda path: usage._replace(free=50 * 2**20))
    monkeypatch.setenv("CIRCUIT_CACHE_PATH", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["setup", "--compile"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "50 MiB free" in errors[0] and "CIRCUIT_CACHE_PATH" in errors[0]


def test_only_expected_failures_become_one_line() -> None:
    """A bug keeps its traceback: the one-line treatment is for failures an operator can fix."""
    from touchgrass.cli.console import failure_of
    from touchgrass.errors import ConfigError, DatabaseUnavailable

    assert failure_of(ConfigError("X is required")) == ("configuration: X is required", 2)
    assert failure_of(DatabaseUnavailable("cannot reach the database at h:1/d")) == \
        ("cannot reach the database at h:1/d", 1)
    assert failure_of(OSError(28, "No space left on device", "/cache/srs"))[0] == \
        "No space left on device: /cache/srs"
    assert failure_of(KeyError("proof")) is None and failure_of(AssertionError()) is None
