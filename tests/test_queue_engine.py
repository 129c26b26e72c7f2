"""The queue engine's transitions on real PostgreSQL, one test (at least) per queue rule
(docs/pipeline.md)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.conftest import fast_policy
from tests.support.clock import pass_time
from tests.support.factories import WALLET, queue_submissions
from touchgrass.queue import engine, sql
from touchgrass.queue.stages import DEPLOY, GENERATE, PUBLISH

pytestmark = pytest.mark.anyio


# ---------------------------------------------------------------- queue rule 1: claim


async def test_claim_leases_at_most_the_free_slots_oldest_first(pool: asyncpg.Pool) -> None:
    rows = await queue_submissions(pool, 5)
    claimed = await engine.claim(pool, GENERATE, fast_policy(), "a", 3)
    assert [c.id for c in claimed] == [r["id"] for r in rows[:3]]
    assert all(c.attempt == 1 for c in claimed)
    leased = await pool.fetch("SELECT lease_owner, lease_expires_at > now() AS live, attempts "
                              "FROM submissions WHERE id = ANY($1)", [c.id for c in claimed])
    assert all(r["lease_owner"] == "a" and r["live"] and r["attempts"] == 1 for r in leased)


async def test_concurrent_claimers_never_get_the_same_row(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 200)
    results = await asyncio.gather(*(
        engine.claim(pool, GENERATE, fast_policy(), f"w{i}", 10) for i in range(16)
    ))
    ids = [c.id for batch in results for c in batch]
    assert all(len(batch) <= 10 for batch in results)
    assert len(ids) == len(set(ids)) == 160


async def test_a_claim_does_not_block_inserting_a_like(pool: asyncpg.Pool) -> None:
    """FOR NO KEY UPDATE, not FOR UPDATE: a like's foreign key check (KEY SHARE) passes while
    a claim holds its row lock."""
    [row] = await queue_submissions(pool, 1)
    async with pool.acquire() as claimer, pool.acquire() as liker:
        async with claimer.transaction():
            claimed = await engine.claim(claimer, GENERATE, fast_policy(), "a", 1)
            assert claimed
            await liker.execute("SET lock_timeout = '500ms'")
            await liker.execute(
                "INSERT INTO likes (submission_id, wallet_address) VALUES ($1, $2)",
                row["id"], WALLET,
            )
    assert await pool.fetchval("SELECT count(*) FROM likes") == 1


async def test_claim_is_the_cte_form_never_where_in() -> None:
    claim = sql.render("claim", GENERATE)
    assert "WITH picked AS" in claim and "FOR NO KEY UPDATE SKIP LOCKED" in claim
    assert "IN (" not in claim.split("UPDATE submissions")[1]


# ---------------------------------------------------------------- queue rule 3: fencing


async def test_a_stale_worker_cannot_overwrite_the_new_attempt(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 1)
    policy = fast_policy(lease_s=0.2)
    [stale] = await engine.claim(pool, GENERATE, policy, "stale", 1)
    await pass_time(pool, 0.3)  # the lease runs out while the stale worker is "busy"
    [fresh] = await engine.claim(pool, GENERATE, fast_policy(), "fresh", 1)
    assert fresh.id == stale.id and fresh.attempt == 2

    assert await engine.finish(pool, GENERATE, "stale", stale, {"proof_json": {"stale": 1}}) is False
    assert await engine.fail(pool, GENERATE, policy, "stale", stale, "stale error") is None
    assert await engine.heartbeat(pool, GENERATE, policy, "stale", [stale.fence]) == set()
    row = await pool.fetchrow("SELECT status, lease_owner, proof_json, failure_reason "
                              "FROM submissions WHERE id = $1", stale.id)
    assert dict(row) == {"status": "proof_generation", "lease_owner": "fresh",
                         "proof_json": None, "failure_reason": None}

    assert await engine.finish(pool, GENERATE, "fresh", fresh, {"proof_json": {"fresh": 1}})
    row = await pool.fetchrow("SELECT status, proof_json, attempts, lease_owner FROM submissions")
    assert dict(row) == {"status": "proof_publishing", "proof_json": {"fresh": 1}, "attempts": 0,
                         "lease_owner": None}


async def test_the_same_owner_with_an_older_attempt_is_fenced_too(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 1)
    [first] = await engine.claim(pool, GENERATE, fast_policy(lease_s=0.1), "same", 1)
    await pass_time(pool, 0.2)
    [second] = await engine.claim(pool, GENERATE, fast_policy(), "same", 1)
    assert await engine.finish(pool, GENERATE, "same", first, {"proof_json": {}}) is False
    assert await engine.finish(pool, GENERATE, "same", second, {"proof_json": {}}) is True


async def test_finish_refuses_columns_the_stage_does_not_own(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 1)
    [job] = await engine.claim(pool, GENERATE, fast_policy(), "a", 1)
    with pytest.raises(ValueError, match="cannot write"):
        await engine.finish(pool, GENERATE, "a", job, {"status": "complete"})


async def test_finish_of_a_deleted_row_is_discarded(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 1, status="proof_publishing", proof={"p": 1})
    [job] = await engine.claim(pool, PUBLISH, fast_policy(), "a", 1)
    await pool.execute("DELETE FROM submissions WHERE id = $1", job.id)
    assert await engine.finish(pool, PUBLISH, "a", job, {"proof_json": None}) is False


# ---------------------------------------------------------------- queue rule 4: heartbeat


async def test_heartbeat_extends_only_leases_still_held(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 2)
    policy = fast_policy(lease_s=60)
    kept, taken = await engine.claim(pool, GENERATE, policy, "a", 2)
    await pool.execute("UPDATE submissions SET lease_owner = 'b' WHERE id = $1", taken.id)
    before = await pool.fetchval("SELECT lease_expires_at FROM submissions WHERE id = $1", kept.id)
    alive = await engine.heartbeat(pool, GENERATE, policy, "a", [kept.fence, taken.fence])
    assert alive == {kept.id}
    after = await pool.fetchval("SELECT lease_expires_at FROM submissions WHERE id = $1", kept.id)
    assert after > before


# ---------------------------------------------------------------- queue rule 5: crash recovery


async def test_an_expired_lease_is_claimable_again_and_counts_as_an_attempt(
    pool: asyncpg.Pool,
) -> None:
    await queue_submissions(pool, 1)
    [crashed] = await engine.claim(pool, GENERATE, fast_policy(lease_s=0.1), "crashed", 1)
    assert await engine.claim(pool, GENERATE, fast_policy(), "other", 1) == []  # still leased
    await pass_time(pool, 0.2)
    [again] = await engine.claim(pool, GENERATE, fast_policy(), "other", 1)
    assert again.id == crashed.id and again.attempt == 2


async def test_a_row_that_crashed_on_its_last_attempt_is_rejected_by_the_sweep(
    pool: asyncpg.Pool,
) -> None:
    await queue_submissions(pool, 1)
    policy = fast_policy(max_attempts=1, lease_s=0.1)
    await engine.claim(pool, GENERATE, policy, "crashed", 1)
    await pass_time(pool, 0.2)
    assert await engine.claim(pool, GENERATE, policy, "other", 1) == []
    result = await engine.sweep(pool, GENERATE, policy)
    assert result.exhausted == 1
    row = await pool.fetchrow("SELECT status, failure_reason, rejected_at FROM submissions")
    assert row["status"] == "rejected" and "attempts exhausted" in row["failure_reason"]
    assert row["rejected_at"] is not None


# ---------------------------------------------------------------- queue rule 6: retries


async def test_failures_back_off_exponentially_then_reject(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 1)
    policy = fast_policy(max_attempts=3, backoff_base_s=10.0, jitter=0.5)
    windows = []
    for attempt in (1, 2):
        [job] = await engine.claim(pool, GENERATE, policy, "a", 1)
        assert job.attempt == attempt
        result = await engine.fail(pool, GENERATE, policy, "a", job, f"boom {attempt}")
        assert result is not None and not result.rejected
        delay = await pool.fetchval("SELECT extract(epoch FROM run_at - now()) FROM submissions")
        windows.append(float(delay))
        assert await engine.claim(pool, GENERATE, policy, "a", 1) == []  # waits out the backoff
        await pool.execute("UPDATE submissions SET run_at = now()")  # skip the wait
    # 10 s x 2^(n-1) x (1 + 0.5 x random()), n = attempt
    assert 9.5 <= windows[0] <= 15.5
    assert 19.5 <= windows[1] <= 30.5
    [job] = await engine.claim(pool, GENERATE, policy, "a", 1)
    assert job.attempt == 3
    result = await engine.fail(pool, GENERATE, policy, "a", job, "boom 3")
    assert result is not None and result.rejected
    row = await pool.fetchrow("SELECT status, attempts, failure_reason, failed_stage FROM submissions")
    assert dict(row) == {"status": "rejected", "attempts": 3, "failure_reason": "boom 3",
                         "failed_stage": "generate"}


async def test_backoff_is_capped(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 1)
    policy = fast_policy(backoff_base_s=1000.0)
    policy = type(policy)(**{**policy.__dict__, "backoff_max_s": 5.0})
    [job] = await engine.claim(pool, GENERATE, policy, "a", 1)
    await engine.fail(pool, GENERATE, policy, "a", job, "boom")
    delay = await pool.fetchval("SELECT extract(epoch FROM run_at - now()) FROM submissions")
    assert float(delay) <= 5.0


async def test_a_non_retryable_failure_rejects_at_once(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 1)
    [job] = await engine.claim(pool, GENERATE, fast_policy(), "a", 1)
    result = await engine.fail(pool, GENERATE, fast_policy(), "a", job, "bad bytes",
                               retryable=False)
    assert result is not None and result.rejected and job.attempt == 1


async def test_a_failure_that_is_not_the_rows_fault_gives_the_attempt_back(
    pool: asyncpg.Pool,
) -> None:
    await queue_submissions(pool, 1, status="proof_publishing", proof={"p": 1})
    policy = fast_policy(max_attempts=1)
    for _ in range(3):  # more nonce clashes than attempts, and still not rejected
        [job] = await engine.claim(pool, PUBLISH, policy, "a", 1)
        result = await engine.fail(pool, PUBLISH, policy, "a", job, "nonce clash",
                                   consume_attempt=False)
        assert result is not None and not result.rejected
    assert await pool.fetchval("SELECT attempts FROM submissions") == 0


async def test_final_publish_failure_clears_the_stored_proof(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 1, status="proof_publishing", proof={"p": 1})
    policy = fast_policy(max_attempts=2)
    for _ in range(2):
        [job] = await engine.claim(pool, PUBLISH, policy, "a", 1)
        result = await engine.fail(pool, PUBLISH, policy, "a", job, "node down")
        still_there = await pool.fetchval("SELECT proof_json FROM submissions")
        assert (still_there is None) == result.rejected
    row = await pool.fetchrow("SELECT status, proof_json FROM submissions")
    assert dict(row) == {"status": "rejected", "proof_json": None}


async def test_publish_expiry_rejects_and_clears_the_proof(pool: asyncpg.Pool) -> None:
    rows = await queue_submissions(pool, 2, status="proof_publishing", proof={"p": 1})
    old, fresh = rows
    await pool.execute(
        "UPDATE submissions SET proof_generated_at = now() - interval '25 hours', "
        "failure_reason = 'node down' WHERE id = $1", old["id"])
    policy = fast_policy(expiry_s=86400.0)
    result = await engine.sweep(pool, PUBLISH, policy)
    assert result.expired == 1
    expired = await pool.fetchrow("SELECT status, proof_json, failure_reason FROM submissions "
                                  "WHERE id = $1", old["id"])
    assert expired["status"] == "rejected" and expired["proof_json"] is None
    assert expired["failure_reason"] == (
        "expired: not published within 24 h of the proof (last error: node down)")
    assert await pool.fetchval("SELECT status FROM submissions WHERE id = $1",
                               fresh["id"]) == "proof_publishing"


async def test_expiry_leaves_a_row_being_worked_on_to_its_worker(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 1, status="proof_publishing", proof={"p": 1})
    await pool.execute("UPDATE submissions SET proof_generated_at = now() - interval '2 days'")
    [job] = await engine.claim(pool, PUBLISH, fast_policy(), "a", 1)
    assert (await engine.sweep(pool, PUBLISH, fast_policy(expiry_s=86400.0))).expired == 0
    assert await engine.finish(pool, PUBLISH, "a", job, {"proof_json": None})


# ---------------------------------------------------------------- queue rule 8: indexes


@pytest.mark.parametrize("stage, index", [
    (GENERATE, "submissions_generate_claim"),
    (PUBLISH, "submissions_publish_claim"),
    (DEPLOY, "challenges_deploy_claim"),
])
async def test_the_claim_uses_its_partial_index(pool: asyncpg.Pool, stage, index) -> None:
    if stage.table == "submissions":
        await queue_submissions(pool, 3000, status="complete")
        await queue_submissions(pool, 20, status=stage.ready_status,
                                proof={"p": 1} if stage is PUBLISH else None)
    else:
        await pool.execute(
            "INSERT INTO challenges (title, description, start_time, end_time, deployment_status) "
            "SELECT 'c' || n, 'd', now(), now() + interval '1 day', "
            "       CASE WHEN n <= 3000 THEN 'active' ELSE 'pending_deployment' END "
            "FROM generate_series(1, 3020) AS n")
    await pool.execute(f"ANALYZE {stage.table}")
    async with pool.acquire() as connection:
        # Six runs: asyncpg prepares statements, and Postgres may switch a prepared statement
        # to a generic plan after five; the literal status keeps the index usable in both.
        for _ in range(6):
            plan = await connection.fetch(
                "EXPLAIN " + sql.render("claim", stage), "x", 10, 30.0, 3)
    text = "\n".join(r[0] for r in plan)
    assert index in text, text


# ---------------------------------------------------------------- queue rule 9: release


async def test_release_hands_rows_back_at_once_with_the_attempt_refunded(pool: asyncpg.Pool) -> None:
    await queue_submissions(pool, 2)
    claimed = await engine.claim(pool, GENERATE, fast_policy(lease_s=600), "a", 2)
    assert await engine.release(pool, GENERATE, "a", [c.fence for c in claimed]) == 2
    again = await engine.claim(pool, GENERATE, fast_policy(), "b", 2)
    assert sorted(c.id for c in again) == sorted(c.id for c in claimed)
    assert all(c.attempt == 1 for c in again)


async def test_deploy_stage_uses_the_same_engine_on_challenges(pool: asyncpg.Pool) -> None:
    challenge_id = await pool.fetchval(
        "INSERT INTO challenges (title, description, start_time, end_time) VALUES "
        "('c', 'd', now(), now() + interval '1 day') RETURNING id")
    [job] = await engine.claim(pool, DEPLOY, fast_policy(), "publisher", 1)
    assert job.id == challenge_id and job.payload["title"] == "c"
    assert await engine.record_progress(pool, DEPLOY, "publisher", job, {
        "zkapp_address": "B62qz", "transaction_hash": "h", "transaction_nonce": 4})
    assert await engine.finish(pool, DEPLOY, "publisher", job, {
        "zkapp_address": "B62qz", "transaction_id": "t", "transaction_hash": "h",
        "transaction_nonce": 4})
    assert not await engine.record_progress(pool, DEPLOY, "publisher", job, {
        "transaction_hash": "late"})  # finished: the lease is gone
    row = await pool.fetchrow("SELECT deployment_status, zkapp_address, deploy_sent_at IS NOT NULL "
                              "AS sent FROM challenges")
    assert dict(row) == {"deployment_status": "deploying", "zkapp_address": "B62qz", "sent": True}
