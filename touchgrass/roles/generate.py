"""`touchgrass generate`: stored image -> checked digest -> proof -> `proof_publishing`."""

from __future__ import annotations

import hashlib

from touchgrass.errors import ObjectNotFound, PermanentJobError, StorageError
from touchgrass.images import Storage, open_storage
from touchgrass.node.pool import Progress
from touchgrass.node.prover import ProofRequest, Prover
from touchgrass.queue.engine import Claimed
from touchgrass.queue.outcomes import Done, Outcome, Reject, Retry
from touchgrass.queue.payloads import GeneratePayload, GenerateResult, read_payload
from touchgrass.queue.stages import GENERATE
from touchgrass.queue.worker import Handler
from touchgrass.roles.runner import Lane, run_lanes
from touchgrass.settings import (
    DatabaseSettings,
    ProverSettings,
    QueueSettings,
    SignerSettings,
    StorageSettings,
)
from touchgrass.signatures import Signature, SignerKey

__all__ = ["generate_lane", "make_handler", "run"]


def make_handler(storage: Storage, prover: Prover, signer: SignerKey) -> Handler:
    """The generate stage as a plain function of one claimed row."""

    async def generate(job: Claimed) -> Outcome:
        row = read_payload(GeneratePayload, job.payload)
        sha256_hex, key = row.sha256_hash, row.storage_key
        if not key:
            return Reject("submission has no storage key")
        try:
            image = await storage.get(key)
        except ObjectNotFound:
            return Reject(f"image {key} is missing from storage")
        except StorageError as error:
            # The storage being down is not the photo's fault: wait, as for the database,
            # without using an attempt (a long outage must not reject every photo it meets).
            return Retry(f"storage: {error}", consume_attempt=False)
        digest = hashlib.sha256(image).digest()
        # The bytes were hashed at upload; storage is outside our control, so check again.
        if digest.hex() != sha256_hex:
            return Reject(
                f"stored image does not match its sha256 (stored bytes hash to {digest.hex()})"
            )
        try:
            signature = Signature.from_json(row.signature)
        except ValueError as error:
            raise PermanentJobError(str(error)) from None
        # Checked at upload too; the signer key may have changed since (a redeploy with a
        # new SIGNER_PUBLIC_KEY), and proving a signature that does not verify cannot work.
        if not signer.verify(digest, signature):
            return Reject(f"the signature does not verify for the configured signer key "
                          f"({signer.curve})")
        proof = await prover.prove(ProofRequest(digest, signature, sha256_hex))
        return Done(GenerateResult(proof_json=proof).columns())

    return generate


def generate_lane(storage: Storage, prover: Prover, signer: SignerKey) -> Lane:
    return Lane(GENERATE, make_handler(storage, prover, signer))


async def run(
    *, database: DatabaseSettings, queue: QueueSettings, storage: StorageSettings,
    signer: SignerSettings, prover: ProverSettings, concurrency: int,
    progress: Progress | None = None,
) -> None:
    """`touchgrass generate`: start `concurrency` prover processes, then claim and prove.

    The provers are ready before the first claim, so no row waits under a lease for a
    compile; the pool is closed (no Node process left) however the role ends.
    """
    from touchgrass.node.prover import open_prover

    store = open_storage(storage)
    o1js = await open_prover(prover, signer.key, size=concurrency, progress=progress)
    try:
        await run_lanes("generate", [generate_lane(store, o1js, signer.key)], database=database,
                        queue=queue, concurrency=concurrency)
    finally:
        await o1js.close()
        await store.close()
