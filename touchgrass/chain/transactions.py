"""The zkApp transactions the publisher sends, built by the Node side (node/ops.py).

The Node process builds, proves and signs; Python keeps the nonce and sends. Each builder
returns the signed command and its hash, which the publisher stores before sending. What
is decided here, not in JS: how a chain id is written into the receipt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from touchgrass.node import ops
from touchgrass.node.ops import DeployTransaction, ReceiptTransaction, Runner

__all__ = ["DeployTransaction", "ReceiptTransaction", "build_deploy", "build_verify_and_store",
           "chain_id_field", "resign_verify_and_store", "targets"]


def chain_id_field(chain_id: UUID) -> str:
    """The chain id as the field element written into the receipt (a UUID is 128 bits)."""
    return str(chain_id.int)


async def build_deploy(runner: Runner, *, endpoint: str, network_id: str, fee_payer_key: str,
                       nonce: int, fee_nanomina: int) -> DeployTransaction:
    return await ops.deploy_transaction(runner, endpoint=endpoint, network_id=network_id,
                                        fee_payer_key=fee_payer_key, nonce=nonce,
                                        fee_nanomina=fee_nanomina)


async def build_verify_and_store(
    runner: Runner, *, endpoint: str, network_id: str, fee_payer_key: str, nonce: int,
    fee_nanomina: int, zkapp_address: str, chain_id: UUID, proof: dict[str, Any],
) -> ReceiptTransaction:
    return await ops.verify_and_store_transaction(
        runner, endpoint=endpoint, network_id=network_id, fee_payer_key=fee_payer_key,
        nonce=nonce, fee_nanomina=fee_nanomina, zkapp_address=zkapp_address,
        chain_id_field=chain_id_field(chain_id), proof=proof)


async def resign_verify_and_store(runner: Runner, proven: Mapping[str, Any], *, nonce: int,
                                  network_id: str, fee_payer_key: str) -> ReceiptTransaction:
    """A proven `verifyAndStore` command with another nonce: the fee payer's signatures made
    again, the proofs kept (nothing proven depends on the nonce)."""
    command, tx_hash = await ops.resign_transaction(
        runner, command=proven, nonce=nonce, network_id=network_id, fee_payer_key=fee_payer_key)
    return ReceiptTransaction(command, tx_hash)


def targets(command: Mapping[str, Any], zkapp_address: str) -> bool:
    """Does the command call this zkApp? A kept command for a zkApp since replaced (a
    redeployed challenge) proves against the wrong contract and must be proven again."""
    updates = command.get("accountUpdates")
    return isinstance(updates, list) and any(
        isinstance(u, dict) and u.get("body", {}).get("publicKey") == zkapp_address
        for u in updates)
