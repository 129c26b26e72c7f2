"""`touchgrass prove` and `touchgrass verify-proof`: a proof of one photo, offline.

A proof file is JSON: {"curve", "sha256", "signer", "proof"}; `verify-proof` also takes a
bare o1js proof (as stored in `proof_json`), checked against SIGNER_PUBLIC_KEY then.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from touchgrass.errors import InvalidInput, OperatorError
from touchgrass.node import ops
from touchgrass.node.checks import open_checks
from touchgrass.node.keys import known_keys
from touchgrass.node.pool import Progress
from touchgrass.node.prover import ProofRequest, Verdict, open_prover
from touchgrass.settings import ProverSettings
from touchgrass.signatures import CURVE_ORDER, Signature, SignerKey

__all__ = ["ProofFile", "parse_signature", "prove_image", "read_proof_file", "verify_proof_file"]


@dataclass(frozen=True)
class ProofFile:
    proof: dict[str, Any]
    signer: SignerKey | None  # None: a bare proof, checked against the configured key
    digest: bytes | None  # None: a bare proof without --image, checked for validity only


def parse_signature(text: str) -> Signature:
    """`r,s` in hex (64 characters each, optional 0x), as `--signature` takes it."""
    try:
        r_hex, s_hex = (part.strip().removeprefix("0x") for part in text.split(","))
        return Signature.from_hex(r_hex, s_hex)
    except ValueError:
        raise InvalidInput("--signature must be r,s with 64 hex characters each") from None


async def prove_image(settings: ProverSettings, signer: SignerKey, image: Path,
                      signature: Signature, target: Path,
                      progress: Progress | None = None) -> Path:
    """Prove that `signature` signs the image's SHA-256 and write the proof file."""
    digest = hashlib.sha256(image.read_bytes()).digest()
    if not signer.verify(digest, signature):
        raise OperatorError(f"the signature does not verify for {image.name}'s SHA-256 "
                            f"{digest.hex()} and SIGNER_PUBLIC_KEY ({signer.curve})")
    prover = await open_prover(settings, signer, size=1, progress=progress)
    try:
        proof = await prover.prove(ProofRequest(digest, signature, digest.hex()))
    finally:
        await prover.close()
    target.write_text(json.dumps({"curve": signer.curve, "sha256": digest.hex(),
                                  "signer": str(signer), "proof": proof}))
    return target


def read_proof_file(file: Path, image: Path | None = None) -> ProofFile:
    """The proof, its signer and the digest it must be about (`image` wins over the file's)."""
    try:
        document = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"{file} is not a proof JSON file: {error}") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"{file} is not a proof JSON object")
    proof = document["proof"] if isinstance(document.get("proof"), dict) else document
    signer = None
    if "signer" in document:
        try:
            curve = document.get("curve", "secp256k1")
            if curve not in CURVE_ORDER:
                raise ValueError(f"unknown curve {curve!r}")
            signer = SignerKey.parse(str(document["signer"]), curve)
        except (ValueError, TypeError) as error:
            raise InvalidInput(f"the signer key in {file} is invalid: {error}") from None
    digest = None
    if image is not None:
        digest = hashlib.sha256(image.read_bytes()).digest()
    elif isinstance(document.get("sha256"), str):
        try:
            digest = bytes.fromhex(document["sha256"])
        except ValueError:
            raise InvalidInput(f"the sha256 in {file} is not hex") from None
    return ProofFile(proof, signer, digest)


async def verify_proof_file(settings: ProverSettings, file: ProofFile, signer: SignerKey
                            ) -> Verdict:
    """Against the verification key this version stores for the signer's curve: no compile,
    ~7 s here, most of it o1js loading the SRS and verifying (bench/README.md "Receipts")."""
    key = known_keys().current(signer.curve).program
    async with open_checks(settings) as checks:
        valid, reason = await ops.verify_with_key(
            checks, file.proof, curve=signer.curve, verification_key=key.as_json(),
            digest=file.digest, signer=signer if file.digest else None)
    return Verdict(valid, reason)
