"""Migrations: an empty database reaches the schema the code expects; the old server's
database upgrades with its rows intact; running again, or concurrently, is harmless."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.support import databases
from touchgrass import migrations
from touchgrass.queue.stages import STAGES
from touchgrass.signatures import generate_private_key

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def empty_database(postgres_server: str):
    url = databases.create_database(postgres_server, "touchgrass_migrate", migrate=False)
    yield url
    databases.drop_database(url)


async def _fetch(url: str, query: str, *args):
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


def fetch(url: str, query: str, *args):
    return asyncio.run(_fetch(url, query, *args))


def columns(url: str, table: str) -> set[str]:
    rows = fetch(url, "SELECT column_name FROM information_schema.columns "
                      "WHERE table_schema = 'public' AND table_name = $1", table)
    return {r["column_name"] for r in rows}


def test_an_empty_database_reaches_the_schema_the_code_uses(empty_database: str) -> None:
    migrations.upgrade(empty_database)
    assert fetch(empty_database, "SELECT version_num FROM alembic_version")[0][0] == \
        migrations.head_revision()
    for stage in STAGES.values():
        have = columns(empty_database, stage.table)
        wanted = {"id", "attempts", "run_at", "lease_owner", "lease_expires_at", "failure_reason",
                  "failed_stage", "failed_at", "updated_at", "created_at", stage.status_column,
                  stage.done_timestamp, stage.rejected_timestamp, stage.ready_since_column,
                  *stage.payload_columns, *stage.result_columns, *stage.cleared_on_reject}
        assert wanted <= have, (stage.name, wanted - have)
    indexes = {r["indexname"]: r["indexdef"] for r in fetch(
        empty_database, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")}
    assert "WHERE ((status)::text = 'proof_generation'::text)" in indexes["submissions_generate_claim"]
    assert "WHERE ((status)::text = 'proof_publishing'::text)" in indexes["submissions_publish_claim"]
    assert "'pending_deployment'" in indexes["challenges_deploy_claim"]
    assert "UNIQUE" in indexes["submissions_sha256_hash_key"]
    assert "UNIQUE" in indexes["submissions_chain_position_unique"]


def test_migrate_is_idempotent(empty_database: str) -> None:
    migrations.upgrade(empty_database)
    before = fetch(empty_database, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")
    migrations.upgrade(empty_database)
    after = fetch(empty_database, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")
    assert before == after


def test_concurrent_starts_serialise_on_the_advisory_lock(empty_database: str) -> None:
    """Every role runs `touchgrass migrate` at start; several may start at once."""
    processes = [
        subprocess.Popen([sys.executable, "-m", "touchgrass.cli", "migrate", "--database-url",
                          empty_database], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outputs
    assert all("(head)" in output for output in outputs)
    assert fetch(empty_database, "SELECT version_num FROM alembic_version")[0][0] == \
        migrations.head_revision()


async def _load(url: str, script: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(script)
    finally:
        await connection.close()


def test_the_old_servers_database_upgrades_with_its_rows(empty_database: str) -> None:
    asyncio.run(_load(empty_database, (FIXTURES / "old_server.sql").read_text()))
    migrations.upgrade(empty_database)
    rows = {r["sha256_hash"][0]: dict(r) for r in fetch(
        empty_database, "SELECT sha256_hash, status, attempts, transaction_id, failure_reason, "
                        "queued_at IS NOT NULL AS queued, run_at <= now() AS ready "
                        "FROM submissions")}
    assert rows["a"]["status"] == "proof_generation" and rows["a"]["attempts"] == 1
    assert rows["a"]["queued"] and rows["a"]["ready"]
    assert rows["b"]["status"] == "complete" and rows["b"]["transaction_id"] == "5Ju...tx"
    assert rows["c"]["status"] == "rejected" and rows["c"]["failure_reason"] == "proof failed"
    assert rows["d"]["status"] == "awaiting_review"
    challenges = {r["title"]: r["deployment_status"] for r in fetch(
        empty_database, "SELECT title, deployment_status FROM challenges")}
    assert challenges == {"deployed": "active", "not deployed": "pending_deployment"}
    assert fetch(empty_database, "SELECT count(*) FROM likes")[0][0] == 1
    assert "retry_count" not in columns(empty_database, "submissions")
    # the old CHECK is gone and the new statuses are accepted
    fetch(empty_database, "UPDATE submissions SET status = 'proof_publishing', "
                          "proof_json = '{}' WHERE sha256_hash = $1", "a" * 64)


def test_duplicate_chain_positions_stop_the_upgrade_with_a_clear_reason(empty_database: str) -> None:
    script = (FIXTURES / "old_server.sql").read_text()
    script += "UPDATE submissions SET chain_position = 1 WHERE sha256_hash = repeat('b', 64);"
    asyncio.run(_load(empty_database, script))
    with pytest.raises(Exception, match="chain_position. pairs used more than once"):
        migrations.upgrade(empty_database)
    # nothing was half-applied: the old status is still there
    assert fetch(empty_database, "SELECT count(*) FROM submissions WHERE status = 'processing'"
                 )[0][0] == 1


def test_transaction_ids_become_hashes_and_any_length_fits(empty_database: str) -> None:
    """0006: rows written with the daemon's long `zkapp.id` get their hash as the public id;
    the column takes any length (a real id is tens of KB); deploy timers live on the row."""
    migrations.upgrade(empty_database, "0005")
    fetch(empty_database, "INSERT INTO users (wallet_address) VALUES ('B62qw')")
    challenge = fetch(empty_database, "INSERT INTO challenges (title, description, start_time, "
                      "end_time) VALUES ('t', 'd', now(), now() + interval '1 day') RETURNING id")[0][0]
    chain = fetch(empty_database, "INSERT INTO chains (name, challenge_id) VALUES ('c', $1) "
                  "RETURNING id", challenge)[0][0]
    fetch(empty_database, "INSERT INTO submissions (sha256_hash, wallet_address, signature, "
          "challenge_id, chain_id, storage_key, chain_position, status, transaction_id, "
          "transaction_hash) VALUES (repeat('e', 64), 'B62qw', '{}', $1, $2, 'k', 1, 'complete',"
          " 'NUp2aGFzaA==', '5Jhash')", challenge, chain)
    migrations.upgrade(empty_database)
    assert fetch(empty_database, "SELECT transaction_id FROM submissions")[0][0] == "5Jhash"
    fetch(empty_database, "UPDATE submissions SET transaction_id = repeat('A', 40000)")
    assert "transaction_submitted_block_height" in columns(empty_database, "challenges")


@pytest.mark.parametrize("role", ["monitor", "api"])
def test_a_role_started_before_migrate_stops_with_one_line(empty_database: str,
                                                           role: str) -> None:
    """Code newer than the schema (roles deployed before `touchgrass migrate` ran) is refused
    at start by name, instead of a traceback on the first statement using a new column."""
    migrations.upgrade(empty_database, "0005")
    env = {**os.environ, "DATABASE_URL": empty_database, "STORAGE_DIR": "/tmp/touchgrass-x",
           "ADMIN_PASSWORD": "not-used-here-123", "SIGNER_CURVE": "secp256k1",
           "SIGNER_PUBLIC_KEY": str(generate_private_key("secp256k1")[1])}
    done = subprocess.run([sys.executable, "-m", "touchgrass.cli", role], env=env,
                          capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and "Traceback" not in done.stderr + done.stdout
    assert any(f"at migration 0005 and this touchgrass needs {migrations.head_revision()}"
               in line and "touchgrass migrate" in line for line in lines), done.stderr
