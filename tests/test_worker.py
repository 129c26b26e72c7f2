"""The claim loop on real PostgreSQL: outcomes, heartbeats, wake-ups, shutdown (queue rules 2, 4, 7, 9)."""

from __future__ import annotations

import asyncio
import statistics
import time

import asyncpg
import pytest

from tests.conftest import fast_policy
from tests.support.factories import SIGNER, queue_submissions
from tests.support.fakes import CountingProver, FlakyPublisher
from touchgrass.errors import PermanentJobError
from touchgrass.images import S3Storage
from touchgrass.queue import engine
from touchgrass.queue.engine import Claimed
from touchgrass.queue.listener import Listener
from touchgrass.queue.outcomes import Done, Outcome, Reject, Retry
from touchgrass.queue.stages import GENERATE, PUBLISH
from touchgrass.roles.generate import make_handler
from touchgrass.roles.publish import make_publish_handler

pytestmark = pytest.mark.anyio


async def done_handler(job: Claimed) -> Outcome:
    return Done({"proof_json": {"for": job.payload["sha256_hash"]}})


async def test_done_moves_the_row_and_stores_the_result(pool, run_worker) -> None:
    rows = await queue_submissions(pool, 3)
    handle = await run_worker(GENERATE, done_handler, concurrency=2)
    events = await handle.wait_finished(3)
    assert all(e.written for e in events)
    stored = await pool.fetch("SELECT sha256_hash, status, proof_json, attempts, lease_owner, "
                              "proof_generated_at FROM submissions")
    for row in stored:
        assert row["status"] == "proof_publishing" and row["attempts"] == 0
        assert row["proof_json"] == {"for": row["sha256_hash"]}
        assert row["lease_owner"] is None and row["proof_generated_at"] is not None
    assert {r["sha256_hash"] for r in stored} == {r["sha256_hash"] for r in rows}


async def test_exceptions_become_retries_and_permanent_errors_rejects(pool, run_worker) -> None:
    rows = await queue_submissions(pool, 2)
    retry_sha, reject_sha = rows[0]["sha256_hash"], rows[1]["sha256_hash"]

    async def handler(job: Claimed) -> Outcome:
        if job.payload["sha256_hash"] == retry_sha:
            raise ConnectionError("flaky")
        raise PermanentJobError("signature does not verify")

    handle = await run_worker(GENERATE, handler, policy=fast_policy(backoff_base_s=60.0))
    await handle.wait_finished(2)
    retry = await pool.fetchrow("SELECT status, failure_reason, run_at > now() AS later "
                                "FROM submissions WHERE sha256_hash = $1", retry_sha)
    assert dict(retry) == {"status": "proof_generation", "failure_reason": "ConnectionError: flaky",
                           "later": True}
    reject = await pool.fetchrow("SELECT status, failure_reason FROM submissions "
                                 "WHERE sha256_hash = $1", reject_sha)
    assert dict(reject) == {"status": "rejected", "failure_reason": "signature does not verify"}


# ---------------------------------------------------------------- queue rule 2


async def test_no_transaction_stays_open_while_a_handler_works(pool, run_worker, database_url):
    """Both handlers are mid-work (claims committed, no finish started): no session of this
    database may be inside a transaction."""
    await queue_submissions(pool, 2)
    working = asyncio.Semaphore(0)
    release = asyncio.Event()

    async def handler(job: Claimed) -> Outcome:
        working.release()
        await release.wait()
        return Done({"proof_json": {}})

    handle = await run_worker(GENERATE, handler, concurrency=2)
    await asyncio.wait_for(working.acquire(), 5)
    await asyncio.wait_for(working.acquire(), 5)
    observer = await asyncpg.connect(database_url)
    try:
        open_transactions = await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL")
    finally:
        await observer.close()
    release.set()
    await handle.wait_finished(2)
    assert open_transactions == 0


# ---------------------------------------------------------------- queue rule 4


async def test_heartbeat_keeps_a_long_job_leased(pool, run_worker) -> None:
    await queue_submissions(pool, 1)
    policy = fast_policy(lease_s=0.6)  # heartbeat every 0.2 s; the job takes 5 leases

    async def slow(job: Claimed) -> Outcome:
        await asyncio.sleep(3.0)
        return Done({"proof_json": {}})

    handle = await run_worker(GENERATE, slow, policy=policy)
    await handle.next_event("claimed")
    for _ in range(5):
        await asyncio.sleep(0.5)
        assert await engine.claim(pool, GENERATE, policy, "thief", 1) == []
    [event] = await handle.wait_finished(1)
    assert event.written


