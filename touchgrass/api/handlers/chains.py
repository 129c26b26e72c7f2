"""Chains (`/api/chains`), read-only."""

from __future__ import annotations

import uuid

from aiohttp import web

from touchgrass.api import pages, representations
from touchgrass.api.context import context
from touchgrass.api.http import path_uuid, respond
from touchgrass.store import chains, keyset


async def list_chains(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("challengeId")
    challenge_id = None
    if raw:
        try:
            challenge_id = uuid.UUID(raw)
        except ValueError:
            return await pages.respond_list(request, pages.nothing)  # no challenge has it
    pool = context(request).pool

    async def fetch(after: keyset.Key | None, limit: int) -> list[tuple[keyset.Key, str]]:
        rows = await chains.page(pool, challenge_id, after=after, limit=limit)
        return pages.items(rows, representations.chain)

    return await pages.respond_list(request, fetch)


async def get_chain(request: web.Request) -> web.Response:
    chain_id = path_uuid(request, "id", "Chain not found")
    return respond(representations.chain(await chains.get(context(request).pool, chain_id)))
