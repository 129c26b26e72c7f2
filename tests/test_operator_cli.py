"""`touchgrass status` and `touchgrass resubmit` through the CLI, on real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner

from tests.conftest import fast_policy
from tests.support.factories import queue_submissions
from touchgrass import db
from touchgrass.cli import app
from touchgrass.queue import engine
from touchgrass.queue.stages import GENERATE

runner = CliRunner()


def with_pool(database_url: str, work: Callable[[asyncpg.Pool], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        pool = await db.create_pool(database_url, size=2)
        try:
            return await work(pool)
        finally:
            await pool.close()
    return asyncio.run(main())


@pytest.fixture
def seeded(database_url: str) -> dict[str, str]:
    """One row per interesting state; returns {state: sha256}."""
    async def seed(pool: asyncpg.Pool) -> dict[str, str]:
        await pool.execute("TRUNCATE users, challenges CASCADE")
        rows = await queue_submissions(pool, 6)
        policy = fast_policy(backoff_base_s=600.0)
        first, second, third = await engine.claim(pool, GENERATE, policy, "gen@host:1:abc", 3)
        await engine.fail(pool, GENERATE, policy, "gen@host:1:abc", first, "prover crashed")
        await engine.fail(pool, GENERATE, policy, "gen@host:1:abc", second, "bad bytes",
                          retryable=False)
        # third stays leased (running)
        await pool.execute("UPDATE submissions SET status = 'complete', transaction_id = '5Jtx1', "
                           "transaction_hash = '5Jtx1', transaction_nonce = 7, "
                           "chain_status = 'pending', published_at = now(), "
                           "batch_position = 2, batch_size = 10 WHERE id = $1",
                           rows[3]["id"])
        await pool.execute("UPDATE submissions SET status = 'proof_publishing', "
                           "proof_json = '{\"p\": 1}', proof_generated_at = now(), "
                           "failure_reason = 'node down', attempts = 3 WHERE id = $1",
                           rows[4]["id"])
        await pool.execute("UPDATE submissions SET status = 'awaiting_review' WHERE id = $1",
                           rows[5]["id"])
        by_id = {r["id"]: r["sha256_hash"] for r in rows}
        return {"retrying": by_id[first.id], "rejected": by_id[second.id],
                "running": by_id[third.id], "complete": rows[3]["sha256_hash"],
                "stuck_publish": rows[4]["sha256_hash"], "review": rows[5]["sha256_hash"]}
    return with_pool(database_url, seed)


def invoke(database_url: str, *args: str):
    return runner.invoke(app, [*args, "--database-url", database_url])


def test_status_json_counts_waiting_running_retrying(database_url, seeded) -> None:
    result = invoke(database_url, "status", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    generate = next(s for s in report["stages"] if s["stage"] == "generate")
    assert (generate["waiting"], generate["running"], generate["retrying"]) == (0, 1, 1)
    publish = next(s for s in report["stages"] if s["stage"] == "publish")
    assert publish["retrying"] == 1
    assert report["submission_totals"] == {"proof_generation": 2, "rejected": 1, "complete": 1,
                                           "proof_publishing": 1, "awaiting_review": 1}
    assert [f["reason"] for f in report["failures"]][:2] == ["bad bytes", "prover crashed"]
    assert report["lease_owners"] == [
        {"owner": "gen@host:1:abc", "stage": "generate", "rows": 1,
         "lease_until": report["lease_owners"][0]["lease_until"]}]


def test_status_table_shows_every_section(database_url, seeded) -> None:
    result = invoke(database_url, "status")
    assert result.exit_code == 0, result.output
    for text in ("proof_generation", "Finished in the last hour", "prover crashed",
                 "gen@host:1:abc", "Live workers"):
        assert text in result.output


def test_status_of_one_submission_prints_its_timeline(database_url, seeded) -> None:
    result = invoke(database_url, "status", seeded["rejected"], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["submission"]["status"] == "rejected"
    assert [e["event"] for e in data["timeline"]][0] == "uploaded"
    assert "rejected" in [e["event"] for e in data["timeline"]]
    table = invoke(database_url, "status", seeded["retrying"])
    assert table.exit_code == 0 and "prover crashed" in table.output and "Timeline" in table.output


def test_status_of_a_published_photo_shows_its_batch(database_url, seeded) -> None:
    """Photos share a command: the timeline and the summary say which photo of how many."""
    data = json.loads(invoke(database_url, "status", seeded["complete"], "--json").output)
    assert (data["submission"]["batch_position"], data["submission"]["batch_size"]) == (2, 10)
    assert "transaction accepted by the node (photo 2 of 10 in transaction 5Jtx1)" in \
        [e["event"] for e in data["timeline"]]
    table = invoke(database_url, "status", seeded["complete"])
    assert table.exit_code == 0
    assert "photo 2 of 10 in transaction" in " ".join(table.output.split())


def test_status_of_an_unknown_or_malformed_hash(database_url, seeded) -> None:
    unknown = invoke(database_url, "status", "f" * 64)
    assert unknown.exit_code == 1 and "no submission has sha256" in unknown.output
    malformed = invoke(database_url, "status", "xyz")
    assert malformed.exit_code == 2 and "is not a SHA-256" in malformed.output


def test_resubmit_a_rejected_row_goes_back_to_generation(database_url, seeded) -> None:
    result = invoke(database_url, "resubmit", seeded["rejected"])
    assert result.exit_code == 0, result.output
    assert "rejected -> proof_generation" in result.output
    row = with_pool(database_url, lambda p: p.fetchrow(
        "SELECT status, attempts, failure_reason, run_at <= now() AS ready FROM submissions "
        "WHERE sha256_hash = $1", seeded["rejected"]))
    assert dict(row) == {"status": "proof_generation", "attempts": 0, "failure_reason": None,
                         "ready": True}


def test_resubmit_keeps_a_stored_proof(database_url, seeded) -> None:
    result = invoke(database_url, "resubmit", seeded["stuck_publish"])
    assert result.exit_code == 0, result.output
    assert "proof_publishing -> proof_publishing" in result.output
    assert "will not be proven again" in result.output
    row = with_pool(database_url, lambda p: p.fetchrow(
        "SELECT attempts, proof_json FROM submissions WHERE sha256_hash = $1",
        seeded["stuck_publish"]))
    assert row["attempts"] == 0 and row["proof_json"] == {"p": 1}


def test_resubmit_fences_out_the_worker_holding_the_row(database_url, seeded) -> None:
    assert invoke(database_url, "resubmit", seeded["running"]).exit_code == 0

    async def stale_finish(pool: asyncpg.Pool) -> bool:
        row = await pool.fetchrow("SELECT id FROM submissions WHERE sha256_hash = $1",
                                  seeded["running"])
        stale = engine.Claimed(row["id"], 1, {})
        return await engine.finish(pool, GENERATE, "gen@host:1:abc", stale, {"proof_json": {}})
    assert with_pool(database_url, stale_finish) is False


def test_resubmit_refuses_complete_without_force(database_url, seeded) -> None:
    refused = invoke(database_url, "resubmit", seeded["complete"])
    assert refused.exit_code == 1 and "--force" in refused.output
    assert with_pool(database_url, lambda p: p.fetchval(
        "SELECT status FROM submissions WHERE sha256_hash = $1", seeded["complete"])) == "complete"
    forced = invoke(database_url, "resubmit", seeded["complete"], "--force")
    assert forced.exit_code == 0 and "forgotten" in forced.output
    row = with_pool(database_url, lambda p: p.fetchrow(
        "SELECT status, transaction_id, chain_status FROM submissions WHERE sha256_hash = $1",
        seeded["complete"]))
    assert dict(row) == {"status": "proof_generation", "transaction_id": None, "chain_status": None}
    shown = invoke(database_url, "status", seeded["complete"], "--json")
    # the forgotten transaction's hash was public: its timeline keeps it
    earlier = json.loads(shown.output)["submission"]["earlier_transactions"]
    assert [(e["hash"], e["nonce"], e["why"]) for e in earlier] == [
        ("5Jtx1", 7, "forced resubmit")]


def test_resubmit_leaves_review_to_the_admin_and_names_unknown_hashes(database_url, seeded):
    review = invoke(database_url, "resubmit", seeded["review"])
    assert review.exit_code == 1 and "awaiting an admin's review" in review.output
    unknown = invoke(database_url, "resubmit", "e" * 64)
    assert unknown.exit_code == 1 and "no submission has sha256 " + "e" * 64 in unknown.output


def test_resubmit_notifies_the_stage(database_url, seeded) -> None:
    async def listen_and_resubmit(pool: asyncpg.Pool) -> str:
        got: asyncio.Queue[str] = asyncio.Queue()
        connection = await asyncpg.connect(database_url)
        await connection.add_listener("touchgrass_generate",
                                      lambda *args: got.put_nowait(args[2]))
        try:
            from touchgrass.store import submissions
            await submissions.resubmit(pool, seeded["rejected"])
            return await asyncio.wait_for(got.get(), 5)
        finally:
            await connection.close()
    assert with_pool(database_url, listen_and_resubmit) == "touchgrass_generate"


def test_commands_without_a_database_name_the_variable(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TOUCHGRASS_DEV_DIR", str(tmp_path))  # no dev instance to adopt
    for command in (["status"], ["resubmit", "a" * 64], ["migrate"], ["generate"], ["publish"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert "DATABASE_URL is required" in result.output


def test_an_unreachable_database_is_one_clear_line() -> None:
    result = runner.invoke(app, ["status", "--database-url",
                                 "postgresql://u:secret@127.0.0.1:1/db"])
    assert result.exit_code == 1
    assert "cannot reach the database at 127.0.0.1:1/db" in result.output
    assert "secret" not in result.output


def test_commands_use_a_running_dev_instance_and_say_so(database_url, seeded, monkeypatch,
                                                        tmp_path) -> None:
    """Issue 12: after `touchgrass dev`, `status` in another terminal works with no exports;
    a set variable wins, and a dev instance that is not running is not used."""
    import os

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TOUCHGRASS_DEV_DIR", str(tmp_path))
    state = {"database_url": database_url, "pid": os.getpid()}
    (tmp_path / "dev.json").write_text(json.dumps(state))
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    assert "using the running `touchgrass dev`" in result.output and "DATABASE_URL" in result.output
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the run above set it in os.environ
    (tmp_path / "dev.json").write_text(json.dumps({**state, "pid": 2**22 + 12345}))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2 and "DATABASE_URL is required" in result.output


def test_verify_says_whom_to_trust_and_trust_prints_a_file_verify_reads(monkeypatch,
                                                                         tmp_path) -> None:
    from touchgrass.signatures import generate_private_key

    for name in ("SIGNER_PUBLIC_KEY", "OPERATOR_PUBLIC_KEY", "TRUST_FILE", "DATABASE_URL",
                 "FEE_PAYER_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOUCHGRASS_DEV_DIR", str(tmp_path))  # no dev instance to adopt
    result = runner.invoke(app, ["verify", "a" * 64, "--zkapp", "B62qx"])
    assert result.exit_code == 2 and "say whom you trust: --trust FILE" in result.output
    _, signer = generate_private_key("secp256k1")
    operator = "B62qkYa1o6Mj6uTTjDQCob7FYZspuhkm4RRQhgJg9j4koEBWiSrTQrS"
    printed = runner.invoke(app, ["trust", "--operator", operator, "--zkapp", operator],
                            env={"SIGNER_PUBLIC_KEY": str(signer)})
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.stdout)
    assert document["operator"] == operator and document["zkapps"] == [operator]
    assert document["signers"] == [{"curve": "secp256k1", "publicKey": str(signer)}]
    (tmp_path / "trust.json").write_text(json.dumps({**document, "operator": "B62qnot"}))
    broken = runner.invoke(app, ["verify", "a" * 64, "--zkapp", "B62qx",
                                 "--trust", str(tmp_path / "trust.json")])
    assert broken.exit_code == 2 and "is not a Mina address" in broken.output, broken.output
