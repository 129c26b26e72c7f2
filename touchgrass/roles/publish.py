"""`touchgrass publish`: stored proof -> zkApp transaction -> `complete`; and zkApp deploys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from touchgrass import db, logs
from touchgrass.chain import DeployRequest, Publisher, PublishRequest
from touchgrass.chain.client import ChainClient, NodeInfo
from touchgrass.chain.constants import DEFAULT_K, LOST_ANSWER_RETRY_S
from touchgrass.errors import (
    ChainError,
    ConfigError,
    NodeNotReady,
    ProverRequestError,
    SendAnswerLost,
    UnsupportedNetwork,
    WrongNetwork,
)
from touchgrass.node.era import require_usable
from touchgrass.node.pool import Progress
from touchgrass.queue.engine import Claimed
from touchgrass.queue.outcomes import Done, Outcome, Reject, Retry
from touchgrass.queue.payloads import (
    DeployPayload,
    DeployResult,
    PublishPayload,
    PublishResult,
    read_payload,
)
from touchgrass.queue.stages import DEPLOY, PUBLISH
from touchgrass.queue.worker import Handler
from touchgrass.roles.runner import Lane, run_lanes
from touchgrass.settings import ChainSettings, DatabaseSettings, ProverSettings, QueueSettings
from touchgrass.statuses import ChainStatus
from touchgrass.store import challenges

__all__ = ["check_node", "make_deploy_handler", "make_publish_handler", "publish_lanes", "run"]

log = logs.get_logger(__name__)


# Failures that are not the row's: no attempt is used. A node that is not ready waits the
# stage's backoff; a Mesa node or one of another network found after start is refused on
# every try until the role is restarted, which then stops at once; a send whose answer was
# lost is looked at again within seconds (its command may be in the node already).
_NOT_THE_ROWS_FAULT = (NodeNotReady, UnsupportedNetwork, WrongNetwork, SendAnswerLost)


def _wait(waiting: Exception) -> Retry:
    after_s = LOST_ANSWER_RETRY_S if isinstance(waiting, SendAnswerLost) else None
    return Retry(str(waiting), consume_attempt=False, after_s=after_s)


def make_publish_handler(publisher: Publisher, pool: asyncpg.Pool) -> Handler:
    """Publishing one stored proof; never makes the authenticity proof, and a retry re-signs
    the transaction proven by the first attempt instead of proving it again."""

    async def publish(job: Claimed) -> Outcome:
        row = read_payload(PublishPayload, job.payload)
        if row.proof_json is None and row.proven_command is None:
            return Reject("no stored proof to publish")
        challenge = await challenges.deployment(pool, row.challenge_id)
        if challenge.outdated(publisher.contract_hash) and challenge.zkapp_address:
            reason = (f"the challenge's zkApp {challenge.zkapp_address} runs an earlier "
                      "contract build; deploying the current one (its receipts stay)")
            if await challenges.redeploy(pool, row.challenge_id, challenge.zkapp_address,
                                         reason):
                log.info("redeploy", reason)
            return Retry("the challenge's zkApp is being replaced by the current contract",
                         consume_attempt=False)
        if not challenge.active:
            # not the row's fault: wait for the deploy lane without using an attempt
            return Retry("the challenge's zkApp is not deployed yet", consume_attempt=False)
        try:
            receipt = await publisher.publish_proof(_publish_request(job, row, challenge))
        except _NOT_THE_ROWS_FAULT as waiting:
            return _wait(waiting)
        return Done(PublishResult(
            proof_json=None, transaction_id=receipt.transaction_id,
            transaction_hash=receipt.transaction_hash, transaction_nonce=receipt.nonce,
            transaction_fee_payer=receipt.fee_payer, chain_status=ChainStatus.PENDING,
            batch_position=receipt.batch_position, batch_size=receipt.batch_size,
        ).columns())

    return publish


def _publish_request(job: Claimed, row: PublishPayload,
                     challenge: challenges.Deployment) -> PublishRequest:
    return PublishRequest(
        submission_id=job.id,
        sha256_hex=row.sha256_hash,
        proof_json=row.proof_json,
        chain_id=row.chain_id,
        challenge_id=row.challenge_id,
        wallet_address=row.wallet_address,
        zkapp_address=challenge.zkapp_address,
        zkapp_token_id=challenge.zkapp_token_id,
        previous_transaction_hash=row.transaction_hash,
        previous_nonce=row.transaction_nonce,
        proven_command=row.proven_command,
        record_progress=job.progress or _no_progress,
    )


def make_deploy_handler(publisher: Publisher) -> Handler:
    """Deploying one challenge's zkApp; the monitor marks it `active` once included."""

    async def deploy(job: Claimed) -> Outcome:
        row = read_payload(DeployPayload, job.payload)
        try:
            receipt = await publisher.deploy_zkapp(DeployRequest(
                challenge_id=job.id,
                title=row.title,
                zkapp_address=row.zkapp_address,
                zkapp_token_id=row.zkapp_token_id,
                previous_transaction_hash=row.transaction_hash,
                previous_nonce=row.transaction_nonce,
                record_progress=job.progress or _no_progress,
            ))
        except _NOT_THE_ROWS_FAULT as waiting:
            return _wait(waiting)
        return Done(DeployResult(
            zkapp_address=receipt.zkapp_address, zkapp_token_id=receipt.zkapp_token_id,
            transaction_id=receipt.transaction_id, transaction_hash=receipt.transaction_hash,
            transaction_nonce=receipt.nonce,
            zkapp_verification_key_hash=receipt.verification_key_hash,
        ).columns())

    return deploy


