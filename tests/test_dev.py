"""`touchgrass dev` (marked zk): the whole system from one command in a fresh home, twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO_ROOT
from tests.support.net import free_port

pytestmark = [pytest.mark.zk, pytest.mark.timeout(2400)]



def http_json(url: str) -> object:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def wait(predicate, timeout: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (OSError, ValueError, KeyError):
            pass
        assert process.poll() is None, f"dev exited while waiting for {what}:\n" + log.read_text()[-4000:]
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n" + log.read_text()[-4000:]
        time.sleep(1)


def start_dev(env: dict[str, str], api_port: int, devnet_port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "touchgrass.cli", "dev", "--port", str(api_port),
                             "--devnet-port", str(devnet_port), "--block-interval", "1"],
                            cwd=REPO_ROOT, env=env, stdout=open(log, "a"),
                            stderr=subprocess.STDOUT)


def stop_and_check(process: subprocess.Popen, state_dir: Path) -> None:
    tree = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=180) == 0
    _, alive = psutil.wait_procs(tree, timeout=15)
    assert not alive, f"left running: {[p.cmdline()[:3] for p in alive]}"
    assert not (state_dir / "pgdata" / "postmaster.pid").exists(), "PostgreSQL still running"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "touchgrass.cli", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_dev_runs_the_whole_pipeline_and_reuses_its_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DATABASE_URL", "MINA_", "MINIO_", "FEE_PAYER", "XDG_",
                                  "TOUCHGRASS_TEST", "CIRCUIT_CACHE", "PROVER_JS", "STORAGE_DIR"))}
    env.update(HOME=str(home))
    state_dir = home / ".local" / "share" / "touchgrass" / "dev"
    api_port, devnet_port = free_port(), free_port()
    log = tmp_path / "dev.log"

    first_started = time.monotonic()
    process = start_dev(env, api_port, devnet_port, log)
    api = f"http://127.0.0.1:{api_port}"
    try:
        wait(lambda: json.loads((state_dir / "dev.json").read_text()).get("api_url"), 900,
             "the dev state", process, log)
        state = json.loads((state_dir / "dev.json").read_text())
        wait(lambda: http_json(f"{api}/api/challenges/{state['challenge_id']}")
             ["deploymentStatus"] == "active", 900, "the demo zkApp", process, log)
        first_ready = time.monotonic() - first_started
        photo = tmp_path / "grass.jpg"
        photo.write_bytes(os.urandom(8000))
        uploaded = cli({**env, "TOUCHGRASS_SIGNER_KEY": state["signer_private"]}, "upload",
                       str(photo), "--chain", state["chain_id"], "--wallet", state["wallet"],
                       "--api", api)
        assert uploaded.returncode == 0, uploaded.stderr
        submission = json.loads(uploaded.stdout)
        wait(lambda: http_json(f"{api}/api/submissions/{submission['id']}")["status"] == "complete",
             900, "the submission to complete", process, log)
        verify_env = {**env, "DATABASE_URL": state["database_url"],
                      "SIGNER_PUBLIC_KEY": state["signer_public"],
                      "MINA_NODE_ENDPOINT": state["mina_endpoint"]}
        wait(lambda: cli(verify_env, "verify", str(photo)).returncode == 0, 300,
             "`touchgrass verify` to pass", process, log)
    finally:
        if process.poll() is None:
            stop_and_check(process, state_dir)

    second_started = time.monotonic()
    process = start_dev(env, api_port, devnet_port, log)
    try:
        wait(lambda: http_json(f"{api}/api/submissions/{submission['id']}")["status"] == "complete",
             600, "the API with the earlier submission", process, log)
        wait(lambda: "zkApp is deployed" in log.read_text().split("dev stopped")[-1], 600,
             "the second start to be ready", process, log)
        second_ready = time.monotonic() - second_started
        again = cli(verify_env, "verify", str(photo))
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        stop_and_check(process, state_dir)
    print(f"first start to ready {first_ready:.0f} s, second {second_ready:.0f} s")
    assert second_ready < first_ready
