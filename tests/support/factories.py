"""Rows for tests, written with plain SQL (the API that normally writes them is tested on its own)."""

from __future__ import annotations

import hashlib
import os
import secrets
from uuid import UUID

import asyncpg

from touchgrass import mina
from touchgrass.images import FilesystemStorage, image_key
from touchgrass.signatures import public_key_of, sign

WALLET = "B62qtestwallet"
# One fixed signer for every queued test row (in every test process), so the generate
# stage's signature check passes. A throw-away key derived from a public string.
SIGNER_PRIVATE_KEY = hashlib.sha256(b"touchgrass test signer").hexdigest()
SIGNER = public_key_of(SIGNER_PRIVATE_KEY, "secp256k1")


async def make_chain(connection: asyncpg.Connection, *, deployed: bool = True) -> tuple[UUID, UUID]:
    """A challenge open now and its Default chain; returns (challenge_id, chain_id)."""
    await connection.execute(
        "INSERT INTO users (wallet_address) VALUES ($1) ON CONFLICT DO NOTHING", WALLET
    )
    challenge_id = await connection.fetchval(
        """INSERT INTO challenges (title, description, start_time, end_time, deployment_status,
                                   zkapp_address)
           VALUES ('test', 'test', now() - interval '1 hour', now() + interval '1 day', $1, $2)
           RETURNING id""",
        "active" if deployed else "pending_deployment", "B62qzkapp" if deployed else None,
    )
    chain_id = await connection.fetchval(
        "INSERT INTO chains (name, challenge_id) VALUES ('Default', $1) RETURNING id", challenge_id
    )
    return challenge_id, chain_id


async def queue_submissions(
    connection: asyncpg.Connection, count: int, *, status: str = "proof_generation",
    storage: FilesystemStorage | None = None, proof: dict | None = None, notify: bool = False,
) -> list[dict]:
    """`count` submissions in `status`, their images in `storage` when given; returns
    [{id, sha256_hash}] in queue order."""
    challenge_id, chain_id = await make_chain(connection)
    images = [os.urandom(64) for _ in range(count)]
    hashes = [hashlib.sha256(image).hexdigest() for image in images]
    signatures = [sign(SIGNER_PRIVATE_KEY, bytes.fromhex(sha), "secp256k1").to_json()
                  for sha in hashes]
    if storage is not None:
        for image, sha in zip(images, hashes, strict=True):
            await storage.put(image_key(sha), image, "image/png")
    rows = await connection.fetch(
        """INSERT INTO submissions (sha256_hash, wallet_address, signature, challenge_id, chain_id,
                                    storage_key, chain_position, status, queued_at, proof_json,
                                    proof_generated_at, correlation_id, run_at)
           SELECT h.sha, $2, h.signature, $4, $5, 'images/' || h.sha, h.n, $6, now(), $7,
                  CASE WHEN $7::jsonb IS NULL THEN NULL ELSE now() END,
                  'corr-' || h.n, now() - make_interval(secs => $8 - h.n)
           FROM unnest($1::text[], $3::text[]) WITH ORDINALITY AS h(sha, signature, n)
           RETURNING id, sha256_hash""",
        hashes, WALLET, signatures, challenge_id, chain_id, status, proof, float(count),
    )
    if notify:
        channel = {"proof_generation": "touchgrass_generate",
                   "proof_publishing": "touchgrass_publish"}[status]
        await connection.execute("SELECT pg_notify($1, '')", channel)
    order = {sha: i for i, sha in enumerate(hashes)}
    return sorted((dict(r) for r in rows), key=lambda r: order[r["sha256_hash"]])


def mina_address() -> str:
    """A random valid Mina address (a point on Pallas), for a zkApp or an operator."""
    while True:
        candidate = mina.encode_address(secrets.randbelow(2**254), secrets.randbelow(2))
        if mina.is_valid_address(candidate):
            return candidate