async def test_a_lost_lease_cancels_the_work(pool, run_worker) -> None:
    await queue_submissions(pool, 1)
    cancelled = asyncio.Event()

    async def slow(job: Claimed) -> Outcome:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Done({"proof_json": {}})

    handle = await run_worker(GENERATE, slow, policy=fast_policy(lease_s=0.3))
    await handle.next_event("claimed")
    await pool.execute("UPDATE submissions SET lease_owner = 'someone-else'")
    await handle.next_event("lease_lost", timeout=5)
    assert cancelled.is_set()
    assert await pool.fetchval("SELECT status FROM submissions") == "proof_generation"


# ---------------------------------------------------------------- queue rule 7


async def test_notify_wakes_a_worker_well_under_the_poll_interval(pool, run_worker, database_url):
    listener = Listener(database_url)
    stop = asyncio.Event()
    handle = await run_worker(GENERATE, done_handler, poll_interval_s=30.0)
    listener.subscribe(GENERATE.channel, handle.worker.wake)
    listening = asyncio.create_task(listener.run(stop))
    await asyncio.wait_for(listener.listening.wait(), 5)
    latencies = []
    try:
        for _ in range(15):
            started = time.perf_counter()
            await queue_submissions(pool, 1, notify=True)
            await handle.next_event("claimed", timeout=5)
            latencies.append(time.perf_counter() - started)
            await handle.wait_finished(1)
    finally:
        stop.set()
        await listening
    median = statistics.median(latencies)
    print(f"NOTIFY wake-up to claim: median {median * 1000:.1f} ms over {len(latencies)}")
    assert median < 0.5, latencies  # the poll interval is 30 s


async def test_listener_re_listens_after_its_connection_is_killed(pool, database_url) -> None:
    woken = asyncio.Event()
    listener = Listener(database_url)
    listener.subscribe("touchgrass_generate", woken.set)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listener.listening.wait(), 5)
        first_pid = listener.backend_pid
        await pool.execute("SELECT pg_terminate_backend($1)", first_pid)
        deadline = time.monotonic() + 10
        while listener.connects < 2 or not listener.listening.is_set():
            assert time.monotonic() < deadline, "listener did not reconnect"
            await asyncio.sleep(0.05)
        assert listener.backend_pid != first_pid
        woken.clear()
        await pool.execute("SELECT pg_notify('touchgrass_generate', '')")
        await asyncio.wait_for(woken.wait(), 2)
    finally:
        stop.set()
        await task


async def test_the_poll_backstop_finds_rows_nobody_announced(pool, run_worker) -> None:
    handle = await run_worker(GENERATE, done_handler, poll_interval_s=0.3)
    await asyncio.sleep(0.1)
    await queue_submissions(pool, 1, notify=False)
    [event] = await handle.wait_finished(1, timeout=5)
    assert event.written


async def test_a_full_batch_drains_without_waiting_for_the_poll(pool, run_worker) -> None:
    await queue_submissions(pool, 12)
    handle = await run_worker(GENERATE, done_handler, concurrency=3, poll_interval_s=60.0)
    started = time.monotonic()
    await handle.wait_finished(12, timeout=10)
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- queue rule 9


async def test_shutdown_lets_in_flight_work_finish_within_the_grace(pool, run_worker) -> None:
    await queue_submissions(pool, 1)

    async def short(job: Claimed) -> Outcome:
        await asyncio.sleep(0.5)
        return Done({"proof_json": {}})

    handle = await run_worker(GENERATE, short, shutdown_grace_s=5.0)
    await handle.next_event("claimed")
    handle.stop.set()
    await asyncio.wait_for(handle.task, 5)
    assert await pool.fetchval("SELECT status FROM submissions") == "proof_publishing"


async def test_shutdown_releases_what_did_not_finish_in_the_grace(pool, run_worker) -> None:
    await queue_submissions(pool, 2)

    async def stuck(job: Claimed) -> Outcome:
        await asyncio.sleep(60)
        return Done({"proof_json": {}})

    handle = await run_worker(GENERATE, stuck, concurrency=2, shutdown_grace_s=0.3,
                              policy=fast_policy(lease_s=600))
    await handle.next_event("claimed")
    handle.stop.set()
    await asyncio.wait_for(handle.task, 5)
    rows = await pool.fetch("SELECT lease_owner, lease_expires_at, attempts FROM submissions")
    assert [dict(r) for r in rows] == [{"lease_owner": None, "lease_expires_at": None,
                                        "attempts": 0}] * 2
    # claimable at once by another process, not after the 10 minute lease
    assert len(await engine.claim(pool, GENERATE, fast_policy(), "next", 2)) == 2


async def test_a_second_signal_skips_the_grace(pool, run_worker) -> None:
    await queue_submissions(pool, 1)

    async def stuck(job: Claimed) -> Outcome:
        await asyncio.sleep(60)
        return Done({"proof_json": {}})

    handle = await run_worker(GENERATE, stuck, shutdown_grace_s=60.0)
    await handle.next_event("claimed")
    handle.stop.set()
    await asyncio.sleep(0.2)
    handle.hurry.set()
    await asyncio.wait_for(handle.task, 5)
    assert await pool.fetchval("SELECT lease_owner FROM submissions") is None


