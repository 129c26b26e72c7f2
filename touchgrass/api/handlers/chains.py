"""Chains (`/api/chains`), read-only."""

from __future__ import annotations

import uuid

from aiohttp import web

from touchgrass.api import representations
from touchgrass.api.context import context
from touchgrass.api.http import path_uuid, respond
from touchgrass.store import chains


async def list_chains(request: web.Request) -> web.Response:
    raw = request.query.get("challengeId")
    challenge_id = None
    if raw:
        try:
            challenge_id = uuid.UUID(raw)
        except ValueError:
            return respond([])  # no challenge has that id
    rows = await chains.list_chains(context(request).pool, challenge_id)
    return respond([representations.chain(row) for row in rows])


async def get_chain(request: web.Request) -> web.Response:
    chain_id = path_uuid(request, "id", "Chain not found")
    return respond(representations.chain(await chains.get(context(request).pool, chain_id)))
