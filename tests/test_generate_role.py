"""`touchgrass generate` end to end (marked zk): real PostgreSQL, SeaweedFS, o1js provers,
and the process table checked for orphans after SIGTERM, after a prover crash, and after a
crash of the role itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO_ROOT
from tests.support.factories import SIGNER, queue_submissions
from touchgrass.images import S3Storage
from touchgrass.node.prover import open_prover
from touchgrass.settings import ProverSettings

pytestmark = [pytest.mark.anyio, pytest.mark.zk, pytest.mark.timeout(1500)]


def node_children(process: subprocess.Popen) -> list[psutil.Process]:
    try:
        return [child for child in psutil.Process(process.pid).children(recursive=True)
                if "node" in child.name()]
    except psutil.NoSuchProcess:
        return []


def start_role(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "touchgrass.cli", "generate", "-c", "1"],
                            cwd=REPO_ROOT, env=env, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT)


async def wait_for(predicate, timeout: float, what: str, process=None, log=None) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the role exited while waiting for {what}: "
                                 + (log.read_text()[-3000:] if log else ""))
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


def gone(processes: list[psutil.Process], within: float) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=within)
    return not alive


async def test_generate_end_to_end_with_a_prover_killed_mid_proof(
    pool, database_url: str, s3_server, tmp_path: Path,
) -> None:
    storage = S3Storage(s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
                        "generate-e2e")
    rows = await queue_submissions(pool, 2, storage=storage)
    await storage.close()
    env = {**os.environ, "DATABASE_URL": database_url, "SIGNER_PUBLIC_KEY": str(SIGNER),
           "MINIO_ENDPOINT": s3_server.endpoint, "MINIO_ROOT_USER": s3_server.access_key,
           "MINIO_ROOT_PASSWORD": s3_server.secret_key, "MINIO_BUCKET": "generate-e2e",
           "GENERATE_BACKOFF_BASE_S": "0", "QUEUE_POLL_INTERVAL_S": "1", "LOG_FORMAT": "json"}
    log = tmp_path / "generate.log"
    role = start_role(env, log)
    try:
        async def proving() -> bool:
            return bool(await pool.fetchval(
                "SELECT count(*) FROM submissions WHERE lease_expires_at > now()"))
        await wait_for(proving, 600, "the first claim", role, log)
        await asyncio.sleep(3)  # into the proof
        [victim] = node_children(role)
        victim.kill()

        async def both_done() -> bool:
            return await pool.fetchval("SELECT count(*) FROM submissions "
                                       "WHERE status = 'proof_publishing'") == 2
        await wait_for(both_done, 900, "both rows to be proven", role, log)
        provers = node_children(role)
        assert provers and victim.pid not in {p.pid for p in provers}
    finally:
        role.send_signal(signal.SIGTERM)
        code = role.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
    assert gone(provers, within=10), "a prover process outlived the role"

    stored = await pool.fetch("SELECT sha256_hash, proof_json, failed_at, attempts "
                              "FROM submissions ORDER BY chain_position")
    assert sum(1 for r in stored if r["failed_at"] is not None) == 1  # the killed attempt
    assert all(r["attempts"] == 0 for r in stored)  # publish starts with a fresh budget
    verifier = await open_prover(ProverSettings(), SIGNER, size=1)
    try:
        for row in stored:
            verdict = await verifier.verify(row["proof_json"],
                                            digest=bytes.fromhex(row["sha256_hash"]))
            assert verdict.valid, verdict.reason
    finally:
        await verifier.close()
    assert {r["sha256_hash"] for r in stored} == {r["sha256_hash"] for r in rows}
    text = log.read_text()
    assert '"action": "done"' in text and str(SIGNER.x)[:10] not in text


async def test_a_crash_of_the_role_takes_its_provers_with_it(database_url: str,
                                                             tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "SIGNER_PUBLIC_KEY": str(SIGNER),
           "STORAGE_DIR": str(tmp_path / "images")}
    log = tmp_path / "crash.log"
    role = start_role(env, log)
    try:
        deadline = time.monotonic() + 120
        while not node_children(role):
            assert role.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no prover process appeared"
            time.sleep(0.2)
        provers = node_children(role)
        role.kill()  # SIGKILL: no finally, no cleanup in Python
        role.wait(timeout=10)
        assert gone(provers, within=10), "prover processes outlived a crashed role"
    finally:
        if role.poll() is None:
            role.kill()


def test_offline_prove_and_verify_proof_commands(tmp_path: Path) -> None:
    import hashlib
    import json

    from tests.support.factories import SIGNER_PRIVATE_KEY
    from touchgrass.signatures import generate_private_key, sign

    env = {**os.environ, "SIGNER_PUBLIC_KEY": str(SIGNER)}
    photo, other = tmp_path / "photo.jpg", tmp_path / "other.jpg"
    photo.write_bytes(os.urandom(2048))
    other.write_bytes(os.urandom(2048))
    signature = sign(SIGNER_PRIVATE_KEY, hashlib.sha256(photo.read_bytes()).digest(), "secp256k1")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "touchgrass.cli", *args], cwd=REPO_ROOT,
                              env=env, capture_output=True, text=True, timeout=900)

    proved = cli("prove", str(photo), "--signature", f"{signature.r:064x},{signature.s:064x}",
                 "-o", str(tmp_path / "proof.json"))
    assert proved.returncode == 0, proved.stderr[-2000:]
    document = json.loads((tmp_path / "proof.json").read_text())
    assert document["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    valid = cli("verify-proof", str(tmp_path / "proof.json"))
    assert valid.returncode == 0 and valid.stdout.startswith("valid"), valid.stderr[-2000:]
    wrong = cli("verify-proof", str(tmp_path / "proof.json"), "--image", str(other))
    assert wrong.returncode == 1 and "INVALID: the proof is for another digest" in wrong.stdout
    # A proof that names no photo is valid, and means nothing: said, and exit 1.
    (tmp_path / "bare.json").write_text(json.dumps(document["proof"]))
    bare = cli("verify-proof", str(tmp_path / "bare.json"))
    assert bare.returncode == 1 and bare.stdout.startswith("VALIDITY ONLY"), bare.stdout
    # The proof's signer must be the key the verifier trusts.
    _, stranger = generate_private_key("secp256k1")
    env["SIGNER_PUBLIC_KEY"] = str(stranger)
    untrusted = cli("verify-proof", str(tmp_path / "proof.json"))
    assert untrusted.returncode == 1 and "is not a trusted key" in untrusted.stdout
