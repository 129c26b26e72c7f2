"""Publishing to Mina: the publish role depends only on the `Publisher` protocol below."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

__all__ = ["DeployReceipt", "DeployRequest", "PublishReceipt", "PublishRequest", "Publisher"]


@dataclass(frozen=True)
class PublishRequest:
    """One stored proof to publish to its challenge's zkApp."""

    submission_id: UUID
    sha256_hex: str
    proof_json: Mapping[str, Any]
    chain_id: UUID
    challenge_id: UUID
    wallet_address: str
    # From an earlier attempt, if it got as far as signing: ask the chain before re-sending.
    previous_transaction_hash: str | None = None


@dataclass(frozen=True)
class PublishReceipt:
    transaction_id: str
    transaction_hash: str
    nonce: int
    token_owner_address: str


@dataclass(frozen=True)
class DeployRequest:
    challenge_id: UUID
    title: str
    previous_transaction_hash: str | None = None


@dataclass(frozen=True)
class DeployReceipt:
    zkapp_address: str
    transaction_id: str
    transaction_hash: str
    nonce: int


class Publisher(Protocol):
    async def publish_proof(self, request: PublishRequest) -> PublishReceipt:
        """Send the `verifyAndStore` transaction; raise to retry (PermanentJobError to reject)."""
        ...

    async def deploy_zkapp(self, request: DeployRequest) -> DeployReceipt:
        """Send the challenge's zkApp deploy transaction."""
        ...
