"""One function per queue transition, shared by every stage (generate, publish, deploy).

Each function is one short statement (queue rule 2), fenced by the lease owner and attempt where it
touches a leased row (queue rule 3). Callers pass a pool or a connection; nothing here keeps state.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from touchgrass import db
from touchgrass.db import Executor
from touchgrass.queue import sql
from touchgrass.queue.stages import Policy, Stage, channel

__all__ = [
    "Claimed",
    "FailResult",
    "SweepResult",
    "claim",
    "fail",
    "finish",
    "heartbeat",
    "record_progress",
    "release",
    "requeue",
    "statement",
    "sweep",
]



@dataclass(frozen=True)
class Claimed:
    """A leased row: the fence (`id`, `attempt`) and what the handler needs (`payload`).

    `progress` (set by the worker) stores progress columns on the row, fenced by the lease;
    it returns False when the lease was lost, and the handler must then stop.
    """

    id: UUID
    attempt: int
    payload: Mapping[str, Any]
    progress: Callable[[Mapping[str, Any]], Awaitable[bool]] | None = None

    @property
    def fence(self) -> tuple[UUID, int]:
        return (self.id, self.attempt)


@dataclass(frozen=True)
class FailResult:
    """Where a failure left the row: back off until `run_at`, or `rejected`."""

    status: str
    run_at: datetime
    rejected: bool


@dataclass(frozen=True)
class SweepResult:
    exhausted: int
    expired: int

    def __bool__(self) -> bool:
        return bool(self.exhausted or self.expired)


@functools.cache
def statement(name: str, stage: Stage, result_columns: tuple[str, ...] = ()) -> str:
    assignments = "".join(
        f",\n    {column} = ${index}" for index, column in enumerate(result_columns, start=4)
    )
    return sql.render(name, stage, assignments=assignments)


def _fences(held: Iterable[tuple[UUID, int]]) -> tuple[list[UUID], list[int]]:
    ids, attempts = [], []
    for row_id, attempt in held:
        ids.append(row_id)
        attempts.append(attempt)
    return ids, attempts


async def claim(
    executor: Executor, stage: Stage, policy: Policy, owner: str, limit: int,
    *, form: str = "claim",
) -> list[Claimed]:
    """Lease up to `limit` ready rows to `owner` (queue rule 1); `form` exists for the benchmark."""
    if limit <= 0:
        return []
    rows = await executor.fetch(
        statement(form, stage), owner, limit, policy.lease_s, policy.max_attempts
    )
    return [
        Claimed(
            id=row["id"],
            attempt=row["attempts"],
            payload={column: row[column] for column in stage.payload_columns},
        )
        for row in rows
    ]


async def heartbeat(
    executor: Executor, stage: Stage, policy: Policy, owner: str,
    held: Sequence[tuple[UUID, int]],
) -> set[UUID]:
    """Extend the leases still ours (queue rule 4); the ids missing from the answer were lost."""
    if not held:
        return set()
    ids, attempts = _fences(held)
    rows = await executor.fetch(statement("heartbeat", stage), owner, policy.lease_s, ids, attempts)
    return {row["id"] for row in rows}


async def finish(
    pool: asyncpg.Pool, stage: Stage, owner: str, job: Claimed, fields: Mapping[str, Any],
) -> bool:
    """Move a leased row to the stage's done status and wake the next stage (queue rules 3, 7).

    False means the lease was lost (or the row deleted): the caller must discard its result.
    """
    unknown = set(fields) - stage.result_columns
    if unknown:
        raise ValueError(f"stage {stage.name} cannot write {sorted(unknown)}")
    columns = tuple(sorted(fields))
    return await db.update_and_notify(
        pool, statement("finish", stage, columns), job.id, owner, job.attempt,
        *(fields[column] for column in columns),
        # Delivered when the update commits: the next stage never sees the row early.
        channel=channel(stage.next_stage) if stage.next_stage else None,
    )


async def record_progress(
    executor: Executor, stage: Stage, owner: str, job: Claimed, fields: Mapping[str, Any],
) -> bool:
    """Store progress on a leased row before an irreversible step; False: lease lost."""
    unknown = set(fields) - stage.progress_columns
    if unknown:
        raise ValueError(f"stage {stage.name} cannot record {sorted(unknown)}")
    columns = tuple(sorted(fields))
    status = await executor.execute(statement("record_progress", stage, columns), job.id, owner,
                                    job.attempt, *(fields[column] for column in columns))
    return bool(status == "UPDATE 1")


async def fail(
    executor: Executor, stage: Stage, policy: Policy, owner: str, job: Claimed, reason: str,
    *, retryable: bool = True, consume_attempt: bool = True, after_s: float | None = None,
) -> FailResult | None:
    """Back off (or wait `after_s`, when the other side said so) or reject, in one fenced
    statement (queue rule 6). None: the lease was lost."""
    row = await executor.fetchrow(
        statement("fail", stage),
        job.id, owner, job.attempt, policy.max_attempts, policy.backoff_base_s,
        not retryable, consume_attempt, policy.jitter, policy.backoff_max_s, reason[:2000],
        after_s,
    )
    if row is None:
        return None
    return FailResult(
        status=row["status"], run_at=row["run_at"], rejected=row["status"] == stage.rejected_status
    )


async def release(
    executor: Executor, stage: Stage, owner: str, held: Sequence[tuple[UUID, int]],
) -> int:
    """Hand unfinished rows back at once, attempts refunded (queue rule 9)."""
    if not held:
        return 0
    ids, attempts = _fences(held)
    rows = await executor.fetch(statement("release", stage), owner, ids, attempts)
    return len(rows)


@functools.cache
def _requeue_statement(stage: Stage, also: str, where: str) -> str:
    return sql.render("requeue", stage, assignments=f",\n        {also.strip()}" if also.strip()
                      else "", condition=where)


async def requeue(
    executor: Executor, stage: Stage, row_id: UUID, *, reason: str | None, by: str,
    also: str = "", where: str = "TRUE", args: Sequence[Any] = (),
) -> bool:
    """Put a row (back) into `stage` from outside it, ready now with a fresh budget, and wake
    the stage's workers when the transaction commits. The queue's own columns are written
    here only; the caller's table module passes its own columns (`also`, SQL assignments)
    and its fence on the row (`where`), both with parameters from $4 on (`args`). False:
    the row did not match (it moved on meanwhile)."""
    rows = await executor.fetch(_requeue_statement(stage, also, where), row_id, reason, by,
                                *args)
    return bool(rows)


async def sweep(executor: Executor, stage: Stage, policy: Policy) -> SweepResult:
    """Reject rows nobody may claim any more: attempts used up, or past the stage's expiry."""
    exhausted = await executor.fetch(statement("reject_exhausted", stage), policy.max_attempts)
    expired: list[Any] = []
    if stage.expires_after_column and policy.expiry_s:
        expired = await executor.fetch(
            statement("expire", stage), policy.expiry_s, _duration(policy.expiry_s)
        )
    return SweepResult(exhausted=len(exhausted), expired=len(expired))


def _duration(seconds: float) -> str:
    """86400 -> '24 h', 90 -> '90 s': for failure reasons people read."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
