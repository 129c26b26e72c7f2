"""Both storage backends behave alike: the filesystem one and S3 on a real SeaweedFS."""

from __future__ import annotations

import asyncio
import os

import pytest

from touchgrass.errors import ObjectNotFound, StorageError
from touchgrass.images import FilesystemStorage, S3Storage

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["fs", "s3"])
async def storage(request, tmp_path):
    if request.param == "fs":
        store = FilesystemStorage(tmp_path / "images")
    else:
        server = request.getfixturevalue("s3_server")
        store = S3Storage(server.endpoint, server.access_key, server.secret_key,
                          f"store-{os.urandom(4).hex()}")
    yield store
    await store.close()


async def test_put_get_stat_stream_delete(storage) -> None:
    data = os.urandom(200_000)
    await storage.put("images/abc", data, "image/png")
    assert await storage.exists("images/abc")
    assert await storage.get("images/abc") == data
    info = await storage.stat("images/abc")
    assert info.size == len(data) and info.content_type == "image/png"
    chunks = [chunk async for chunk in storage.stream("images/abc", 65536)]
    assert b"".join(chunks) == data and len(chunks) > 1
    await storage.delete("images/abc")
    await storage.delete("images/abc")  # deleting twice is fine
    assert not await storage.exists("images/abc") and await storage.stat("images/abc") is None
    with pytest.raises(ObjectNotFound):
        await storage.get("images/abc")
    await storage.check()


async def test_concurrent_writes_of_one_key_leave_one_whole_object(storage) -> None:
    data = os.urandom(100_000)
    await asyncio.gather(*(storage.put("images/same", data, "image/jpeg") for _ in range(8)))
    assert await storage.get("images/same") == data


async def test_filesystem_refuses_keys_outside_its_folder(tmp_path) -> None:
    with pytest.raises(StorageError, match="escapes"):
        await FilesystemStorage(tmp_path).put("../outside", b"x", "image/png")


async def test_s3_with_wrong_credentials_is_a_clear_storage_error(s3_server) -> None:
    store = S3Storage(s3_server.endpoint, s3_server.access_key, "wrong-secret", "any")
    try:
        with pytest.raises(StorageError, match="SignatureDoesNotMatch|AccessDenied|InvalidAccessKey"):
            await store.check()
    finally:
        await store.close()


async def test_s3_missing_bucket_without_permission_to_create(s3_server) -> None:
    store = S3Storage(s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
                      f"absent-{os.urandom(4).hex()}", create_bucket=False)
    try:
        with pytest.raises(StorageError, match="does not exist and MINIO_CREATE_BUCKET is false"):
            await store.check()
    finally:
        await store.close()


async def test_s3_unreachable(tmp_path) -> None:
    store = S3Storage("127.0.0.1:1", "k", "s", "touchgrass")
    try:
        with pytest.raises(StorageError, match="unreachable"):
            await store.check()
    finally:
        await store.close()


async def test_a_frozen_s3_is_an_error_in_seconds(s3_server) -> None:
    """An S3 that takes connections and never answers (a SIGSTOPped server's socket does
    just that): MINIO_TIMEOUT_S, not the client's five minutes and five retries."""
    async def frozen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    server = await asyncio.start_server(frozen, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = S3Storage(f"127.0.0.1:{port}", "k", "s", "touchgrass", timeout_s=1.0)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(StorageError, match="unreachable"):
            await store.check()
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        await store.close()
        server.close()
    # The real server still answers through the same client settings.
    live = S3Storage(s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
                     f"frozen-{os.urandom(4).hex()}", timeout_s=1.0, pool_size=2)
    try:
        await live.put("a", b"x", "image/png")
        assert await live.get("a") == b"x"
    finally:
        await live.close()