def publish_lanes(publisher: Publisher, pool: asyncpg.Pool, *,
                  batch_size: int | None = None) -> list[Lane]:
    """Both kinds of transaction share the fee payer, so one process runs both lanes. The
    publish lane holds a batch's photos at once (`batch_size` claims), whatever the number
    of builder processes."""
    return [Lane(PUBLISH, make_publish_handler(publisher, pool), concurrency=batch_size),
            Lane(DEPLOY, make_deploy_handler(publisher))]


async def _no_progress(fields: Mapping[str, Any]) -> bool:
    return True


async def check_node(client: ChainClient, mina_network: str) -> NodeInfo | None:
    """Refuse, before any attempt is spent, a network whose transactions our o1js cannot make
    (Mesa) and a node of another network than MINA_NETWORK (every signature would fail).

    A node that cannot be reached now is not a reason to refuse to start (a node restarting
    with the role is normal): the publisher then checks before its first send. The node's
    answers when the check was made, so the publisher need not ask again."""
    try:
        info = await client.node_info()
    except ChainError as error:
        log.warning("node", "cannot check the node's era and network now (%s); checking "
                    "before the first send", error)
        return None
    require_usable(info, mina_network)
    log.info("node", "Mina node %s (commit %s, chain %s…, %s, k %d)", info.network_id,
             info.version[:12] or "?", info.chain_id[:12], info.sync_status, info.k)
    return info


async def run(*, database: DatabaseSettings, queue: QueueSettings, chain: ChainSettings,
              prover: ProverSettings, curve: str, concurrency: int,
              progress: Progress | None = None) -> None:
    """`touchgrass publish`: photos in batches of up to `chain.publish_batch_size` (one
    command each), their account updates proven by `concurrency` builder processes at once;
    one fee payer lane sends the commands in nonce order; both stages (proofs and challenge
    deployments)."""
    from touchgrass.chain.publisher import MinaPublisher
    from touchgrass.node import open_pool, ops

    if chain.fee_payer_private_key is None:
        raise ConfigError("FEE_PAYER_PRIVATE_KEY is required but not set")
    fee_payer_key = chain.fee_payer_private_key.get_secret_value()
    client = ChainClient(chain.mina_node_endpoint)
    try:
        checked = await check_node(client, chain.mina_network)
    except BaseException:
        await client.close()
        raise
    builder = await open_pool(prover, curve=curve, size=concurrency, zkapp=True,
                              progress=progress)
    dbpool = await db.create_pool(database.asyncpg_dsn, size=2,
                                  application_name="touchgrass-publish-lookups")
    try:
        try:
            address = await ops.public_key_of(builder, fee_payer_key)
        except ProverRequestError:
            raise ConfigError("FEE_PAYER_PRIVATE_KEY is invalid: not a Mina private key") from None
        # The contract build the builders compiled: challenges on another one are redeployed.
        contract_hash = (await ops.info(builder)).zkapp_verification_key_hash
        publisher = MinaPublisher(pool=builder, chain=client, endpoint=chain.mina_node_endpoint,
                                  network_id=chain.mina_network, fee_payer_key=fee_payer_key,
                                  fee_payer_address=address, fee_nanomina=chain.mina_transaction_fee,
                                  era_checked=checked is not None, contract_hash=contract_hash,
                                  k=checked.k if checked is not None else DEFAULT_K,
                                  batch_size=chain.publish_batch_size,
                                  batch_wait_s=chain.publish_batch_wait_s)
        await run_lanes("publish", publish_lanes(publisher, dbpool,
                                                 batch_size=chain.publish_batch_size),
                        database=database, queue=queue, concurrency=concurrency)
    finally:
        await dbpool.close()
        await client.close()
        await builder.close()