# ---------------------------------------------------------------- the stages


async def test_generate_rejects_bytes_that_do_not_match_the_hash(pool, run_worker, storage):
    [row] = await queue_submissions(pool, 1, storage=storage)
    await storage.put(f"images/{row['sha256_hash']}", b"tampered", "image/png")
    prover = CountingProver()
    handle = await run_worker(GENERATE, make_handler(storage, prover, SIGNER))
    [event] = await handle.wait_finished(1)
    assert isinstance(event.outcome, Reject) and "does not match its sha256" in event.outcome.reason
    assert prover.calls == {}
    assert await pool.fetchval("SELECT status FROM submissions") == "rejected"


async def test_generate_rejects_an_image_missing_from_storage(pool, run_worker, storage):
    await queue_submissions(pool, 1)  # nothing stored
    handle = await run_worker(GENERATE, make_handler(storage, CountingProver(), SIGNER))
    [event] = await handle.wait_finished(1)
    assert isinstance(event.outcome, Reject) and "missing from storage" in event.outcome.reason


async def test_a_storage_outage_waits_without_using_an_attempt(pool, run_worker) -> None:
    """As for the database: S3 down is not the photo's fault, and a long outage must not
    reject every photo it meets (with one attempt left, it was rejected)."""
    await queue_submissions(pool, 1)
    server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()  # nothing listens there now: S3 is down
    down = S3Storage(f"127.0.0.1:{port}", "k", "s", "touchgrass", timeout_s=1.0)
    try:
        handle = await run_worker(GENERATE, make_handler(down, CountingProver(), SIGNER),
                                  policy=fast_policy(max_attempts=1, backoff_base_s=60.0))
        [event] = await handle.wait_finished(1, timeout=20)
    finally:
        await down.close()
    assert isinstance(event.outcome, Retry) and not event.outcome.consume_attempt
    assert "storage: S3 at" in event.outcome.reason
    row = await pool.fetchrow("SELECT status, attempts FROM submissions")
    assert (row["status"], row["attempts"]) == ("proof_generation", 0)


async def test_a_publish_failure_never_calls_the_prover_again(pool, run_worker, storage):
    """Generate once, then publish fails twice and succeeds: one proof, three sends."""
    [row] = await queue_submissions(pool, 1, storage=storage)
    prover = CountingProver()
    publisher = FlakyPublisher(fail_times=2)
    generate = await run_worker(GENERATE, make_handler(storage, prover, SIGNER))
    publish = await run_worker(PUBLISH, make_publish_handler(publisher, pool),
                               policy=fast_policy(max_attempts=3), poll_interval_s=0.2)
    await generate.wait_finished(1)
    events = await publish.wait_finished(3, timeout=15)
    assert [type(e.outcome) for e in events] == [Retry, Retry, Done]
    assert prover.calls[row["sha256_hash"]] == 1
    assert publisher.calls[row["sha256_hash"]] == 3
    final = await pool.fetchrow("SELECT status, proof_json, transaction_id, chain_status, "
                                "token_owner_address FROM submissions")
    assert final["status"] == "complete" and final["proof_json"] is None
    assert final["transaction_id"].startswith("tx-") and final["chain_status"] == "pending"
    assert final["token_owner_address"] is None  # receipts are actions now: no account


async def test_generate_success_notifies_the_publish_stage(pool, database_url, storage,
                                                           run_worker) -> None:
    await queue_submissions(pool, 1, storage=storage)
    woken = asyncio.Event()
    listener = Listener(database_url)
    listener.subscribe(PUBLISH.channel, woken.set)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    await asyncio.wait_for(listener.listening.wait(), 5)
    woken.clear()
    try:
        await run_worker(GENERATE, make_handler(storage, CountingProver(), SIGNER))
        await asyncio.wait_for(woken.wait(), 5)
    finally:
        stop.set()
        await task


async def test_a_hung_handler_times_out_as_a_failed_attempt(pool, run_worker) -> None:
    await queue_submissions(pool, 1)

    async def hung(job: Claimed) -> Outcome:
        await asyncio.sleep(3600)
        return Done({"proof_json": {}})

    handle = await run_worker(GENERATE, hung, policy=fast_policy(timeout_s=0.3,
                                                                 backoff_base_s=60.0))
    [event] = await handle.wait_finished(1, timeout=5)
    assert isinstance(event.outcome, Retry) and event.outcome.reason == "timed out after 0.3 s"
    row = await pool.fetchrow("SELECT status, attempts, failure_reason FROM submissions")
    assert dict(row) == {"status": "proof_generation", "attempts": 1,
                         "failure_reason": "timed out after 0.3 s"}
