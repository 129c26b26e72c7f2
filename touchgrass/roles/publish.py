"""`touchgrass publish`: stored proof -> zkApp transaction -> `complete`; and zkApp deploys."""

from __future__ import annotations

from touchgrass.chain import DeployRequest, Publisher, PublishRequest
from touchgrass.queue.engine import Claimed
from touchgrass.queue.outcomes import Done, Outcome, Reject
from touchgrass.queue.stages import DEPLOY, PUBLISH
from touchgrass.queue.worker import Handler
from touchgrass.roles.runner import Lane

__all__ = ["make_deploy_handler", "make_publish_handler", "publish_lanes"]


def make_publish_handler(publisher: Publisher) -> Handler:
    """Publishing one stored proof; never calls the prover, so a retry costs no proof."""

    async def publish(job: Claimed) -> Outcome:
        payload = job.payload
        if payload["proof_json"] is None:
            return Reject("no stored proof to publish")
        receipt = await publisher.publish_proof(PublishRequest(
            submission_id=job.id,
            sha256_hex=payload["sha256_hash"],
            proof_json=payload["proof_json"],
            chain_id=payload["chain_id"],
            challenge_id=payload["challenge_id"],
            wallet_address=payload["wallet_address"],
            previous_transaction_hash=payload["transaction_hash"],
        ))
        return Done({
            "proof_json": None,  # cleared on success: the chain holds the proof now
            "transaction_id": receipt.transaction_id,
            "transaction_hash": receipt.transaction_hash,
            "transaction_nonce": receipt.nonce,
            "token_owner_address": receipt.token_owner_address,
            "chain_status": "pending",
        })

    return publish


def make_deploy_handler(publisher: Publisher) -> Handler:
    """Deploying one challenge's zkApp; the monitor marks it `active` once included."""

    async def deploy(job: Claimed) -> Outcome:
        receipt = await publisher.deploy_zkapp(DeployRequest(
            challenge_id=job.id,
            title=job.payload["title"],
            previous_transaction_hash=job.payload["transaction_hash"],
        ))
        return Done({
            "zkapp_address": receipt.zkapp_address,
            "transaction_id": receipt.transaction_id,
            "transaction_hash": receipt.transaction_hash,
            "transaction_nonce": receipt.nonce,
        })

    return deploy


def publish_lanes(publisher: Publisher) -> list[Lane]:
    """Both kinds of transaction share the fee payer, so one process runs both lanes."""
    return [Lane(PUBLISH, make_publish_handler(publisher)), Lane(DEPLOY, make_deploy_handler(publisher))]
