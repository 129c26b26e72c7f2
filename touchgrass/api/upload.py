"""Streaming the multipart upload: the image is hashed as it arrives, under a hard size cap,
without buffering the request through `request.post()`.

Parse-time refusals come first, as the old server's multer did: a non-image content type is
415, an image over `UPLOAD_MAX_SIZE` is 413, a file under another field name is 400.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

from touchgrass.api.http import ApiError

__all__ = ["UploadForm", "read_upload"]

MAX_FIELD_BYTES = 64 * 1024
# After the cap is hit we keep reading (and discarding) up to this much more, so the client
# gets the 413 instead of a connection reset; past it, the connection is dropped.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    image: bytes | None = None
    content_type: str | None = None
    sha256_hex: str | None = None


async def read_upload(request: web.Request, max_image_bytes: int) -> UploadForm:
    form = UploadForm()
    if not request.content_type.startswith("multipart/"):
        return form  # no file: the first check answers "No image file provided"
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError):
        raise ApiError(400, "Malformed multipart body") from None
    while True:
        try:
            part = await reader.next()
        except ValueError:
            raise ApiError(400, "Malformed multipart body") from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "Nested multipart bodies are not supported")
        name = part.name or ""
        if part.filename is not None:
            if name != "image" or form.image is not None:
                raise ApiError(400, "Unexpected field", field=name or None)
            await _read_image(part, form, max_image_bytes)
        else:
            form.fields[name] = await _read_field(part, name)
    return form


async def _read_image(part: BodyPartReader, form: UploadForm, limit: int) -> None:
    content_type = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        raise ApiError(415, "Only image files are allowed", field="image")
    digest = hashlib.sha256()
    buffer = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        if len(buffer) + len(chunk) > limit:
            drained = len(buffer) + len(chunk)
            while drained < limit + DRAIN_LIMIT_BYTES and (more := await part.read_chunk(256 * 1024)):
                drained += len(more)
            raise ApiError(413, "Image too large", field="image")
        digest.update(chunk)
        buffer += chunk
    form.image = bytes(buffer)
    form.content_type = content_type
    form.sha256_hex = digest.hexdigest()


async def _read_field(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(8 * 1024):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise ApiError(413, f"{name} is too large", field=name or None)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"{name} is not UTF-8 text", field=name or None) from None
