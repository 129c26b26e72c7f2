"""Publishing to Mina: the publish role depends only on the `Publisher` protocol below."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

# Stores progress columns on the leased row before an irreversible step; False: lease lost.
RecordProgress = Callable[[Mapping[str, Any]], Awaitable[bool]]


async def _record_nothing(fields: Mapping[str, Any]) -> bool:
    return True

__all__ = ["DeployReceipt", "DeployRequest", "PublishReceipt", "PublishRequest", "Publisher",
           "RecordProgress"]


@dataclass(frozen=True)
class PublishRequest:
    """One stored proof to publish to its challenge's zkApp."""

    submission_id: UUID
    sha256_hex: str
    proof_json: Mapping[str, Any] | None  # cleared once sent; the proven command is kept
    chain_id: UUID
    challenge_id: UUID
    wallet_address: str
    zkapp_address: str | None = None  # the challenge's zkApp
    zkapp_token_id: str | None = None
    # From an earlier attempt, if it got as far as signing: ask the chain before re-sending.
    previous_transaction_hash: str | None = None
    previous_nonce: int | None = None
    # The update command (chain/batch.py) proven by an earlier attempt, recording this photo
    # and maybe one more: sent again in a batch, re-signed, instead of proving again.
    proven_command: Mapping[str, Any] | None = None
    record_progress: RecordProgress = _record_nothing


@dataclass(frozen=True)
class PublishReceipt:
    transaction_id: str  # the public id: the command's hash, as explorers show it
    transaction_hash: str
    nonce: int
    fee_payer: str | None = None  # whose nonce the command used: the monitor reads it
    batch_position: int | None = None  # the photo's place among the command's photos (from 1)
    batch_size: int | None = None  # how many photos the command carries


@dataclass(frozen=True)
class DeployRequest:
    challenge_id: UUID
    title: str
    zkapp_address: str | None = None  # from an earlier attempt
    zkapp_token_id: str | None = None
    previous_transaction_hash: str | None = None
    previous_nonce: int | None = None
    record_progress: RecordProgress = _record_nothing


@dataclass(frozen=True)
class DeployReceipt:
    zkapp_address: str
    zkapp_token_id: str
    transaction_id: str
    transaction_hash: str
    nonce: int
    verification_key_hash: str | None = None  # the contract build deployed


class Publisher(Protocol):
    # The verification key hash of the zkApp this publisher deploys: a challenge whose zkApp
    # has another is redeployed before its next photo (None: never redeploy).
    contract_hash: str | None

    async def publish_proof(self, request: PublishRequest) -> PublishReceipt:
        """Record the photo on chain (in a batch); raise to retry (PermanentJobError to reject)."""
        ...

    async def deploy_zkapp(self, request: DeployRequest) -> DeployReceipt:
        """Send the challenge's zkApp deploy transaction."""
        ...
