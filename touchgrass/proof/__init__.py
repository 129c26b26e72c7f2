"""Proving that a signature over an image digest is valid (the o1js prover lives here).

The generate role depends only on the `Prover` protocol below; the o1js process pool that
implements it is a separate module, so the queue can be tested without Node.js.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from touchgrass.signature import Signature

__all__ = ["ProofRequest", "Prover"]


@dataclass(frozen=True)
class ProofRequest:
    """What is proven: `signature` is a valid ECDSA signature over `digest` by the signer key."""

    digest: bytes  # the raw 32-byte SHA-256 of the image
    signature: Signature
    sha256_hex: str  # for logs and errors


class Prover(Protocol):
    async def prove(self, request: ProofRequest) -> dict[str, Any]:
        """The proof in o1js `toJSON()` form.

        Raises `PermanentJobError` when the signature does not verify (no retry can help);
        anything else is retried by the queue.
        """
        ...
