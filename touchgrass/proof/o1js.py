"""The real Prover: the o1js AuthenticityProgram, behind a pool of Node.js processes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from touchgrass.errors import PermanentJobError, ProverRequestError
from touchgrass.proof import ProofRequest
from touchgrass.proof.install import install
from touchgrass.proof.pool import PoolConfig, Progress, ProverPool
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

    def _signer(self, signer: SignerKey | None = None) -> dict[str, str]:
        key = signer or self.signer
        return {"x": f"{key.x:064x}", "y": f"{key.y:064x}"}

    async def prove(self, request: ProofRequest) -> dict[str, Any]:
        signature = low_s(request.signature, self.signer.curve)
        try:
            result = await self.pool.run("prove", {
                "digest": request.digest.hex(),
                "signer": self._signer(),
                "signature": {"r": f"{signature.r:064x}", "s": f"{signature.s:064x}"},
            })
        except ProverRequestError as error:
            if not error.retryable:
                raise PermanentJobError(f"prover refused: {error.message}") from None
            raise
        return result["proof"]

    async def verify(self, proof: dict[str, Any], *, digest: bytes | None = None,
                     signer: SignerKey | None = None) -> Verdict:
        """Does `proof` verify (and, given a digest, is it about that digest and signer)?"""
        params: dict[str, Any] = {"proof": proof}
        if digest is not None:
            params.update(digest=digest.hex(), signer=self._signer(signer))
        try:
            result = await self.pool.run("verify", params)
        except ProverRequestError as error:
            return Verdict(False, error.message)
        return Verdict(bool(result["valid"]), str(result.get("reason", "")))

    async def close(self) -> None:
        await self.pool.close()


async def open_prover(settings: ProverSettings, signer: SignerKey, *, size: int,
                      progress: Progress | None = None) -> O1jsProver:
    """Install the JS dependencies when missing, start `size` processes, wait until ready."""
    import anyio

    installation = await anyio.to_thread.run_sync(
        lambda: install(settings.prover_js_dir, settings.node_binary))
    settings.circuit_cache_path.mkdir(parents=True, exist_ok=True)
    pool = ProverPool(PoolConfig(
        size=size, curve=signer.curve, cache_dir=str(settings.circuit_cache_path),
        node_binary=settings.node_binary, threads=settings.prover_threads,
        request_timeout_s=settings.prover_timeout_s,
        start_timeout_s=settings.prover_start_timeout_s, max_proofs=settings.prover_max_proofs,
        max_rss_mb=settings.prover_max_rss_mb,
    ), installation)
    await pool.start(progress)
    return O1jsProver(pool, signer)
