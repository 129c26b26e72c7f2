"""Wake-ups: one dedicated connection LISTENs on every stage channel of the process (queue rule 7).

Notifications are hints, not messages: one sent while the connection is down is simply lost,
so after every (re)connect all subscribers are woken once, and the workers' poll backstop
covers the rest (delayed retries have no event at all).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg

from touchgrass import db, logs
from touchgrass.errors import DatabaseUnavailable

__all__ = ["Listener"]

log = logs.get_logger(__name__)


class Listener:
    """Calls each channel's subscribers on NOTIFY; reconnects and re-LISTENs on its own."""

    def __init__(
        self, dsn: str, *, application_name: str = "touchgrass-listener",
        reconnect_max_s: float = 10.0, keepalive_s: float = 15.0,
    ) -> None:
        self._dsn = dsn
        self._application_name = application_name
        self._subscribers: dict[str, list[Callable[[], None]]] = {}
        self._reconnect_max_s = reconnect_max_s
        self._keepalive_s = keepalive_s
        self.connects = 0  # successful (re)connects, for operators and tests
        self.listening = asyncio.Event()  # set while LISTENs are active
        self.backend_pid: int | None = None

    def subscribe(self, channel: str, callback: Callable[[], None]) -> None:
        self._subscribers.setdefault(channel, []).append(callback)

    def _wake(self, channel: str) -> None:
        for callback in self._subscribers.get(channel, ()):
            callback()

    def _on_notify(self, _connection: object, _pid: int, channel: str, _payload: str) -> None:
        self._wake(channel)

    async def run(self, stop: asyncio.Event) -> None:
        """LISTEN until `stop`, reconnecting with capped exponential backoff."""
        delay = 0.2
        while not stop.is_set():
            try:
                connection = await db.connect(self._dsn, application_name=self._application_name)
            except (TimeoutError, OSError, asyncpg.PostgresError, DatabaseUnavailable) as error:
                log.warning("listen", "cannot connect for LISTEN (%s); retrying in %.1f s",
                            error if isinstance(error, DatabaseUnavailable)
                            else type(error).__name__, delay)
                await _wait(stop, delay)
                delay = min(delay * 2, self._reconnect_max_s)
                continue
            delay = 0.2
            try:
                await self._listen(connection, stop)
            finally:
                self.listening.clear()
                self.backend_pid = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 2)

    async def _listen(self, connection: asyncpg.Connection, stop: asyncio.Event) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        try:
            for channel in self._subscribers:
                await connection.add_listener(channel, self._on_notify)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return
        self.connects += 1
        self.backend_pid = connection.get_server_pid()
        self.listening.set()
        if self.connects > 1:
            log.info("listen", "LISTEN restored after a reconnect")
        # Anything NOTIFYed while we were not listening is gone: look once now.
        for channel in self._subscribers:
            self._wake(channel)
        while not stop.is_set() and not lost.is_set():
            await _wait_any(stop, lost, timeout=self._keepalive_s)
            if stop.is_set() or lost.is_set():
                break
            try:  # a half-open TCP connection never reports itself: ask
                await connection.fetchval("SELECT 1", timeout=5)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                break
        if lost.is_set() and not stop.is_set():
            log.warning("listen", "LISTEN connection lost; reconnecting")


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


async def _wait_any(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
