"""Runs one role process: a pool, the LISTEN connection, one worker per lane, signal handling.

Every role (generate, publish) is this plus its handlers, so shutdown, wake-ups and lease
ownership behave the same everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from touchgrass import db, logs, metrics, migrations
from touchgrass.errors import PortTaken
from touchgrass.queue import views
from touchgrass.queue.listener import Listener
from touchgrass.queue.stages import Stage, policy_for
from touchgrass.queue.worker import Handler, Worker, WorkerEvent
from touchgrass.settings import DatabaseSettings, QueueSettings

__all__ = ["Lane", "RoleControl", "new_owner_id", "run_lanes", "serve_metrics"]

log = logs.get_logger(__name__)


@dataclass(frozen=True)
class Lane:
    """One stage this process works on, and the plain function that does the work."""

    stage: Stage
    handler: Handler
    concurrency: int | None = None  # rows it works on at once; None: the role's


@dataclass
class RoleControl:
    """How a role is stopped: `stop` ends claiming (first signal), `hurry` skips the grace
    period (second signal)."""

    stop: asyncio.Event
    hurry: asyncio.Event

    @classmethod
    def new(cls) -> RoleControl:
        return cls(asyncio.Event(), asyncio.Event())

    def signal(self) -> None:
        if self.stop.is_set():
            log.warning("signal", "second signal: releasing in-flight work now")
            self.hurry.set()
        else:
            log.info("signal", "stopping: no new work; in-flight work may finish")
            self.stop.set()


def serve_metrics(port: int | None) -> None:
    """`--metrics-port` / METRICS_PORT: serve this role's /metrics (nothing when unset)."""
    if port is None:
        return
    try:
        metrics.serve(port)
    except OSError:
        raise PortTaken(f"port {port} is taken (another program listens on it); serve the "
                        "metrics on another with --metrics-port N or METRICS_PORT") from None
    log.info("metrics", "Prometheus metrics on http://0.0.0.0:%d/metrics", port)


async def _export_queue_counts(pool: asyncpg.Pool, stages: list[Stage], every_s: float,
                               stop: asyncio.Event) -> None:
    """The queue gauges, refreshed every poll while metrics are served; a database outage
    only skips a round."""
    while not stop.is_set():
        try:
            await views.export_counts(pool, stages)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.debug("metrics", "queue counts not refreshed: %s", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def new_owner_id(role: str) -> str:
    """A fresh lease owner per process start (queue rule 4): host, pid and a random suffix."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def run_lanes(
    role: str, lanes: Sequence[Lane], *, database: DatabaseSettings, queue: QueueSettings,
    concurrency: int, control: RoleControl | None = None, handle_signals: bool = True,
    on_event: Callable[[WorkerEvent], None] | None = None,
) -> None:
    """Run `lanes` until SIGTERM/SIGINT (or `control.stop`), then shut down gracefully."""
    control = control or RoleControl.new()
    owner = new_owner_id(role)
    loop = asyncio.get_running_loop()
    if handle_signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, control.signal)
    held = sum(lane.concurrency or concurrency for lane in lanes)
    pool = await db.create_pool(
        database.asyncpg_dsn, size=min(database.database_pool_size, held + 2),
        application_name=f"touchgrass-{role}",
    )
    try:
        await migrations.require_current(pool, database.database_url)
    except BaseException:
        await pool.close()
        raise
    listener = Listener(database.asyncpg_dsn, application_name=f"touchgrass-{role}-listen")
    workers = [
        Worker(
            pool, lane.stage, policy_for(lane.stage, queue), lane.handler, owner=owner,
            concurrency=lane.concurrency or concurrency, poll_interval_s=queue.poll_interval_s,
            shutdown_grace_s=queue.shutdown_grace_s, on_event=on_event,
        )
        for lane in lanes
    ]
    for worker in workers:
        listener.subscribe(worker.stage.channel, worker.wake)
    log.info("start", "%s started as %s", role, owner)
    try:
        async with asyncio.TaskGroup() as group:
            listener_task = group.create_task(listener.run(control.stop))
            worker_tasks = [group.create_task(w.run(control.stop, control.hurry)) for w in workers]
            if metrics.serving():
                group.create_task(_export_queue_counts(
                    pool, [lane.stage for lane in lanes], queue.poll_interval_s, control.stop))
            await asyncio.gather(*worker_tasks)
            await listener_task
    finally:
        await pool.close()
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        log.info("stop", "%s stopped", role)
