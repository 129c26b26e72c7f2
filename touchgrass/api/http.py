"""Request parsing and error mapping shared by every handler.

Domain errors (touchgrass.errors) map to HTTP statuses in one table, `STATUS_FOR`; handlers
raise, the error middleware answers `{"error": {"message", "field"?}}`.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
import uuid
from typing import Any

from aiohttp import web

from touchgrass.errors import ApiError, Conflict, InvalidInput, NotFound

__all__ = ["ApiError", "BODY_READ_TIMEOUT_S", "STATUS_FOR", "check_text", "error_body",
           "json_body", "path_uuid", "require_admin", "respond", "respond_json"]

# A client that stops sending its body for this long gets a 408, not a connection held open.
BODY_READ_TIMEOUT_S = 30.0
# Deeper JSON than any of our bodies needs is refused before it can exhaust the stack.
MAX_JSON_DEPTH = 32
# Text we store or look up: PostgreSQL text cannot hold NUL, UTF-8 cannot hold a lone
# surrogate, and no field of ours has a reason to carry other C0 controls (tab, CR, LF aside).
_FORBIDDEN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


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


def check_text(value: str, field: str | None) -> str:
    """`value` unchanged, or a 400 naming `field` when it holds a character no text of ours
    may contain (NUL, a lone surrogate, a control character)."""
    found = _FORBIDDEN_TEXT.search(value)
    if found:
        what = "NUL bytes" if found.group() == "\x00" else (
            "unpaired surrogates" if "\ud800" <= found.group() <= "\udfff"
            else "control characters")
        raise InvalidInput(f"{field or 'text'} must not contain {what}", field)
    return value


def path_uuid(request: web.Request, name: str, not_found: str) -> uuid.UUID:
    """A path id; one that is not a UUID is simply not found (the old server answered 500)."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(not_found) from None


async def json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object body; anything unparseable, too deep, or holding text no field may
    hold is a 400 (`Invalid JSON body`, or the offending field)."""
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT_S):
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "Request body too large") from None
    except TimeoutError:
        raise ApiError(408, "Request body not received in time", close=True) from None
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError covers malformed JSON and integers over Python's 4,300-digit limit.
        raise ApiError(400, "Invalid JSON body") from None
    if not isinstance(value, dict):
        raise ApiError(400, "Invalid JSON body")
    _check_json(value)
    return value


def _check_json(value: Any) -> None:
    """Walk the body without recursion: bounded depth, and every key and string clean."""
    stack: list[tuple[Any, int, str | None]] = [(value, 1, None)]
    while stack:
        item, depth, field = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ApiError(400, "Invalid JSON body: nested too deeply")
        if isinstance(item, dict):
            for key, child in item.items():
                check_text(key, field or key)
                stack.append((child, depth + 1, field or key))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, field) for child in item)
        elif isinstance(item, str):
            check_text(item, field)


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
