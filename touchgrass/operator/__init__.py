"""Operator commands: `touchgrass status`, `resubmit`, `verify`, `prove`, `verify-proof`."""

from __future__ import annotations

import re

from touchgrass.errors import InvalidInput

__all__ = ["parse_sha256"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def parse_sha256(value: str) -> str:
    """A submission's SHA-256 as the commands take it: 64 hex characters, any case."""
    normal = value.strip().lower()
    if not _SHA256.match(normal):
        raise InvalidInput(f"{value!r} is not a SHA-256 (64 hex characters)")
    return normal
