"""The real Prover: the o1js AuthenticityProgram, behind a pool of Node.js processes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from touchgrass.errors import PermanentJobError, ProverRequestError
from touchgrass.node import ops
from touchgrass.node.pool import Progress, ProverPool, open_pool
from touchgrass.proof import ProofRequest
from touchgrass.settings import ProverSettings
from touchgrass.signing import SignerKey, low_s

__all__ = ["O1jsProver", "Verdict", "open_prover"]


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
