"""The one claim loop: fill free slots with claimed rows, run the stage handler, write outcomes.

The loop waits for whichever comes first: a NOTIFY (via `wake`), a slot freeing up while
more rows are known to be ready, the jittered poll timer, or stop. Handlers never touch the
row; they return an outcome and only this loop writes it, fenced by the lease (queue rule 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from touchgrass import logs, metrics
from touchgrass.errors import PermanentJobError
from touchgrass.queue import engine
from touchgrass.queue.engine import Claimed
from touchgrass.queue.outcomes import Done, Outcome, Reject, Retry
from touchgrass.queue.stages import Policy, Stage

__all__ = ["Handler", "Worker", "WorkerEvent"]

log = logs.get_logger(__name__)

Handler = Callable[[Claimed], Awaitable[Outcome]]

# Errors that mean "the database is unreachable right now", as opposed to a bad statement.
_TRANSIENT = (OSError, asyncio.TimeoutError, asyncpg.InterfaceError,
              asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError)


@dataclass(frozen=True)
class WorkerEvent:
    """What the loop did, for tests and metrics: `claimed`, `finished`, `lease_lost`, `released`."""

    kind: str
    row_id: UUID | None = None
    outcome: Outcome | None = None
    written: bool = False


@dataclass
class _Job:
    claimed: Claimed
    task: asyncio.Task[None]
    lost: bool = False  # the heartbeat found the lease taken over: discard the result
    recording: bool = False  # the handler is done; its outcome is being written


class Worker:
    """Runs one stage with up to `concurrency` rows in flight."""

    def __init__(
        self, pool: asyncpg.Pool, stage: Stage, policy: Policy, handler: Handler, *,
        owner: str, concurrency: int = 1, poll_interval_s: float = 5.0,
        shutdown_grace_s: float = 30.0, on_event: Callable[[WorkerEvent], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.pool = pool
        self.stage = stage
        self.policy = policy
        self.handler = handler
        self.owner = owner
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.shutdown_grace_s = shutdown_grace_s
        self._on_event = on_event
        self._inflight: dict[UUID, _Job] = {}
        self._kick = asyncio.Event()
        self._ready_hint = True  # at start, assume there is work
        self._last_sweep = 0.0

    # -- wake-ups -------------------------------------------------------------------------

    def wake(self) -> None:
        """A NOTIFY arrived (or the listener reconnected): rows may be ready."""
        self._ready_hint = True
        self._kick.set()

    def _emit(self, kind: str, **data: object) -> None:
        if self._on_event is not None:
            self._on_event(WorkerEvent(kind, **data))  # type: ignore[arg-type]

    def _poll_delay(self) -> float:
        return self.poll_interval_s * random.uniform(0.8, 1.2)

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, hurry: asyncio.Event | None = None) -> None:
        """Work until `stop`; then let in-flight rows finish for the grace period (cut short by
        `hurry`, a second signal) and release the rest (queue rule 9)."""
        heartbeats = asyncio.create_task(self._heartbeat_loop(), name=f"{self.stage.name}-heartbeat")
        stopper = asyncio.create_task(self._kick_on(stop))
        log.info("start", "%s worker started (concurrency %d)", self.stage.name, self.concurrency,
                 owner=self.owner)
        try:
            while not stop.is_set():
                await self._sweep_if_due()
                await self._claim_into_free_slots()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), self._poll_delay())
                self._kick.clear()
        finally:
            stopper.cancel()
            await self._shut_down(hurry)
            heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeats
            log.info("stop", "%s worker stopped", self.stage.name, owner=self.owner)

    async def _kick_on(self, event: asyncio.Event) -> None:
        await event.wait()
        self._kick.set()

    async def _claim_into_free_slots(self) -> None:
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return
        try:
            claimed = await engine.claim(self.pool, self.stage, self.policy, self.owner, free)
        except _TRANSIENT as error:
            log.warning("claim", "claim failed, database unreachable (%s)", type(error).__name__)
            return
        # Queue rule 7, drain: a full batch means more may be waiting, so a freed slot claims at
        # once instead of waiting for the next poll.
        self._ready_hint = len(claimed) == free
        if claimed:
            self._emit("claimed")
            log.debug("claim", "claimed %d %s row(s)", len(claimed), self.stage.name)
        for row in claimed:
            row = dataclasses.replace(row, progress=self._recorder(row))
            task = asyncio.create_task(self._run_job(row), name=f"{self.stage.name}-{row.id}")
            self._inflight[row.id] = _Job(row, task)

    def _recorder(self, row: Claimed) -> Callable[[Mapping[str, Any]], Awaitable[bool]]:
        async def record(fields: Mapping[str, Any]) -> bool:
            return await engine.record_progress(self.pool, self.stage, self.owner, row, fields)

        return record

    async def _sweep_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < self.poll_interval_s:
            return
        self._last_sweep = now
        try:
            result = await engine.sweep(self.pool, self.stage, self.policy)
        except _TRANSIENT:
            return
        if result:
            log.warning("sweep", "rejected %d exhausted and %d expired %s row(s)",
                        result.exhausted, result.expired, self.stage.name)

    # -- one row --------------------------------------------------------------------------

    async def _run_job(self, row: Claimed) -> None:
        job_fields = {
            "sha256": row.payload.get("sha256_hash"),
            "correlation_id": row.payload.get("correlation_id"),
            "row_id": str(row.id),
            "attempt": row.attempt,
        }
        started = time.monotonic()
        try:
            with logs.bind(**job_fields):
                try:
                    outcome = await asyncio.wait_for(self.handler(row), self.policy.timeout_s)
                except TimeoutError:
                    # A hung prover or node would otherwise hold the row for ever: the
                    # heartbeat keeps its lease alive.
                    log.warning("timeout", "%s timed out after %.0f s", self.stage.name,
                                self.policy.timeout_s)
                    outcome = Retry(f"timed out after {self.policy.timeout_s:g} s")
                except asyncio.CancelledError:
                    job = self._inflight.get(row.id)
                    if job is not None and job.lost:
                        log.warning("lease_lost", "lease lost while working; result discarded")
                        self._count("lease_lost", "lease", time.monotonic() - started)
                        self._emit("lease_lost", row_id=row.id)
                        return
                    raise
                except PermanentJobError as error:
                    outcome = Reject(str(error))
                except Exception as error:  # any other failure is retryable by design
                    log.warning("fail", "%s failed: %s", self.stage.name, error, exc_info=True)
                    outcome = Retry(f"{type(error).__name__}: {error}")
                job = self._inflight.get(row.id)
                if job is not None:
                    job.recording = True
                try:
                    written = await self._record(row, outcome, time.monotonic() - started)
                except Exception:  # noqa: BLE001 - the lease will expire and the row retry
                    log.error("record", "could not record the outcome; the row will be "
                              "retried after its lease expires", exc_info=True)
                    written = False
                self._emit("finished", row_id=row.id, outcome=outcome, written=written)
        finally:
            self._inflight.pop(row.id, None)
            if self._ready_hint:
                self._kick.set()

    async def _record(self, row: Claimed, outcome: Outcome, elapsed_s: float) -> bool:
        """Write the outcome, retrying while the database is unreachable; False if fenced out."""
        for delay in (0.5, 1.0, 2.0, 4.0, None):
            try:
                return await self._write(row, outcome, elapsed_s)
            except _TRANSIENT as error:
                if delay is None:
                    log.error("record", "could not record the outcome (%s); the row will be "
                              "retried after its lease expires", type(error).__name__)
                    return False
                await asyncio.sleep(delay)
            except asyncpg.PostgresError as error:
                if isinstance(outcome, Done):  # e.g. a result the schema refuses: retry later
                    outcome = Retry(f"could not store the result: {error}")
                    continue
                raise
        return False

    def _count(self, outcome: str, reason: str | None, elapsed_s: float) -> None:
        metrics.STAGE_OUTCOMES.labels(self.stage.name, outcome, metrics.reason_class(reason)).inc()
        metrics.STAGE_SECONDS.labels(self.stage.name, outcome).observe(elapsed_s)

    async def _write(self, row: Claimed, outcome: Outcome, elapsed_s: float) -> bool:
        if isinstance(outcome, Done):
            written = await engine.finish(self.pool, self.stage, self.owner, row, outcome.fields)
            if written:
                log.info("done", "%s done in %.2f s", self.stage.name, elapsed_s,
                         next_status=self.stage.done_status)
                self._count("done", None, elapsed_s)
        else:
            result = await engine.fail(
                self.pool, self.stage, self.policy, self.owner, row, outcome.reason,
                retryable=isinstance(outcome, Retry),
                consume_attempt=outcome.consume_attempt if isinstance(outcome, Retry) else True,
                after_s=outcome.after_s if isinstance(outcome, Retry) else None,
            )
            written = result is not None
            if result is not None and result.rejected:
                log.warning("reject", "%s rejected: %s", self.stage.name, outcome.reason)
                self._count("reject", outcome.reason, elapsed_s)
            elif result is not None:
                log.info("retry", "%s will retry at %s: %s", self.stage.name,
                         result.run_at.isoformat(), outcome.reason)
                self._count("retry", outcome.reason, elapsed_s)
        if not written:
            log.warning("fenced", "lease lost before the outcome was written; result discarded")
            self._count("lease_lost", "lease", elapsed_s)
        return written

    # -- leases ---------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.policy.heartbeat_s)
            held = [job.claimed.fence for job in self._inflight.values()]
            if not held:
                continue
            try:
                kept = await engine.heartbeat(self.pool, self.stage, self.policy, self.owner, held)
            except _TRANSIENT as error:
                log.warning("heartbeat", "heartbeat failed (%s)", type(error).__name__)
                continue
            for row_id, _attempt in held:
                job = self._inflight.get(row_id)
                if row_id not in kept and job is not None and not job.recording:
                    job.lost = True  # queue rule 4: a lost lease cancels the work
                    job.task.cancel()

    async def _shut_down(self, hurry: asyncio.Event | None) -> None:
        jobs = list(self._inflight.values())
        if not jobs:
            return
        log.info("drain", "waiting up to %.0f s for %d in-flight %s row(s)",
                 self.shutdown_grace_s, len(jobs), self.stage.name)
        hurry_task = asyncio.create_task(hurry.wait()) if hurry is not None else None
        deadline = time.monotonic() + self.shutdown_grace_s
        pending = {job.task for job in jobs}
        while pending and time.monotonic() < deadline and not (hurry and hurry.is_set()):
            _done, _ = await asyncio.wait(
                [*pending, *([hurry_task] if hurry_task else [])],
                timeout=max(0.0, deadline - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            pending = {task for task in pending if not task.done()}
        if hurry_task is not None:
            hurry_task.cancel()
        unfinished = [job for job in jobs if not job.task.done() and not job.recording]
        for job in unfinished:
            job.task.cancel()
        await asyncio.gather(*(job.task for job in jobs), return_exceptions=True)
        held = [job.claimed.fence for job in unfinished if not job.lost]
        if held:
            try:
                released = await engine.release(self.pool, self.stage, self.owner, held)
            except _TRANSIENT:
                released = 0  # the leases will simply expire
            log.info("release", "released %d unfinished %s row(s)", released, self.stage.name)
            self._emit("released")
