"""Building and serving the API application."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from touchgrass import db, images, logs, metrics, migrations
from touchgrass.api.context import CONTEXT, ApiContext
from touchgrass.api.handlers import meta
from touchgrass.api.middleware import decorate_response, edge, errors
from touchgrass.api.routes import add_routes
from touchgrass.api.server import ApiRunner
from touchgrass.errors import PortTaken, StorageError
from touchgrass.images import open_storage
from touchgrass.settings import ApiSettings, DatabaseSettings, SignerSettings, StorageSettings

__all__ = ["build_app", "open_context", "serve"]

log = logs.get_logger("touchgrass.api")

JSON_BODY_LIMIT = 1024 * 1024  # multipart uploads stream past this; JSON bodies may not
# A request's statements are short; one that takes longer, or a pool that stays empty this
# long, means the database is in trouble: the client gets a 503 instead of a hung request.
STATEMENT_TIMEOUT_S = 10.0
ACQUIRE_TIMEOUT_S = 5.0


def build_app(ctx: ApiContext) -> web.Application:
    app = web.Application(middlewares=[edge, errors], client_max_size=JSON_BODY_LIMIT)
    app[CONTEXT] = ctx
    add_routes(app)
    app.on_response_prepare.append(decorate_response)
    return app


async def open_context(database: DatabaseSettings, api: ApiSettings, storage: StorageSettings,
                       signer: SignerSettings) -> ApiContext:
    """Connect to the database and storage; fails fast with a clear error when either is down."""
    pool = await db.create_pool(database.asyncpg_dsn, size=database.database_pool_size,
                                application_name="touchgrass-api",
                                command_timeout_s=STATEMENT_TIMEOUT_S,
                                acquire_timeout_s=ACQUIRE_TIMEOUT_S)
    try:
        await migrations.require_current(pool, database.database_url)
    except BaseException:
        await pool.close()
        raise
    store = open_storage(storage)
    try:
        await store.check()
    except BaseException:
        await pool.close()
        await store.close()
        raise
    return ApiContext(pool=pool, storage=store, settings=api, signer=signer.key)


async def _sweep_images(ctx: ApiContext) -> None:
    """Every few minutes, remove images a crash or an outage left without a row."""
    interval = ctx.settings.image_sweep_interval_s
    while True:
        try:
            await images.sweep(ctx.pool, ctx.storage, older_than_s=ctx.settings.image_sweep_grace_s)
        except (StorageError, OSError, TimeoutError, asyncpg.PostgresError,
                asyncpg.InterfaceError) as error:
            log.warning("sweep", "image sweep failed (retried in %g s): %s", interval,
                        error if isinstance(error, StorageError) else type(error).__name__)
        await asyncio.sleep(interval)


# How often the queue and chain gauges are read from the database when /metrics is served on
# a port of its own (no request to refresh them at scrape time there).
METRICS_REFRESH_S = 15.0


async def _refresh_counts(ctx: ApiContext) -> None:
    while True:
        try:
            await meta.refresh_counts(ctx.pool)
        except Exception as error:  # the database being down shows in /health, not here
            log.warning("metrics", "queue counts not refreshed: %s", type(error).__name__)
        await asyncio.sleep(METRICS_REFRESH_S)


async def serve(ctx: ApiContext, host: str, port: int, stop: asyncio.Event,
                *, shutdown_timeout_s: float = 10.0) -> None:
    """Serve until `stop`; then stop accepting and give in-flight requests time to finish."""
    runner = ApiRunner(build_app(ctx), access_log=None, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("start", "API listening on http://%s:%d", host, port)
    sweeper = asyncio.create_task(_sweep_images(ctx))
    counts = None
    if ctx.settings.metrics_port is not None:  # API_METRICS=<port>: only there
        try:
            metrics.serve(ctx.settings.metrics_port)
        except OSError:
            raise PortTaken(f"API_METRICS names port {ctx.settings.metrics_port}, which is "
                            "taken (another program listens on it)") from None
        log.info("metrics", "Prometheus metrics on port %d only", ctx.settings.metrics_port)
        counts = asyncio.create_task(_refresh_counts(ctx))
    try:
        await stop.wait()
    finally:
        log.info("stop", "API stopping")
        sweeper.cancel()
        if counts is not None:
            counts.cancel()
        await runner.cleanup()
        await ctx.pool.close()
        await ctx.storage.close()
