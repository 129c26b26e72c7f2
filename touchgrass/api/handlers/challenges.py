"""Challenges (`/api/challenges`): created by admins; each gets a zkApp and a Default chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from touchgrass import images
from touchgrass.api import pages, representations
from touchgrass.api.context import context, correlation_id
from touchgrass.api.http import json_body, path_uuid, respond
from touchgrass.errors import InvalidInput
from touchgrass.store import challenges, keyset

NOT_FOUND = "Challenge not found"
MAX_TITLE = 255


async def list_challenges(request: web.Request) -> web.StreamResponse:
    return await _list(request, active_only=False)


async def list_active(request: web.Request) -> web.StreamResponse:
    return await _list(request, active_only=True)


async def _list(request: web.Request, *, active_only: bool) -> web.StreamResponse:
    pool = context(request).pool

    async def fetch(after: keyset.Key | None, limit: int) -> list[tuple[keyset.Key, str]]:
        rows = await challenges.page(pool, active_only=active_only, after=after, limit=limit)
        return pages.items(rows, representations.challenge)

    return await pages.respond_list(request, fetch)


async def get_challenge(request: web.Request) -> web.Response:
    challenge_id = path_uuid(request, "id", NOT_FOUND)
    return respond(representations.challenge(await challenges.get(context(request).pool,
                                                                  challenge_id)))


def parse_date(value: Any, field: str) -> datetime:
    """ISO-8601 (with or without zone; none means UTC) or epoch milliseconds, like JS Date.

    Converted to UTC here, so a date that only exists in its own zone (`9999-12-31T23:59:59-05:00`
    is in the year 10000 in UTC) is refused as invalid instead of failing in the database."""
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(f"{field} must be a valid date", field) from None


def _required(body: dict[str, Any], field: str) -> Any:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(f"{field} is required", field)
    return value


async def create_challenge(request: web.Request) -> web.Response:
    body = await json_body(request)
    title, description = _required(body, "title"), _required(body, "description")
    start_raw, end_raw = _required(body, "startTime"), _required(body, "endTime")
    for field, value in (("title", title), ("description", description)):
        if not isinstance(value, str):
            raise InvalidInput(f"{field} must be a string", field)
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"title must be at most {MAX_TITLE} characters", "title")
    start, end = parse_date(start_raw, "startTime"), parse_date(end_raw, "endTime")
    if end <= start:
        raise InvalidInput("endTime must be after startTime", "endTime")
    row = await challenges.create(
        context(request).pool, title=title.strip(), description=description.strip(),
        start_time=start, end_time=end, correlation_id=correlation_id(request),
    )
    return respond(representations.challenge(row), status=201)


async def delete_challenge(request: web.Request) -> web.Response:
    ctx = context(request)
    pending = await challenges.delete(ctx.pool, path_uuid(request, "id", NOT_FOUND))
    await images.release(ctx.pool, ctx.storage, pending)
    return web.Response(status=204)
