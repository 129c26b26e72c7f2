"""The storage interface both backends implement; keys are content addresses."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Storage", "image_key"]


def image_key(sha256_hex: str) -> str:
    """`images/<sha256>`: the same bytes always land on the same key, so a write is idempotent."""
    return f"images/{sha256_hex}"


class Storage(Protocol):
    """An object store for images. Every method raises `StorageError` on backend failure."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` atomically: readers see all of it or nothing."""

    async def get(self, key: str) -> bytes:
        """The bytes under `key`; `ObjectNotFound` when there are none."""

    async def content_type(self, key: str) -> str | None:
        """The stored content type, None when unknown or missing."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove `key`; deleting a missing key is not an error."""

    async def check(self) -> None:
        """Raise `StorageError` if the backend cannot be used (for `/health`)."""
