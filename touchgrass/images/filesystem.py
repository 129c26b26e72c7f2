"""Images in a local folder: the default when no S3 endpoint is configured (`touchgrass dev`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from touchgrass.errors import ObjectNotFound, StorageError
from touchgrass.images.base import ObjectInfo

__all__ = ["FilesystemStorage"]


class FilesystemStorage:
    """Keys map to files under `root`; the content type sits beside each in `<file>.type`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"storage key escapes the storage folder: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await anyio.to_thread.run_sync(self._put, key, data, content_type)

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path.with_name(path.name + ".type"), content_type.encode())
            _atomic_write(path, data)
        except OSError as error:
            raise StorageError(f"cannot write {key}: {error.strerror}") from error

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await anyio.Path(path).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"no stored object {key}") from None
        except OSError as error:
            raise StorageError(f"cannot read {key}: {error.strerror}") from error

    async def stream(self, key: str, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        try:
            handle = await anyio.open_file(self._path(key), "rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"no stored object {key}") from None
        except OSError as error:
            raise StorageError(f"cannot read {key}: {error.strerror}") from error
        async with handle:
            while chunk := await handle.read(chunk_size):
                yield chunk

    async def stat(self, key: str) -> ObjectInfo | None:
        path = anyio.Path(self._path(key))
        try:
            size = (await path.stat()).st_size
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"cannot stat {key}: {error.strerror}") from error
        try:
            content_type = (await anyio.Path(self._path(key + ".type")).read_text()).strip()
        except OSError:
            content_type = ""
        return ObjectInfo(size=size, content_type=content_type or None)

    async def exists(self, key: str) -> bool:
        return await anyio.Path(self._path(key)).is_file()

    async def delete(self, key: str) -> None:
        path = self._path(key)
        for target in (path, path.with_name(path.name + ".type")):
            try:
                await anyio.Path(target).unlink(missing_ok=True)
            except OSError as error:
                raise StorageError(f"cannot delete {key}: {error.strerror}") from error

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise StorageError(f"storage folder {self.root} is not writable")

        try:
            await anyio.to_thread.run_sync(probe)
        except OSError as error:
            raise StorageError(f"storage folder {self.root}: {error.strerror}") from error


    async def remove_stale_temporary(self, older_than_s: float) -> int:
        """Remove temp files a failed write could not (a folder made read-only mid-write
        cannot unlink them either): they hold image bytes no row refers to. Young ones may be
        writes in progress and stay. Returns how many went."""
        def remove() -> int:
            if not self.root.is_dir():
                return 0
            cutoff = time.time() - older_than_s
            removed = 0
            for temp in self.root.rglob(".tmp-*"):
                with contextlib.suppress(OSError):
                    if temp.is_file() and temp.stat().st_mtime < cutoff:
                        temp.unlink()
                        removed += 1
            return removed
        return await anyio.to_thread.run_sync(remove)

    async def close(self) -> None:
        """Nothing to release."""


def _atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: a crash never leaves half an image."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
