"""The real o1js prover (marked zk: slow, run in CI): proofs, verification, refusals, crashes."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import os
import signal

import pytest

from tests.support.api import high_s
from touchgrass.errors import PermanentJobError, ProverCrashed, ProverRequestError
from touchgrass.node.prover import O1jsProver, ProofRequest, open_prover
from touchgrass.settings import ProverSettings
from touchgrass.signatures import Signature, SignerKey, generate_private_key, sign

pytestmark = [pytest.mark.anyio, pytest.mark.zk, pytest.mark.timeout(1200)]


def request_for(private: str, curve: str, image: bytes | None = None,
                signature: Signature | None = None) -> ProofRequest:
    digest = hashlib.sha256(image or os.urandom(512)).digest()
    return ProofRequest(digest, signature or sign(private, digest, curve), digest.hex())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def k1():
    """One secp256k1 prover process for the module (a start costs a compile)."""
    private, public = generate_private_key("secp256k1")
    prover = await open_prover(ProverSettings(), public, size=1)
    yield private, prover
    await prover.close()


async def test_a_coincurve_signature_is_proven_and_the_proof_verifies(k1) -> None:
    private, prover = k1
    request = request_for(private, "secp256k1")
    proof = await prover.prove(request)
    assert set(proof) >= {"publicInput", "proof", "maxProofsVerified"}
    assert (await prover.verify(proof, digest=request.digest)).valid
    assert (await prover.verify(proof)).valid

    other = hashlib.sha256(b"another photo").digest()
    wrong_input = await prover.verify(proof, digest=other)
    assert not wrong_input.valid and "another digest or signer" in wrong_input.reason

    _, stranger = generate_private_key("secp256k1")
    assert not (await prover.verify(proof, digest=request.digest, signer=stranger)).valid

    tampered_input = copy.deepcopy(proof)
    tampered_input["publicInput"][0] = str((int(tampered_input["publicInput"][0]) + 1) % 256)
    assert not (await prover.verify(tampered_input)).valid

    tampered_proof = copy.deepcopy(proof)
    body = tampered_proof["proof"]
    middle = len(body) // 2
    tampered_proof["proof"] = body[:middle] + ("A" if body[middle] != "A" else "B") + body[middle + 1:]
    assert not (await prover.verify(tampered_proof)).valid


async def test_high_s_signatures_prove_the_same_public_input(k1) -> None:
    private, prover = k1
    image = os.urandom(256)
    low = request_for(private, "secp256k1", image)
    high = ProofRequest(low.digest, high_s(low.signature, "secp256k1"), low.sha256_hex)
    proof = await prover.prove(high)
    assert (await prover.verify(proof, digest=low.digest)).valid


async def test_a_signature_that_does_not_verify_is_a_permanent_failure(k1) -> None:
    private, prover = k1
    request = request_for(private, "secp256k1")
    wrong = sign(private, hashlib.sha256(b"other").digest(), "secp256k1")
    with pytest.raises(PermanentJobError, match="does not verify"):
        await prover.prove(ProofRequest(request.digest, wrong, request.sha256_hex))
    with pytest.raises(ProverRequestError) as refused:
        await prover.pool.run("prove", {"digest": "zz", "signer": {}, "signature": {}})
    assert refused.value.code == "bad_request" and not refused.value.retryable


async def test_a_prover_killed_mid_proof_fails_that_request_and_is_replaced(k1) -> None:
    private, prover = k1
    [pid] = prover.pool.pids
    proving = asyncio.create_task(prover.prove(request_for(private, "secp256k1")))
    await asyncio.sleep(3)  # well into the proof
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ProverCrashed):
        await proving
    assert prover.pool.restarts == 1
    proof = await asyncio.wait_for(prover.prove(request_for(private, "secp256k1")), 600)
    assert (await prover.verify(proof)).valid
    [new_pid] = prover.pool.pids
    assert new_pid != pid


async def test_p256_works_the_same_with_signer_curve_secp256r1() -> None:
    private, public = generate_private_key("secp256r1")
    prover = await open_prover(ProverSettings(), public, size=1)
    try:
        request = request_for(private, "secp256r1")
        proof = await prover.prove(request)
        assert (await prover.verify(proof, digest=request.digest)).valid
        assert not (await prover.verify(proof, digest=hashlib.sha256(b"x").digest())).valid
        with pytest.raises(PermanentJobError):
            wrong = sign(private, hashlib.sha256(b"other").digest(), "secp256r1")
            await prover.prove(ProofRequest(request.digest, wrong, request.sha256_hex))
    finally:
        await prover.close()


def test_the_prover_is_an_instance_of_the_protocol() -> None:
    from touchgrass.node.prover import Prover

    def accepts(prover: Prover) -> None: ...

    accepts(O1jsProver.__new__(O1jsProver))
    assert SignerKey  # imported for type clarity
