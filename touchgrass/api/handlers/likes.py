"""Likes (`/api/submissions/:id/likes`), public."""

from __future__ import annotations

from aiohttp import web

from touchgrass.api import pages, representations
from touchgrass.api.context import context
from touchgrass.api.handlers.common import wallet_from_body
from touchgrass.api.http import json_body, path_uuid, respond
from touchgrass.store import keyset, likes, submissions, users

NOT_FOUND = "Submission not found"


async def create_like(request: web.Request) -> web.Response:
    submission_id = path_uuid(request, "id", NOT_FOUND)
    address = wallet_from_body(await json_body(request))
    pool = context(request).pool
    await submissions.get(pool, submission_id)
    await users.find_or_create(pool, address)
    return respond(representations.like(await likes.create(pool, submission_id, address)),
                   status=201)


async def like_count(request: web.Request) -> web.Response:
    submission_id = path_uuid(request, "id", NOT_FOUND)
    pool = context(request).pool
    await submissions.get(pool, submission_id)
    return respond({"submissionId": str(submission_id),
                    "count": await likes.count(pool, submission_id)})


async def list_likes(request: web.Request) -> web.StreamResponse:
    submission_id = path_uuid(request, "id", NOT_FOUND)
    pool = context(request).pool
    await submissions.get(pool, submission_id)

    async def fetch(after: keyset.Key | None, limit: int) -> list[tuple[keyset.Key, str]]:
        rows = await likes.page(pool, submission_id, after=after, limit=limit)
        return pages.items(rows, representations.like)

    return await pages.respond_list(request, fetch)


async def delete_like(request: web.Request) -> web.Response:
    submission_id = path_uuid(request, "id", "Like not found")
    await likes.delete(context(request).pool, submission_id, request.match_info["walletAddress"])
    return respond({"success": True})
