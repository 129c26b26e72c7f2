"""`touchgrass generate`: stored image -> checked digest -> proof -> `proof_publishing`."""

from __future__ import annotations

import hashlib

from touchgrass.errors import ObjectNotFound, PermanentJobError
from touchgrass.proof import ProofRequest, Prover
from touchgrass.queue.engine import Claimed
from touchgrass.queue.outcomes import Done, Outcome, Reject
from touchgrass.queue.stages import GENERATE
from touchgrass.queue.worker import Handler
from touchgrass.roles.runner import Lane
from touchgrass.signature import Signature
from touchgrass.storage import Storage

__all__ = ["generate_lane", "make_handler"]


def make_handler(storage: Storage, prover: Prover) -> Handler:
    """The generate stage as a plain function of one claimed row."""

    async def generate(job: Claimed) -> Outcome:
        sha256_hex: str = job.payload["sha256_hash"]
        key = job.payload["storage_key"]
        if not key:
            return Reject("submission has no storage key")
        try:
            image = await storage.get(key)
        except ObjectNotFound:
            return Reject(f"image {key} is missing from storage")
        digest = hashlib.sha256(image).digest()
        # The bytes were hashed at upload; storage is outside our control, so check again.
        if digest.hex() != sha256_hex:
            return Reject(
                f"stored image does not match its sha256 (stored bytes hash to {digest.hex()})"
            )
        try:
            signature = Signature.from_json(job.payload["signature"])
        except ValueError as error:
            raise PermanentJobError(str(error)) from None
        proof = await prover.prove(ProofRequest(digest, signature, sha256_hex))
        return Done({"proof_json": proof})

    return generate


def generate_lane(storage: Storage, prover: Prover) -> Lane:
    return Lane(GENERATE, make_handler(storage, prover))
