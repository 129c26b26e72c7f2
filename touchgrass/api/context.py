"""What every handler needs, built once at start and stored on the application."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from touchgrass.images import Storage
from touchgrass.settings import ApiSettings
from touchgrass.signatures import SignerKey

__all__ = ["CONTEXT", "CORRELATION_ID", "ApiContext", "context", "correlation_id"]


@dataclass
class ApiContext:
    pool: asyncpg.Pool
    storage: Storage
    settings: ApiSettings
    signer: SignerKey
    started_at: float = field(default_factory=time.monotonic)


CONTEXT = web.AppKey("touchgrass_context", ApiContext)
CORRELATION_ID = web.RequestKey("correlation_id", str)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def correlation_id(request: web.Request) -> str | None:
    """The request's correlation id (set by the edge middleware), stored on rows it creates."""
    return request.get(CORRELATION_ID)
