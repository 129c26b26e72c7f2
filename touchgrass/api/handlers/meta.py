"""Health, version and the API's own documentation."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Awaitable
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from touchgrass import __version__, metrics
from touchgrass.api import representations
from touchgrass.api.context import context
from touchgrass.api.http import respond
from touchgrass.errors import StorageError
from touchgrass.queue import views
from touchgrass.queue.stages import STAGES
from touchgrass.store import receipts

CHECK_TIMEOUT_S = 3.0


async def _check(probe: Awaitable[object]) -> str:
    """"ok", or what went wrong, within CHECK_TIMEOUT_S whatever the dependency does.

    Not `wait_for`: it waits for the cancelled probe to finish, and a query on a hung
    database finishes its cancellation only when the database answers. The probe is left to
    end on its own (its connection's timeouts bound it)."""
    task = asyncio.ensure_future(probe)
    done, _ = await asyncio.wait({task}, timeout=CHECK_TIMEOUT_S)
    if not done:
        task.cancel()
        task.add_done_callback(lambda finished: finished.cancelled() or finished.exception())
        return f"error: no answer in {CHECK_TIMEOUT_S:g} s"
    error = task.exception()
    if error is None:
        return "ok"
    return f"error: {error}" if isinstance(error, StorageError) else \
        f"error: {type(error).__name__}"


async def health(request: web.Request) -> web.Response:
    ctx = context(request)
    database, storage = await asyncio.gather(_check(ctx.pool.fetchval("SELECT 1")),
                                             _check(ctx.storage.check()))
    checks = {"database": database, "storage": storage}
    body = {
        "timestamp": representations.iso(datetime.now(UTC)),
        "uptime": round(time.monotonic() - ctx.started_at, 3),
        "environment": ctx.settings.environment,
    }
    if all(value == "ok" for value in checks.values()):
        return respond({"status": "healthy", **body})
    return respond({"status": "unhealthy", **body, "checks": checks}, status=503)


async def version(request: web.Request) -> web.Response:
    zkapp = context(request).settings.zkapp_address or "not configured"
    return respond({"version": __version__, "api": "TouchGrass API", "zkApp": zkapp})


async def openapi_json(request: web.Request) -> web.Response:
    from touchgrass.api.routes import openapi_document

    return respond(openapi_document())


async def api_docs(request: web.Request) -> web.Response:
    """A readable page built from the same OpenAPI document (no CDN: works offline)."""
    from touchgrass.api.routes import openapi_document

    document = openapi_document()
    rows = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            lock = " 🔒" if operation.get("security") else ""
            codes = ", ".join(sorted(operation["responses"]))
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(operation['summary'])}{lock}</td><td>{codes}</td></tr>"
            )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{document['info']['title']}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.4rem;
text-align:left;vertical-align:top}}code{{font-size:.95em}}</style></head>
<body><h1>{document['info']['title']} {document['info']['version']}</h1>
<p>{html.escape(document['info']['description'])}</p>
<p>Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a>. 🔒 = admin
(HTTP Basic, user <code>admin</code>).</p>
<table><tr><th>method</th><th>path</th><th>what</th><th>status codes</th></tr>
{''.join(rows)}</table></body></html>"""
    return web.Response(text=page, content_type="text/html")


async def refresh_counts(pool: asyncpg.Pool) -> None:
    """The queue and chain gauges, from the database as it is now."""
    await views.export_counts(pool, list(STAGES.values()))
    metrics.set_counts(metrics.CHAIN_STATUS, (await receipts.chain_totals(pool)).items())


async def metrics_text(request: web.Request) -> web.Response:
    """Prometheus metrics: the API's requests, and the queue and chain as the database has
    them now (so one scrape of the API sees the whole pipeline; a role's own port adds its
    outcomes, durations and provers). API_METRICS=off or a port: not here (404)."""
    ctx = context(request)
    if ctx.settings.api_metrics != "public":
        raise web.HTTPNotFound()
    await refresh_counts(ctx.pool)
    body, content_type = metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response
