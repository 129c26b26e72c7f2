"""Read-only views of the queue for operators (`touchgrass status`), per stage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from touchgrass import metrics
from touchgrass.db import Executor
from touchgrass.queue.engine import statement
from touchgrass.queue.stages import Stage

__all__ = ["Failure", "LeaseOwner", "StageCounts", "export_counts", "failures", "finished_since",
           "hour_ago", "lease_owners", "stage_counts"]


@dataclass(frozen=True)
class StageCounts:
    stage: str
    status: str
    waiting: int
    running: int
    retrying: int
    oldest: datetime | None


@dataclass(frozen=True)
class Failure:
    table: str
    row_id: str
    stage: str | None
    attempts: int
    reason: str | None
    failed_at: datetime
    status: str


@dataclass(frozen=True)
class LeaseOwner:
    owner: str
    stage: str
    rows: int
    lease_until: datetime


async def stage_counts(executor: Executor, stage: Stage) -> StageCounts:
    row = await executor.fetchrow(statement("stage_counts", stage))
    return StageCounts(stage.name, stage.ready_status, row["waiting"], row["running"],
                       row["retrying"], row["oldest"])


async def finished_since(executor: Executor, stage: Stage, since: datetime) -> int:
    return int(await executor.fetchval(statement("finished_since", stage), since))


async def failures(executor: Executor, stage: Stage, limit: int = 10) -> list[Failure]:
    rows = await executor.fetch(statement("recent_failures", stage), limit)
    return [
        Failure(stage.table, str(r["id"]), r["failed_stage"], r["attempts"], r["failure_reason"],
                r["failed_at"], r["status"])
        for r in rows
    ]


async def lease_owners(executor: Executor, stage: Stage) -> list[LeaseOwner]:
    rows = await executor.fetch(statement("lease_owners", stage))
    return [LeaseOwner(r["lease_owner"], stage.name, r["rows"], r["lease_until"]) for r in rows]


def hour_ago(now: datetime) -> datetime:
    return now - timedelta(hours=1)


async def export_counts(executor: Executor, stages: list[Stage]) -> None:
    """Set the queue gauges (rows by state, oldest waiting) of `stages` from the database."""
    now = datetime.now(UTC)
    for stage in stages:
        counts = await stage_counts(executor, stage)
        for state in ("waiting", "running", "retrying"):
            metrics.QUEUE_ROWS.labels(stage.name, state).set(getattr(counts, state))
        oldest = (now - counts.oldest).total_seconds() if counts.oldest else 0.0
        metrics.QUEUE_OLDEST.labels(stage.name).set(max(0.0, oldest))
