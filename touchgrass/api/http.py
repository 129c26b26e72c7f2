"""Request parsing and error mapping shared by every handler.

Domain errors (touchgrass.errors) map to HTTP statuses in one table, `STATUS_FOR`; handlers
raise, the error middleware answers `{"error": {"message", "field"?}}`.
"""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from typing import Any

from aiohttp import web

from touchgrass.errors import Conflict, InvalidInput, NotFound

__all__ = ["ApiError", "STATUS_FOR", "error_body", "json_body", "path_uuid", "require_admin",
           "respond", "respond_json"]


class ApiError(Exception):
    """An HTTP-only failure (401, 413, 415, ...) with the client-facing message."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}


STATUS_FOR: dict[type[Exception], int] = {
    InvalidInput: 400,
    NotFound: 404,
    Conflict: 409,
}


def error_body(message: str, field: str | None = None, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if code:
        error = {"code": code, **error}
    if field:
        error["field"] = field
    return {"error": error}


def respond(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers,
                             dumps=lambda value: json.dumps(value, separators=(",", ":")))


def respond_json(text: str, status: int = 200) -> web.Response:
    """A body the store already wrote as JSON (submissions come from SQL that way)."""
    return web.Response(text=text, status=status, content_type="application/json")


def path_uuid(request: web.Request, name: str, not_found: str) -> uuid.UUID:
    """A path id; one that is not a UUID is simply not found (the old server answered 500)."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(not_found) from None


async def json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object body; anything unparseable is 400 `Invalid JSON body`."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "Request body too large") from None
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "Invalid JSON body") from None
    if not isinstance(value, dict):
        raise ApiError(400, "Invalid JSON body")
    return value


def require_admin(request: web.Request, password: str) -> None:
    """HTTP Basic `admin:<ADMIN_PASSWORD>`, compared in constant time."""
    header = request.headers.get("Authorization", "")
    supplied = b""
    if header[:6].lower() == "basic ":
        try:
            supplied = base64.b64decode(header[6:].strip(), validate=True)
        except ValueError:
            supplied = b""
    expected = b"admin:" + password.encode()
    if not hmac.compare_digest(supplied, expected):
        raise ApiError(401, "Authentication required",
                       headers={"WWW-Authenticate": 'Basic realm="touchgrass"'})
