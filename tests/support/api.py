"""An API under test: the real application on a loopback port, with helpers to make rows and
to prove that a refused request wrote nothing."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from touchgrass import mina
from touchgrass.api.server import ApiRunner
from touchgrass.images import FilesystemStorage, Storage
from touchgrass.signatures import CURVE_ORDER, Signature, SignerKey, sign

ADMIN_PASSWORD = "test-admin-password"
ADMIN = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}
# The Pallas point (-1, 2): a valid Mina address, and one more with another x.
WALLET = mina.encode_address(mina.PALLAS_P - 1, 0)
OTHER_WALLET = "B62qiy32p8kAKnny8ZFwoMhYpBppM1DWVCqAPBYNcXnsAHhnfAAuXgg"


class ApiTestServer(TestServer):
    """aiohttp's test server on the API's own runner (timeouts, parser-level answers)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        kwargs.pop("handler_cancellation", None)  # as `touchgrass api` runs: handlers finish
        return ApiRunner(self.app, **kwargs)


@dataclass
class Api:
    client: TestClient
    pool: asyncpg.Pool
    storage: Storage
    private_key: str
    signer: SignerKey
    challenge_id: str = ""
    chain_id: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    async def make_challenge(self, *, starts: str = "-1 hour", ends: str = "+1 day",
                             deployed: bool = True) -> tuple[str, str]:
        challenge_id = await self.pool.fetchval(
            """INSERT INTO challenges (title, description, start_time, end_time,
                                       deployment_status, zkapp_address)
               VALUES ('Touch grass', 'A photo of grass', now() + $1::text::interval,
                       now() + $2::text::interval, $3, $4) RETURNING id""",
            starts.replace("+", ""), ends.replace("+", ""),
            "active" if deployed else "pending_deployment",
            WALLET if deployed else None,
        )
        chain_id = await self.pool.fetchval(
            "INSERT INTO chains (name, challenge_id) VALUES ('Default', $1) RETURNING id",
            challenge_id)
        return str(challenge_id), str(chain_id)

    def signed_form(self, image: bytes, *, chain_id: str | None = None,
                    wallet: str | None = WALLET, signature: Signature | None = None,
                    content_type: str = "image/png", omit: tuple[str, ...] = (),
                    override: dict[str, str] | None = None,
                    image_field: str = "image") -> aiohttp.FormData:
        signature = signature or sign(self.private_key, hashlib.sha256(image).digest(),
                                      self.signer.curve)
        values = {
            "chainId": chain_id or self.chain_id,
            "walletAddress": wallet or "",
            "signatureR": f"{signature.r:064x}",
            "signatureS": f"{signature.s:064x}",
            # clients send these; the server must ignore them
            "publicKeyX": f"{self.signer.x:064x}",
            "publicKeyY": f"{self.signer.y:064x}",
            **(override or {}),
        }
        form = aiohttp.FormData()
        if "image" not in omit:
            form.add_field(image_field, image, filename="photo.png", content_type=content_type)
        for name, value in values.items():
            if name not in omit:
                form.add_field(name, value)
        return form

    async def upload(self, image: bytes | None = None, **kwargs: Any) -> aiohttp.ClientResponse:
        image = os.urandom(256) if image is None else image
        return await self.client.post("/api/submissions", data=self.signed_form(image, **kwargs))

    async def remember(self) -> None:
        """Note everything written so far, for `assert_untouched`."""
        self.notes["before"] = await self.snapshot()

    async def assert_untouched(self) -> None:
        """Nothing was written since `remember`: a refused request left nothing behind."""
        assert await self.snapshot() == self.notes["before"]

    async def snapshot(self) -> dict[str, Any]:
        """Everything a request could have written."""
        counts = await self.pool.fetchrow(
            "SELECT (SELECT count(*) FROM users) AS users,"
            "       (SELECT count(*) FROM submissions) AS submissions,"
            "       (SELECT count(*) FROM likes) AS likes,"
            "       (SELECT count(*) FROM challenges) AS challenges,"
            "       (SELECT coalesce(sum(length), 0) FROM chains) AS positions,"
            "       (SELECT count(*) FROM pending_images) AS pending_images")
        return {**dict(counts), "objects": await stored_keys(self.storage)}


async def stored_keys(storage: Storage) -> set[str]:
    if isinstance(storage, FilesystemStorage):
        root = storage.root
        if not root.exists():
            return set()
        return {str(p.relative_to(root)) for p in root.rglob("*")
                if p.is_file() and not p.name.endswith(".type") and not p.name.startswith(".tmp")}
    from touchgrass.images import S3Storage

    assert isinstance(storage, S3Storage)
    await storage.ensure_bucket()
    return {obj.object_name async for obj in  # type: ignore[attr-defined]
            storage._client.list_objects(storage.bucket, recursive=True)}


def high_s(signature: Signature, curve: str) -> Signature:
    order = CURVE_ORDER[curve]
    return signature if signature.s > order // 2 else Signature(signature.r, order - signature.s)


def image_bytes(size: int = 256) -> bytes:
    return os.urandom(size)


def repo_file(*parts: str) -> Path:
    return Path(__file__).resolve().parents[2].joinpath(*parts)
