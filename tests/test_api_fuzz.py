"""schemathesis over the API's own OpenAPI document, against `touchgrass api` as a process:
no server error and no answer the document does not describe (status, content type, headers,
body), whatever it sends. Bounded so that it stays a minute or two in CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.support.api import ADMIN_PASSWORD, WALLET
from tests.support.api_process import ApiProcess
from touchgrass.signatures import generate_private_key

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 300
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")


async def _with_a_challenge(database_url: str) -> None:
    """An open, deployed challenge, so uploads get past the chain checks to the signature."""
    connection = await asyncpg.connect(database_url)
    challenge_id = await connection.fetchval(
        "INSERT INTO challenges (title, description, start_time, end_time, deployment_status, "
        "zkapp_address) VALUES ('Fuzz', 'd', now() - interval '1 hour', now() + interval "
        "'1 day', 'active', $1) RETURNING id", WALLET)
    await connection.execute("INSERT INTO chains (name, challenge_id) VALUES ('Default', $1)",
                             challenge_id)
    await connection.close()


@pytest.mark.anyio
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        database_url: str, tmp_path: Path) -> None:
    st = shutil.which("st") or str(Path(sys.executable).parent / "st")
    assert Path(st).exists(), "schemathesis is missing: pip install -e '.[dev]'"
    await _with_a_challenge(database_url)
    _, public = generate_private_key("secp256k1")
    log = open(tmp_path / "api.log", "w")
    api = ApiProcess({"DATABASE_URL": database_url, "ADMIN_PASSWORD": ADMIN_PASSWORD,
                      "SIGNER_PUBLIC_KEY": f"{public.x:064x},{public.y:064x}",
                      "STORAGE_DIR": str(tmp_path / "images"), "LOG_FORMAT": "json",
                      "LOG_LEVEL": "WARNING"}, output=log)
    try:
        await api.ready("/health")
        base = api.base
        result = subprocess.run(
            [st, "run", f"{base}/api/openapi.json", "--url", base, "--checks", CHECKS,
             "--max-examples", str(EXAMPLES_PER_OPERATION), "--generation-deterministic",
             "--auth", f"admin:{ADMIN_PASSWORD}", "--no-color"],
            cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "passed" in result.stdout
    finally:
        api.stop()
        log.close()
