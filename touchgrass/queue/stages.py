"""The three queued stages and their policies: which rows each claims and where they go next.

A stage is data, not code: the engine turns it into SQL. Every identifier here is a constant
of this module, never user input, which is what makes formatting it into SQL safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from touchgrass.settings import QueueSettings
from touchgrass.statuses import DeploymentStatus, NotificationStatus, SubmissionStatus

__all__ = ["DEPLOY", "GENERATE", "NOTIFY", "PUBLISH", "STAGES", "Policy", "Stage", "channel", "policy_for"]


@dataclass(frozen=True)
class Stage:
    """Where one stage's rows live and the statuses they move between."""

    name: str
    table: str
    status_column: str
    ready_status: str  # claimable in this status
    done_status: str  # where a Done outcome moves the row
    rejected_status: str  # where attempts running out (or a Reject) moves it
    payload_columns: tuple[str, ...]  # returned by the claim: what the handler reads
    result_columns: frozenset[str]  # what a Done outcome may write
    done_timestamp: str  # set to now() on Done
    rejected_timestamp: str  # set to now() on reject
    ready_since_column: str  # when the row became ready for this stage (for "oldest age")
    cleared_on_reject: tuple[str, ...] = ()  # rule: proof_json is cleared on final failure
    progress_columns: frozenset[str] = frozenset()  # what a handler may record mid-work
    next_stage: str | None = None  # NOTIFYed after a Done commits
    expires_after_column: str | None = None  # the clock of the stage's expiry, if it has one

    @property
    def channel(self) -> str:
        return channel(self.name)


def channel(stage_name: str) -> str:
    """The LISTEN/NOTIFY channel of a stage (queue rule 7)."""
    return f"touchgrass_{stage_name}"


GENERATE = Stage(
    name="generate",
    table="submissions",
    status_column="status",
    ready_status=SubmissionStatus.PROOF_GENERATION,
    done_status=SubmissionStatus.PROOF_PUBLISHING,
    rejected_status=SubmissionStatus.REJECTED,
    payload_columns=("sha256_hash", "signature", "storage_key", "correlation_id"),
    result_columns=frozenset({"proof_json"}),
    done_timestamp="proof_generated_at",
    rejected_timestamp="rejected_at",
    ready_since_column="queued_at",
    next_stage="publish",
)

PUBLISH = Stage(
    name="publish",
    table="submissions",
    status_column="status",
    ready_status=SubmissionStatus.PROOF_PUBLISHING,
    done_status=SubmissionStatus.COMPLETE,
    rejected_status=SubmissionStatus.REJECTED,
    payload_columns=(
        "sha256_hash", "proof_json", "chain_id", "challenge_id", "wallet_address",
        "correlation_id", "transaction_id", "transaction_hash", "transaction_nonce",
        "token_owner_address", "proven_command",
    ),
    result_columns=frozenset({
        "proof_json", "transaction_id", "transaction_hash", "transaction_nonce",
        "transaction_fee_payer", "token_owner_address", "transaction_submitted_block_height",
        "chain_status", "batch_position", "batch_size",
    }),
    done_timestamp="published_at",
    rejected_timestamp="rejected_at",
    ready_since_column="proof_generated_at",
    cleared_on_reject=("proof_json", "proven_command"),
    # proven_command: the command proven once, outside the lane; a retry only re-signs it
    progress_columns=frozenset({"transaction_hash", "transaction_nonce", "transaction_fee_payer",
                                "token_owner_address", "proven_command", "transaction_id",
                                "receipt_zkapp_address", "batch_position", "batch_size"}),
    expires_after_column="proof_generated_at",
)

DEPLOY = Stage(
    name="deploy",
    table="challenges",
    status_column="deployment_status",
    ready_status=DeploymentStatus.PENDING_DEPLOYMENT,
    done_status=DeploymentStatus.DEPLOYING,
    rejected_status=DeploymentStatus.DEPLOYMENT_FAILED,
    payload_columns=("title", "zkapp_address", "zkapp_token_id", "transaction_hash",
                     "transaction_nonce", "correlation_id"),
    result_columns=frozenset({"zkapp_address", "zkapp_token_id", "transaction_id",
                              "transaction_hash", "transaction_nonce",
                              "zkapp_verification_key_hash"}),
    progress_columns=frozenset({"zkapp_address", "zkapp_token_id", "transaction_hash",
                                "transaction_nonce"}),
    done_timestamp="deploy_sent_at",
    rejected_timestamp="deployment_failed_at",
    ready_since_column="created_at",
)

NOTIFY = Stage(
    name="notify",
    table="notifications",
    status_column="status",
    ready_status=NotificationStatus.PENDING,
    done_status=NotificationStatus.SENT,
    rejected_status=NotificationStatus.REJECTED,
    payload_columns=("submission_id", "correlation_id"),
    result_columns=frozenset(),
    done_timestamp="sent_at",
    rejected_timestamp="rejected_at",
    ready_since_column="created_at",
)

STAGES = {stage.name: stage for stage in (GENERATE, PUBLISH, DEPLOY, NOTIFY)}


@dataclass(frozen=True)
class Policy:
    """The numbers of one stage's row in docs/pipeline.md's retry policy."""

    max_attempts: int
    backoff_base_s: float
    lease_s: float
    jitter: float
    expiry_s: float | None = None
    timeout_s: float | None = None  # a handler running longer fails its attempt
    backoff_max_s: float = 6 * 3600.0

    @property
    def heartbeat_s(self) -> float:
        """Queue rule 4: heartbeat at no more than a third of the lease."""
        return self.lease_s / 3


def policy_for(stage: Stage, settings: QueueSettings) -> Policy:
    """One stage's policy out of the queue settings, each setting named where it is used."""
    jitter = settings.backoff_jitter
    policies = {
        GENERATE.name: Policy(settings.generate_max_attempts, settings.generate_backoff_base_s,
                              settings.generate_lease_s, jitter,
                              timeout_s=settings.generate_timeout_s),
        PUBLISH.name: Policy(settings.publish_max_attempts, settings.publish_backoff_base_s,
                             settings.publish_lease_s, jitter, expiry_s=settings.publish_expiry_s,
                             timeout_s=settings.publish_timeout_s),
        DEPLOY.name: Policy(settings.deploy_max_attempts, settings.deploy_backoff_base_s,
                            settings.deploy_lease_s, jitter, timeout_s=settings.deploy_timeout_s),
        NOTIFY.name: Policy(settings.notify_max_attempts, settings.notify_backoff_base_s,
                            settings.notify_lease_s, jitter, timeout_s=settings.notify_timeout_s),
    }
    return policies[stage.name]
