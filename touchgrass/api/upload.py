"""Streaming the multipart upload: the image is hashed as it arrives, under a hard size cap,
without buffering the request through `request.post()`.

Parse-time refusals come first, as the old server's multer did: a type that is not a raster
image is 415, an image over `UPLOAD_MAX_SIZE` is 413, a file under another field name is 400.
Every limit stops the reading where it is hit: a declared `Content-Length` over the whole
form's cap is refused before a byte of the body is read, and an image that grows past its cap
is not read any further (the connection is closed after the 413).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import BodyPartReader, MultipartReader, StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError

from touchgrass.api.http import BODY_READ_TIMEOUT_S, ApiError, check_text

__all__ = ["IMAGE_TYPES", "MAX_FIELDS", "MAX_FIELD_BYTES", "MAX_FIELDS_BYTES", "UploadForm",
           "form_limit", "read_upload"]

# Raster types only: these are what cameras and browsers produce, and none of them can carry
# script (SVG can). `image/jpg` and `image/pjpeg` are what some clients send for JPEG.
IMAGE_TYPES = frozenset({
    "image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/gif", "image/webp",
    "image/avif", "image/heic", "image/heif", "image/bmp", "image/tiff",
})
MAX_FIELD_BYTES = 64 * 1024  # one text part
MAX_FIELDS = 16  # text parts, counted one by one: the form has 6 (clients add 2 we ignore)
MAX_FIELDS_BYTES = 256 * 1024  # all text parts together
# Boundaries and part headers, on top of the parts' own bytes.
_FORM_OVERHEAD_BYTES = 64 * 1024
_MALFORMED = "Malformed multipart body"
T = TypeVar("T")


def form_limit(max_image_bytes: int) -> int:
    """The largest body a valid upload can have: the image, the text parts, the framing."""
    return max_image_bytes + MAX_FIELDS_BYTES + _FORM_OVERHEAD_BYTES


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    image: bytes | None = None
    content_type: str | None = None
    sha256_hex: str | None = None


def _too_large(message: str, field_name: str | None = None) -> ApiError:
    """A 413 after which the connection is closed: the rest of the body is never read."""
    return ApiError(413, message, field=field_name, close=True)


async def read_upload(request: web.Request, max_image_bytes: int) -> UploadForm:
    form = UploadForm()
    if not request.content_type.startswith("multipart/"):
        return form  # no file: the first check answers "No image file provided"
    declared = request.content_length
    if declared is not None and declared > form_limit(max_image_bytes):
        raise _too_large("Request body too large")
    body = _CappedBody(request.content, form_limit(max_image_bytes))
    try:
        reader = MultipartReader(request.headers, body)  # type: ignore[arg-type]
    except (ValueError, AssertionError, HttpProcessingError):
        raise ApiError(400, _MALFORMED) from None
    fields_bytes = text_parts = 0
    while True:
        part = await _next_part(reader)
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "Nested multipart bodies are not supported")
        name = check_text(part.name or "", "field name")
        if part.filename is not None:
            if name != "image" or form.image is not None:
                raise ApiError(400, "Unexpected field", field=name or None)
            await _read_image(part, form, max_image_bytes)
            continue
        text_parts += 1  # every part: 40,000 empty parts under one name are 40,000 parts
        if text_parts > MAX_FIELDS:
            raise _too_large(f"Too many form fields (at most {MAX_FIELDS})")
        value = await _read_field(part, name)
        fields_bytes += len(value)
        if fields_bytes > MAX_FIELDS_BYTES:
            raise _too_large(f"Form fields too large (at most {MAX_FIELDS_BYTES} bytes in all)")
        form.fields[name] = value
    # What follows the closing boundary is body too: a form cannot carry megabytes after it.
    while await _body(body.read(64 * 1024)):
        pass
    return form


class _CappedBody:
    """The request body as the multipart reader reads it, refused (413, connection closed)
    once more than `limit` bytes have arrived, wherever they are: a preamble before the first
    boundary, framing, parts, an epilogue. A chunked body declares no length to check first."""

    def __init__(self, stream: StreamReader, limit: int) -> None:
        self._stream, self._limit = stream, limit

    def _checked(self, data: bytes) -> bytes:
        if self._stream.total_bytes > self._limit:
            raise _too_large("Request body too large")
        return data

    async def read(self, n: int = -1) -> bytes:
        return self._checked(await self._stream.read(n))

    async def readline(self, **options: Any) -> bytes:
        return self._checked(await self._stream.readline(**options))

    def at_eof(self) -> bool:
        return self._stream.at_eof()

    def unread_data(self, data: bytes) -> None:
        self._stream.unread_data(data)


async def _next_part(reader: object) -> object:
    """The next part; a malformed one (a control character in its headers, a body that ends
    without its boundary) is the client's error, not ours."""
    return await _body(reader.next())  # type: ignore[attr-defined]


async def _chunk(part: BodyPartReader, size: int) -> bytes:
    return await _body(part.read_chunk(size))


async def _body(read: Awaitable[T]) -> T:
    """One read of the request body: a malformed body is a 400, one that stops arriving for
    BODY_READ_TIMEOUT_S a 408 (and the connection closes)."""
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT_S):
            return await read
    except (ValueError, AssertionError, HttpProcessingError):
        raise ApiError(400, _MALFORMED) from None
    except TimeoutError:
        raise ApiError(408, "Request body not received in time", close=True) from None


async def _read_image(part: BodyPartReader, form: UploadForm, limit: int) -> None:
    content_type = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type not in IMAGE_TYPES:
        # The old server's message, word for word; the OpenAPI document lists the types.
        raise ApiError(415, "Only image files are allowed", field="image")
    digest = hashlib.sha256()
    buffer = bytearray()
    while chunk := await _chunk(part, 64 * 1024):
        if len(buffer) + len(chunk) > limit:
            raise _too_large("Image too large", "image")
        digest.update(chunk)
        buffer += chunk
    form.image = bytes(buffer)
    form.content_type = content_type
    form.sha256_hex = digest.hexdigest()


async def _read_field(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await _chunk(part, 8 * 1024):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise _too_large(f"{name} is too large", name or None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"{name} is not UTF-8 text", field=name or None) from None
    return check_text(text, name or None)
