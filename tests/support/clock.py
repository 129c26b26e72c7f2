"""Time passing for the queue, without sleeping.

The queue's clock is the database's `now()` (leases, backoffs and expiries are computed in
SQL, so every process agrees on one clock). A test makes time pass for some rows by moving
the times they hold into the past, which is exactly what `now()` moving forward would do to
them, and takes no wall-clock time."""

from __future__ import annotations

from touchgrass.db import Executor

# The queue's timestamps: a lease's end and a retry's start.
_QUEUE_TIMES = ("lease_expires_at", "run_at")


async def pass_time(executor: Executor, seconds: float, *, table: str = "submissions") -> None:
    """`seconds` pass for every row of `table`, as far as the queue can tell."""
    shifted = ", ".join(f"{column} = {column} - make_interval(secs => $1)"
                        for column in _QUEUE_TIMES)
    await executor.execute(f"UPDATE {table} SET {shifted}", seconds)
