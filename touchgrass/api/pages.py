"""Lists: a page on request (`?limit=&after=`), else the whole list streamed in batches.

Old clients and the old server's tests expect a bare JSON array with every row, so that
stays the answer without `limit`: it is written as a chunked array, one keyset batch at a
time, so the API's memory does not grow with the list and the first bytes leave at once.
With `limit` the body is still a bare array, and the next page is named in a
`Link: <?...&after=CURSOR>; rel="next"` header (RFC 8288; a reference relative to the
list's own URL), present only when there is more.

Why keyset batches and not one server-side cursor: a cursor needs a transaction (and a pooled
connection) held open for as long as the slowest client takes to read, which a handful of
slow clients would turn into an exhausted pool and a vacuum held back. Each batch here is
one short query; the next ones run while the previous one is written.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import struct
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from aiohttp import web

from touchgrass import logs
from touchgrass.errors import InvalidInput
from touchgrass.store.keyset import Key, key_of

__all__ = ["CURSOR_PATTERN", "MAX_LIMIT", "PageRequest", "STREAM_BATCH", "Fetch", "PageEnd",
           "decode_cursor", "encode_cursor", "items", "nothing", "page_request",
           "respond_list"]

log = logs.get_logger("touchgrass.api")

MAX_LIMIT = 1000
# Rows per query while streaming a whole list: big enough that the per-query cost is lost
# in the rows (~1 ms against ~6 ms of rows), small enough to keep memory flat (~1 MB).
STREAM_BATCH = 1000

# A cursor is the key of a page's last row: microseconds since the epoch (8 bytes, signed)
# and the id (16 bytes), base64url without padding: always 32 characters.
_CURSOR = struct.Struct(">q16s")
CURSOR_PATTERN = "^[A-Za-z0-9_-]{32}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# (key, JSON text of the item) for up to `limit` items after `after`.
Fetch = Callable[[Key | None, int], Awaitable[list[tuple[Key, str]]]]
# The key of the last of `limit` items after `after`, or None when fewer are left.
PageEnd = Callable[[Key | None, int], Awaitable[Key | None]]
_IN_FLIGHT = 3


def encode_cursor(key: Key) -> str:
    microseconds = (key.at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(_CURSOR.pack(microseconds, key.id.bytes)).decode().rstrip("=")


def decode_cursor(text: str) -> Key:
    """The key a cursor names; anything this API did not write is a 400 naming `after`."""
    invalid = InvalidInput("after must be a cursor from a Link header of this list", "after")
    if len(text) != 32:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(text + "====")
        microseconds, id_bytes = _CURSOR.unpack(raw)
        return Key(_EPOCH + timedelta(microseconds=microseconds), UUID(bytes=id_bytes))
    except (ValueError, struct.error, OverflowError):
        raise invalid from None


@dataclass(frozen=True)
class PageRequest:
    limit: int | None  # None: the whole list
    after: Key | None


def page_request(request: web.Request) -> PageRequest:
    """`?limit=` (1 to MAX_LIMIT) and `?after=`; an empty value counts as absent."""
    raw_limit = request.query.get("limit", "")
    limit = None
    if raw_limit:
        if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 5
                and 1 <= int(raw_limit) <= MAX_LIMIT):
            raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}", "limit")
        limit = int(raw_limit)
    raw_after = request.query.get("after", "")
    return PageRequest(limit, decode_cursor(raw_after) if raw_after else None)


def items(rows: list[dict[str, Any]], representation: Callable[[dict[str, Any]], dict[str, Any]]
          ) -> list[tuple[Key, str]]:
    """List items from rows with their keys and a Python representation (the small lists;
    submissions come as JSON text from SQL)."""
    return [(key_of(row), json.dumps(representation(row), separators=(",", ":")))
            for row in rows]


async def nothing(after: Key | None, limit: int) -> list[tuple[Key, str]]:
    """The Fetch of a filter no row can match (an id that is not a UUID): an empty list,
    with `limit` and `after` still checked like any other list's."""
    return []


