"""The storage interface both backends implement; keys are content addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ObjectInfo", "Storage", "image_key"]


def image_key(sha256_hex: str) -> str:
    """`images/<sha256>`: the same bytes always land on the same key, so a write is idempotent."""
    return f"images/{sha256_hex}"


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str | None


class Storage(Protocol):
    """An object store for images. Every method raises `StorageError` on backend failure."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` atomically: readers see all of it or nothing."""

    async def get(self, key: str) -> bytes:
        """The bytes under `key`; `ObjectNotFound` when there are none."""

    def stream(self, key: str, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """The bytes under `key` in chunks, for serving without holding the whole image."""

    async def stat(self, key: str) -> ObjectInfo | None:
        """Size and content type, or None when nothing is stored under `key`."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove `key`; deleting a missing key is not an error."""

    async def check(self) -> None:
        """Raise `StorageError` if the backend cannot be used (for `/health`)."""

    async def close(self) -> None:
        """Release connections."""
