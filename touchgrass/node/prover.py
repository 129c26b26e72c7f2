"""Proving that a signature over an image digest is valid: what the generate role asks for
(`ProofRequest`, the `Prover` protocol it depends on, so the queue can be tested without
Node.js) and the real prover, the o1js AuthenticityProgram behind a pool of Node.js
processes (`O1jsProver`), which also verifies proofs (same processes, same key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from touchgrass.errors import PermanentJobError, ProverRequestError
from touchgrass.node import ops
from touchgrass.node.pool import Progress, ProverPool, open_pool
from touchgrass.settings import ProverSettings
from touchgrass.signatures import Signature, SignerKey, low_s

__all__ = ["O1jsProver", "ProofRequest", "Prover", "Verdict", "open_prover"]


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


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str = ""


class O1jsProver:
    """Implements the `Prover` protocol; also verifies proofs (same processes, same key)."""

    def __init__(self, pool: ProverPool, signer: SignerKey) -> None:
        self.pool = pool
        self.signer = signer

    async def prove(self, request: ProofRequest) -> dict[str, Any]:
        signature = low_s(request.signature, self.signer.curve)
        try:
            return await ops.prove(self.pool, digest=request.digest, signer=self.signer,
                                   signature=signature)
        except ProverRequestError as error:
            if not error.retryable:
                raise PermanentJobError(f"prover refused: {error.message}") from None
            raise

    async def verify(self, proof: dict[str, Any], *, digest: bytes | None = None,
                     signer: SignerKey | None = None) -> Verdict:
        """Does `proof` verify (and, given a digest, is it about that digest and signer)?"""
        valid, reason = await ops.verify(self.pool, proof, digest=digest,
                                         signer=(signer or self.signer) if digest else None)
        return Verdict(valid, reason)

    async def close(self) -> None:
        await self.pool.close()


async def open_prover(settings: ProverSettings, signer: SignerKey, *, size: int,
                      progress: Progress | None = None) -> O1jsProver:
    """A prover of `size` processes for this signer's curve, ready to prove."""
    return O1jsProver(await open_pool(settings, curve=signer.curve, size=size,
                                      progress=progress), signer)
