"""Every status a row can have, by the column that holds it: the one vocabulary of the queue,
the API and the operator commands. StrEnums, so they compare equal to the text the database
and the JSON hold (SQL statements spell them as literals, next to the comments that say why).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["IN_FLIGHT", "PROCESSING", "UPLOADABLE", "ChainStatus", "DeploymentStatus",
           "NotificationStatus", "ReceiptKind", "SubmissionStatus"]


class SubmissionStatus(StrEnum):
    """`submissions.status`: where a photo is in the pipeline (docs/pipeline.md)."""

    AWAITING_REVIEW = "awaiting_review"
    PROOF_GENERATION = "proof_generation"
    PROOF_PUBLISHING = "proof_publishing"
    COMPLETE = "complete"
    REJECTED = "rejected"


# The old API's one word for a photo being proven or published; old clients filter by it.
PROCESSING = "processing"
IN_FLIGHT = (SubmissionStatus.PROOF_GENERATION, SubmissionStatus.PROOF_PUBLISHING)


class ChainStatus(StrEnum):
    """`submissions.chain_status`: what the chain says of a published photo's transaction."""

    PENDING = "pending"
    INCLUDED = "included"
    FINAL = "final"
    ABANDONED = "abandoned"


class DeploymentStatus(StrEnum):
    """`challenges.deployment_status`: the state of a challenge's zkApp."""

    PENDING_DEPLOYMENT = "pending_deployment"
    DEPLOYING = "deploying"
    ACTIVE = "active"
    DEPLOYMENT_FAILED = "deployment_failed"


# A challenge takes uploads once its zkApp's deploy is sent, as the old server did: the photo
# is proven meanwhile, and its receipt waits for the deploy to be included.
UPLOADABLE = frozenset({DeploymentStatus.DEPLOYING, DeploymentStatus.ACTIVE})


class NotificationStatus(StrEnum):
    """`notifications.status`: a submission's announcement on Telegram."""

    PENDING = "pending"
    SENT = "sent"
    REJECTED = "rejected"


class ReceiptKind(StrEnum):
    """Where a contract leaves a photo's record (docs/receipts.md)."""

    # an action of the zkApp: no new account, found from the archive, checked against the
    # node's action state (this version's contract)
    ACTION = "action"
    # app state of a new token account at a key derived by the publisher (before actions)
    TOKEN_ACCOUNT = "token_account"
