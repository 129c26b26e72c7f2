"""Building the zkApp transactions through the prover service (proof/js/src/chain.js).

The Node process builds, proves and signs; Python keeps the nonce and sends. Each builder
returns the signed command and its hash, which the publisher stores before sending.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from touchgrass.proof.pool import ProverPool

__all__ = ["DeployTransaction", "ReceiptTransaction", "build_deploy", "build_verify_and_store",
           "chain_id_field", "token_id", "token_owner_seed"]


@dataclass(frozen=True)
class DeployTransaction:
    command: dict[str, Any]
    hash: str
    zkapp_address: str
    token_id: str


@dataclass(frozen=True)
class ReceiptTransaction:
    command: dict[str, Any]
    hash: str
    token_owner: str


def chain_id_field(chain_id: UUID) -> str:
    """The chain id as the field element written into the receipt (a UUID is 128 bits)."""
    return str(chain_id.int)


def token_owner_seed(fee_payer_key: str, digest: bytes) -> str:
    """The seed of a photo's receipt key: the same photo and publisher always give the same
    receipt address, so a rebuilt transaction never mints a second receipt elsewhere."""
    return hmac.new(fee_payer_key.encode(), b"touchgrass-receipt:" + digest,
                    hashlib.sha256).hexdigest()


async def build_deploy(pool: ProverPool, *, endpoint: str, network_id: str, fee_payer_key: str,
                       nonce: int, fee_nanomina: int) -> DeployTransaction:
    result = await pool.run("deploy_transaction", {
        "endpoint": endpoint, "networkId": network_id, "feePayerKey": fee_payer_key,
        "nonce": nonce, "fee": fee_nanomina,
    })
    return DeployTransaction(result["command"], result["hash"], result["zkappAddress"],
                             result["tokenId"])


async def build_verify_and_store(
    pool: ProverPool, *, endpoint: str, network_id: str, fee_payer_key: str, nonce: int,
    fee_nanomina: int, zkapp_address: str, chain_id: UUID, digest: bytes,
    proof: dict[str, Any],
) -> ReceiptTransaction:
    result = await pool.run("verify_and_store_transaction", {
        "endpoint": endpoint, "networkId": network_id, "feePayerKey": fee_payer_key,
        "nonce": nonce, "fee": fee_nanomina, "zkappAddress": zkapp_address,
        "tokenOwnerSeed": token_owner_seed(fee_payer_key, digest),
        "chainId": chain_id_field(chain_id), "proof": proof,
    })
    return ReceiptTransaction(result["command"], result["hash"], result["tokenOwner"])


async def token_id(pool: ProverPool, zkapp_address: str) -> str:
    """The token id of a zkApp's receipts (where their token accounts live)."""
    return str((await pool.run("token_id", {"zkappAddress": zkapp_address}))["tokenId"])
