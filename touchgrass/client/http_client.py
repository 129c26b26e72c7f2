"""Talking to a running touchgrass API the way the TouchGrass clients do."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from touchgrass.errors import InvalidInput, OperatorError
from touchgrass.signatures import Curve, sign

__all__ = ["ApiAnswer", "create_challenge", "upload_image"]

TIMEOUT = aiohttp.ClientTimeout(total=120)


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_message(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            error = self.body["error"]
            field = f" (field {error['field']})" if error.get("field") else ""
            return f"{error.get('message')}{field}"
        return str(self.body)


@contextlib.contextmanager
def _reaching(api: str) -> Iterator[None]:
    """The ways a request cannot even be answered, as one line naming the API."""
    try:
        yield
    except aiohttp.InvalidURL:
        raise InvalidInput(f"--api {api!r} is not a URL") from None
    except (aiohttp.ClientConnectionError, OSError, TimeoutError) as error:
        raise OperatorError(f"cannot reach the API at {api}: {error or type(error).__name__}"
                            ) from None


async def _answer(response: aiohttp.ClientResponse) -> ApiAnswer:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = await response.text()
    return ApiAnswer(response.status, body)


async def upload_image(api: str, image: Path, *, chain_id: str, wallet: str, signer_key: str,
                       curve: Curve, tagline: str | None = None,
                       content_type: str | None = None) -> ApiAnswer:
    """Sign the image's SHA-256 with `signer_key` and POST it as the web app does."""
    data = image.read_bytes()
    try:
        signature = sign(signer_key, hashlib.sha256(data).digest(), curve)
    except ValueError as error:
        raise InvalidInput(f"the signer key is invalid: {error}") from None
    content_type = content_type or mimetypes.guess_type(image.name)[0] or "image/jpeg"
    form = aiohttp.FormData()
    form.add_field("image", data, filename=image.name, content_type=content_type)
    form.add_field("chainId", chain_id)
    form.add_field("walletAddress", wallet)
    form.add_field("signatureR", f"{signature.r:064x}")
    form.add_field("signatureS", f"{signature.s:064x}")
    if tagline:
        form.add_field("tagline", tagline)
    with _reaching(api):
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.post(
            f"{api.rstrip('/')}/api/submissions", data=form
        ) as response:
            return await _answer(response)


async def create_challenge(api: str, *, admin_password: str, title: str, description: str,
                           start: datetime, end: datetime) -> ApiAnswer:
    body = {"title": title, "description": description, "startTime": start.isoformat(),
            "endTime": end.isoformat()}
    token = base64.b64encode(f"admin:{admin_password}".encode()).decode()
    with _reaching(api):
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.post(
            f"{api.rstrip('/')}/api/challenges", json=body,
            headers={"Authorization": f"Basic {token}"}
        ) as response:
            return await _answer(response)
