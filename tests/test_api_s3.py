"""The upload path with S3 storage on a real SeaweedFS."""

from __future__ import annotations

import hashlib

import asyncpg
import pytest

from tests.support.api import OTHER_WALLET, image_bytes

pytestmark = pytest.mark.anyio


async def test_upload_read_and_duplicate_on_s3(make_api) -> None:
    api = await make_api(storage="s3")
    image = image_bytes(50_000)
    key = f"images/{hashlib.sha256(image).hexdigest()}"
    created = await api.upload(image, content_type="image/jpeg")
    assert created.status == 201
    body = await created.json()
    served = await api.client.get(f"/api/submissions/{body['id']}/image")
    assert await served.read() == image and served.headers["Content-Type"] == "image/jpeg"
    before = await api.snapshot()
    duplicate = await api.upload(image, wallet=OTHER_WALLET, content_type="image/png")
    assert duplicate.status == 409
    assert await api.snapshot() == before
    assert await api.storage.get(key) == image
    assert (await api.storage.stat(key)).content_type == "image/jpeg"  # original kept


async def test_failed_insert_leaves_no_object_on_s3(make_api, monkeypatch) -> None:
    from touchgrass.store import submissions

    api = await make_api(storage="s3")
    before = await api.snapshot()

    async def broken(*args, **kwargs):
        raise asyncpg.PostgresError("insert failed (test)")

    monkeypatch.setattr(submissions, "create", broken)
    assert (await api.upload()).status == 500
    assert await api.snapshot() == before


async def test_health_checks_s3(make_api) -> None:
    api = await make_api(storage="s3")
    assert (await (await api.client.get("/health")).json())["status"] == "healthy"
