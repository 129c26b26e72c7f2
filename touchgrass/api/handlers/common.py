"""Checks and clean-ups shared by several resources."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from touchgrass import logs, mina
from touchgrass.api.context import ApiContext
from touchgrass.errors import InvalidInput, StorageError
from touchgrass.store import submissions

log = logs.get_logger(__name__)


def wallet_from_body(body: dict[str, Any]) -> str:
    address = body.get("walletAddress")
    if address is None or address == "":
        raise InvalidInput("walletAddress is required", "walletAddress")
    if not isinstance(address, str) or not mina.is_valid_address(address):
        raise InvalidInput("Invalid wallet address format", "walletAddress")
    return address


async def remove_images(ctx: ApiContext, keys: Iterable[str | None]) -> None:
    """Delete images no row needs any more. Best effort: a failure is logged, never answered
    as an error (the rows are gone already), and a later upload of the same bytes rewrites it."""
    for key in keys:
        if not key:
            continue
        try:
            if await submissions.image_referenced(ctx.pool, key):
                continue
            await ctx.storage.delete(key)
        except StorageError as error:
            log.warning("storage", "could not remove %s: %s", key, error)