async def respond_list(request: web.Request, fetch: Fetch,
                       page_end: PageEnd | None = None) -> web.StreamResponse:
    """A page when asked for, else the whole list; `page_end` (for the long lists) lets the
    stream run several batch queries at once."""
    page = page_request(request)
    if page.limit is not None:
        return await _one_page(request, fetch, page.limit, page.after)
    return await _stream(request, fetch, page_end, page.after)


async def _one_page(request: web.Request, fetch: Fetch, limit: int,
                    after: Key | None) -> web.Response:
    # One row more than asked says whether a next page exists, so the last page has no link.
    items = await fetch(after, limit + 1)
    headers = {}
    if len(items) > limit:
        items = items[:limit]
        query = {**request.query, "limit": str(limit), "after": encode_cursor(items[-1][0])}
        # A reference relative to this list's own URL, so it also holds behind a proxy that
        # serves the API under another path (the admin dashboard's /api/proxy/...).
        headers["Link"] = f'<?{request.rel_url.with_query(query).query_string}>; rel="next"'
    body = "[" + ",".join(text for _, text in items) + "]"
    return web.Response(text=body, content_type="application/json", headers=headers)


async def _stream(request: web.Request, fetch: Fetch, page_end: PageEnd | None,
                  after: Key | None) -> web.StreamResponse:
    # The first batch is read before the headers go out, so a database error is still a
    # proper error answer; after that, a failure can only cut the body short.
    first = await fetch(after, STREAM_BATCH)
    if request.method == "HEAD":  # the same answer as GET would start, with no body to stream
        return web.Response(content_type="application/json", charset="utf-8")
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    await response.prepare(request)
    batches = _batches(fetch, page_end, first)
    rows = 0
    try:
        separator = "["
        async for batch in batches:
            if batch:
                await response.write((separator + ",".join(t for _, t in batch)).encode())
                separator = ","
                rows += len(batch)
        await response.write(b"[]" if separator == "[" else b"]")
        await response.write_eof()
    except (ConnectionError, asyncio.CancelledError) as error:
        # The client went away (or the server is stopping): stop reading the list.
        log.info("http", "list stream stopped after %d rows: %s", rows,
                 type(error).__name__, path=request.path, rows=rows)
        if isinstance(error, asyncio.CancelledError):
            raise
    except Exception:
        # Headers are gone: close the connection so the client sees a cut body, never a
        # complete-looking array that misses rows.
        log.error("error", "list stream failed after %d rows", rows, exc_info=True,
                  path=request.path, rows=rows)
        if request.transport is not None:
            request.transport.abort()
    finally:
        await batches.aclose()
    return response


async def _batches(fetch: Fetch, page_end: PageEnd | None, first: list[tuple[Key, str]]
                   ) -> AsyncGenerator[list[tuple[Key, str]], None]:
    """The list's batches in order, the next queries already running while one is written.

    Building the rows' JSON is most of the work and Postgres does it, so overlapping queries
    puts it on more than one core. With `page_end` (an index-only look-up of where a batch
    will end) the next batches' queries start before this one's rows arrive: `_IN_FLIGHT`
    queries at once (three measured best on two cores, bench/lists.py). Without it, the next
    query starts when a batch arrives. At most `_IN_FLIGHT` batches are ever held, so memory
    stays flat whatever the list's length.
    """
    yield first
    start = first[-1][0] if len(first) == STREAM_BATCH else None
    in_flight: collections.deque[asyncio.Task[list[tuple[Key, str]]]] = collections.deque()
    try:
        while start is not None or in_flight:
            while start is not None and len(in_flight) < _IN_FLIGHT:
                in_flight.append(asyncio.ensure_future(fetch(start, STREAM_BATCH)))
                start = await page_end(start, STREAM_BATCH) if page_end else None
            batch = await in_flight.popleft()
            if page_end is None and len(batch) == STREAM_BATCH:
                start = batch[-1][0]
            yield batch
    finally:
        for task in in_flight:
            task.cancel()
        for task in in_flight:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
