"""`touchgrass api` as a real process, driven by the client commands people use to test a
deployment (`keys new`, `challenge create`, `upload`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.support.api import WALLET
from tests.support.net import free_port

pytestmark = pytest.mark.slow



def touchgrass(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "touchgrass.cli", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def keys() -> dict[str, str]:
    result = touchgrass("keys", "new", "--json", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_api_process_with_the_client_commands(database_url: str, tmp_path: Path, keys) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "ADMIN_PASSWORD": "s3cret-pw-long-enough",
           "SIGNER_PUBLIC_KEY": keys["publicKey"], "STORAGE_DIR": str(tmp_path / "images"),
           "TOUCHGRASS_API": f"http://127.0.0.1:{port}", "LOG_FORMAT": "json"}
    env.pop("MINIO_ENDPOINT", None)
    server = subprocess.Popen([sys.executable, "-m", "touchgrass.cli", "api", "--host",
                               "127.0.0.1", "--port", str(port)], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)

        refused = touchgrass("challenge", "create", "--title", "Grass", "--description", "d",
                             env={**env, "ADMIN_PASSWORD": "wrong"})
        assert refused.returncode == 1 and "Authentication required" in refused.stderr
        created = touchgrass("challenge", "create", "--title", "Grass", "--description", "d",
                             env=env)
        assert created.returncode == 0, created.stderr
        challenge = json.loads(created.stdout)
        assert challenge["deploymentStatus"] == "pending_deployment"

        # The zkApp deployment is the publish role's job; stand in for it here.
        subprocess.run(["psql", database_url, "-qc",
                        "UPDATE challenges SET deployment_status = 'active', "
                        f"zkapp_address = '{WALLET}'"], check=True)
        chains = json.loads(subprocess.run(
            ["curl", "-s", f"http://127.0.0.1:{port}/api/chains?challengeId={challenge['id']}"],
            capture_output=True, text=True, check=True).stdout)
        photo = tmp_path / "grass.png"
        photo.write_bytes(os.urandom(4096))
        upload_env = {**env, "TOUCHGRASS_SIGNER_KEY": keys["privateKey"]}
        uploaded = touchgrass("upload", str(photo), "--chain", chains[0]["id"], "--wallet",
                              WALLET, "--tagline", "hello", env=upload_env)
        assert uploaded.returncode == 0, uploaded.stderr
        submission = json.loads(uploaded.stdout)
        assert submission["status"] == "proof_generation" and submission["tagline"] == "hello"
        again = touchgrass("upload", str(photo), "--chain", chains[0]["id"], "--wallet", WALLET,
                           "--tagline", "hello", env=upload_env)  # a retry: the same row back
        assert again.returncode == 0 and json.loads(again.stdout)["id"] == submission["id"]
        assert "received before" in again.stderr
        duplicate = touchgrass("upload", str(photo), "--chain", chains[0]["id"], "--wallet",
                               WALLET, env=upload_env)
        assert duplicate.returncode == 1 and "Image already submitted" in duplicate.stderr
        no_key = touchgrass("upload", str(photo), "--chain", chains[0]["id"], "--wallet", WALLET,
                            env=env)
        assert no_key.returncode == 2 and "TOUCHGRASS_SIGNER_KEY" in no_key.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    uploads = [entry for entry in lines
               if entry.get("path") == "/api/submissions" and entry.get("status") == 201]
    assert uploads and all(entry["role"] == "api" and entry["correlation_id"]
                           for entry in uploads)
    assert "s3cret-pw" not in output


def test_api_refuses_to_start_with_a_bad_signer_key(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "ADMIN_PASSWORD": "long-enough-password",
           "SIGNER_PUBLIC_KEY": f"{1:064x},{2:064x}", "STORAGE_DIR": str(tmp_path)}
    result = touchgrass("api", "--port", str(free_port()), env=env)
    assert result.returncode == 2
    assert "SIGNER_PUBLIC_KEY is invalid: is not a point on secp256k1" in result.stderr


def test_api_refuses_to_start_without_admin_password(database_url: str, tmp_path: Path,
                                                     keys) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "SIGNER_PUBLIC_KEY": keys["publicKey"],
           "STORAGE_DIR": str(tmp_path)}
    env.pop("ADMIN_PASSWORD", None)
    result = touchgrass("api", env=env)
    assert result.returncode == 2 and "ADMIN_PASSWORD is required" in result.stderr
