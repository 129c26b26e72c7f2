"""Images in S3-compatible storage (MinIO in production; SeaweedFS in the tests; AWS works)."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
from miniopy_async import Minio  # type: ignore[attr-defined]  # re-exported, untyped
from miniopy_async.error import S3Error

from touchgrass.errors import ObjectNotFound, StorageError
from touchgrass.images.base import ObjectInfo

__all__ = ["S3Storage"]

_MISSING = {"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"}
# What an S3 that cannot be reached, or stops answering (MINIO_TIMEOUT_S), raises.
_UNREACHABLE = (aiohttp.ClientError, OSError, TimeoutError)
# Where `check` writes (and removes at once) its probe: outside images/, which the sweep owns.
HEALTH_PREFIX = "health/probe-"


class S3Storage:
    """One bucket; keys as given (`images/<sha256>`), content type stored with the object."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, *,
                 region: str | None = None, create_bucket: bool = True, pool_size: int = 32,
                 timeout_s: float = 10.0) -> None:
        parsed = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        self.endpoint = parsed.netloc
        self.bucket = bucket
        self._create_bucket = create_bucket
        self._client = Minio(self.endpoint, access_key=access_key, secret_key=secret_key,
                             secure=parsed.scheme == "https", region=region)
        self._pool_size, self._timeout_s = pool_size, timeout_s
        self._bucket_ready = False

    def _ensure_session(self) -> None:
        """Our own HTTP session, made on first use (inside the event loop): the client's
        default holds 10 connections, waits 5 minutes per read and retries 5 times, so a
        frozen S3 hung every request for the whole outage. Here: MINIO_POOL_SIZE connections,
        MINIO_TIMEOUT_S to connect and between reads, and no retries: the queue retries a
        stage, and the API answers 503 at once."""
        if self._client._session is None:  # noqa: SLF001 - the client exposes no getter
            timeout = aiohttp.ClientTimeout(connect=self._timeout_s, sock_connect=self._timeout_s,
                                            sock_read=self._timeout_s)
            self._client.set_session(aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size), timeout=timeout))

    def _error(self, action: str, key: str, error: Exception) -> StorageError:
        if isinstance(error, S3Error):
            if error.code in _MISSING:
                return ObjectNotFound(f"no stored object {key}")
            return StorageError(f"S3 {action} {key} failed: {error.code}")
        return StorageError(f"S3 at {self.endpoint} unreachable during {action} {key}: "
                            f"{type(error).__name__}")

    async def ensure_bucket(self) -> None:
        """Check the bucket once; create it when missing and allowed (MINIO_CREATE_BUCKET)."""
        self._ensure_session()
        if self._bucket_ready:
            return
        try:
            if not await self._client.bucket_exists(self.bucket):
                if not self._create_bucket:
                    raise StorageError(f"bucket {self.bucket!r} does not exist and "
                                       "MINIO_CREATE_BUCKET is false")
                await self._client.make_bucket(self.bucket)
        except S3Error as error:
            if error.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise StorageError(f"S3 bucket {self.bucket!r}: {error.code}") from error
        except _UNREACHABLE as error:
            raise StorageError(f"S3 at {self.endpoint} unreachable: {type(error).__name__}") from error
        self._bucket_ready = True

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self.ensure_bucket()
        try:
            await self._client.put_object(self.bucket, key, io.BytesIO(data), len(data),
                                          content_type=content_type)
        except (S3Error, *_UNREACHABLE) as error:
            raise self._error("put", key, error) from error

    async def get(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(key)])

    async def stream(self, key: str, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        await self.ensure_bucket()
        try:
            response = await self._client.get_object(self.bucket, key)
        except (S3Error, *_UNREACHABLE) as error:
            raise self._error("get", key, error) from error
        try:
            async for chunk in response.content.iter_chunked(chunk_size):
                yield chunk
        except _UNREACHABLE as error:
            raise self._error("get", key, error) from error
        finally:
            response.release()

    async def stat(self, key: str) -> ObjectInfo | None:
        await self.ensure_bucket()
        try:
            found = await self._client.stat_object(self.bucket, key)
        except S3Error as error:
            if error.code in _MISSING:
                return None
            raise self._error("stat", key, error) from error
        except _UNREACHABLE as error:
            raise self._error("stat", key, error) from error
        return ObjectInfo(size=found.size or 0, content_type=found.content_type)

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def delete(self, key: str) -> None:
        await self.ensure_bucket()
        try:
            await self._client.remove_object(self.bucket, key)
        except (S3Error, *_UNREACHABLE) as error:
            failure = self._error("delete", key, error)
            if not isinstance(failure, ObjectNotFound):
                raise failure from error

    async def check(self) -> None:
        """The bucket exists, and it takes a write: a read-only bucket (a policy, a full
        disk, a read-only key) would otherwise look healthy while every upload fails."""
        self._bucket_ready = False
        await self.ensure_bucket()
        probe = f"{HEALTH_PREFIX}{uuid.uuid4().hex}"
        try:
            await self._client.put_object(self.bucket, probe, io.BytesIO(b""), 0)
        except S3Error as error:
            raise StorageError(f"S3 bucket {self.bucket!r} refuses writes: {error.code}") from error
        except _UNREACHABLE as error:
            raise self._error("put", probe, error) from error
        await self.delete(probe)

    async def close(self) -> None:
        await self._client.close_session()
