"""Users: wallet addresses (`/api/users`)."""

from __future__ import annotations

from aiohttp import web

from touchgrass import images, mina
from touchgrass.api import representations
from touchgrass.api.context import context
from touchgrass.api.handlers.common import wallet_from_body
from touchgrass.api.http import json_body, respond
from touchgrass.errors import NotFound
from touchgrass.store import users


async def get_user(request: web.Request) -> web.Response:
    address = request.match_info["walletAddress"]
    if not mina.is_valid_address(address):
        raise NotFound("User not found")  # a malformed address is simply not a user
    return respond(representations.user(await users.get(context(request).pool, address)))


async def create_user(request: web.Request) -> web.Response:
    address = wallet_from_body(await json_body(request))
    row, created = await users.find_or_create(context(request).pool, address)
    return respond(representations.user(row), status=201 if created else 200)


async def delete_user(request: web.Request) -> web.Response:
    ctx = context(request)
    pending = await users.delete(ctx.pool, request.match_info["walletAddress"])
    await images.release(ctx.pool, ctx.storage, pending)
    return web.Response(status=204)
