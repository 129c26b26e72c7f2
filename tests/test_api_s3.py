"""The upload path with S3 storage on a real SeaweedFS."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time

import asyncpg
import pytest

from tests.support.api import OTHER_WALLET, image_bytes, stored_keys

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


async def test_slow_image_readers_cannot_take_the_storage_pool(make_api) -> None:
    """Twelve clients that ask for a large image and never read it held every S3 connection
    (the pool held 10): /health answered 503 and uploads hung. An image response now gets
    IMAGE_WRITE_TIMEOUT_S per chunk, then the connection is cut and its S3 connection freed."""
    api = await make_api(storage="s3", s3_pool_size=8, image_write_timeout_s=1.0,
                         upload_max_size=8 * 1024 * 1024)
    image = image_bytes(6 * 1024 * 1024)
    created = await api.upload(image, content_type="image/jpeg")
    assert created.status == 201, await created.text()
    path = f"/api/submissions/{(await created.json())['id']}/image"
    readers = []
    for _ in range(12):
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the handshake
        reader.connect((api.client.host, api.client.port))
        reader.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        readers.append(reader)  # and never read
    try:
        await asyncio.sleep(6)  # every slow reader is past its deadline (8 at a time)
        started = time.monotonic()
        health = await api.client.get("/health")
        assert health.status == 200, await health.text()
        assert time.monotonic() - started < 2
        served = await api.client.get(path)
        assert await served.read() == image
    finally:
        for reader in readers:
            reader.close()


async def test_health_says_so_when_the_bucket_refuses_writes(make_api) -> None:
    """A bucket the API may only read looked healthy while every upload failed."""
    api = await make_api(storage="s3-read-only")
    health = await api.client.get("/health")
    assert health.status == 503
    assert "refuses writes: AccessDenied" in (await health.json())["checks"]["storage"]
    writable = await make_api(storage="s3")
    assert (await writable.client.get("/health")).status == 200
    assert not {key for key in await stored_keys(writable.storage) if key.startswith("health/")}


@pytest.mark.parametrize("storage", ["s3", "fs"])
async def test_a_download_cut_short_is_one_info_line(make_api, caplog, storage: str) -> None:
    """A client that closes the connection mid-image was logged as an ERROR with a
    traceback (and counted as a 500) on S3; it is the client's doing: one INFO line."""
    import logging
    import struct

    caplog.set_level(logging.INFO)
    api = await make_api(storage=storage, upload_max_size=8 * 1024 * 1024)
    image = image_bytes(6 * 1024 * 1024)
    created = await api.upload(image, content_type="image/jpeg")
    path = f"/api/submissions/{(await created.json())['id']}/image"
    for _ in range(3):
        reader = socket.create_connection((api.client.host, api.client.port))
        reader.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        reader.settimeout(10)
        head = await asyncio.to_thread(reader.recv, 65536)  # the loop serves meanwhile
        assert head.startswith(b"HTTP/1.1 200"), head[:100]
        await asyncio.sleep(0.2)
        # An abortive close (RST), as a browser that navigates away does.
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reader.close()
    await asyncio.sleep(1)
    assert (await api.client.get("/health")).status == 200
    assert not [(r.levelname, r.getMessage()) for r in caplog.records
                if r.levelno >= logging.ERROR]
    went = [r for r in caplog.records if r.getMessage().startswith("client went away")]
    assert len(went) == 3 and all(r.levelname == "INFO" and not r.exc_info for r in went)
