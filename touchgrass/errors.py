"""The exceptions callers handle differently; nothing else gets a class.

    TouchgrassError
     ├── ConfigError              a setting is missing or malformed: the process stops with one line
     │    ├── PortTaken             a port touchgrass would listen on is in use
     │    ├── UnsupportedNetwork    the node runs a protocol our o1js cannot make transactions for
     │    └── WrongNetwork          the node's networkID is not MINA_NETWORK's: every signature would fail
     ├── MigrationError           the database could not be migrated (unreachable, refused)
     ├── DatabaseUnavailable      no connection to the database could be opened (at start)
     ├── ApiError                 an HTTP-only failure (401, 408, 413, 415, ...) with its status
     ├── InvalidInput             a request value is wrong (HTTP 400 with the field)
     ├── NotFound                 the named thing does not exist (HTTP 404, message as the API words it)
     ├── Conflict                 it exists already (HTTP 409)
     ├── StorageError             the image store failed (retryable; HTTP 503)
     │    └── ObjectNotFound        no object under that key
     ├── ProverError              a prover process failed
     │    ├── ProverStartError      it did not become ready
     │    ├── ProverCrashed         it died during a request
     │    ├── ProverTimeout         a request took too long; it was killed
     │    └── ProverRequestError    the program refused the request (`code` says why)
     ├── ChainError               the Mina node could not be reached or answered nonsense
     │    ├── SendRejected          it refused a command (`kind`, a SendErrorKind, says why)
     │    ├── SendAnswerLost        a send went out and no answer came: look the command up by hash
     │    └── NodeNotReady          it cannot take commands now: ask again later, no attempt used
     │         └── NodeNotSynced      it is bootstrapping or catching up
     ├── JobError                 raised by a stage handler while working on one row
     │    ├── PermanentJobError     retrying cannot help (bad bytes, bad signature): reject now
     │    └── LeaseLost             the row's lease was lost before sending: nothing was sent
     └── OperatorError            `touchgrass status` / `resubmit` refused what was asked
          ├── UnknownSubmission     no submission has that sha256
          └── NeedsForce            the row is in a state that needs `--force`

Any other exception from a stage handler is treated as retryable: the queue records it as the
failure reason and tries again after the stage's backoff.
"""

from __future__ import annotations

import enum

__all__ = [
    "ApiError",
    "DatabaseUnavailable",
    "NodeNotReady",
    "NodeNotSynced",
    "SendAnswerLost",
    "UnsupportedNetwork",
    "WrongNetwork",
    "SendErrorKind",
    "SendRejected",
    "ProverTimeout",
    "ProverStartError",
    "ProverRequestError",
    "ProverError",
    "ProverCrashed",
    "LeaseLost",
    "ChainError",
    "ConfigError",
    "Conflict",
    "InvalidInput",
    "MigrationError",
    "JobError",
    "NeedsForce",
    "NotFound",
    "ObjectNotFound",
    "OperatorError",
    "PermanentJobError",
    "PortTaken",
    "StorageError",
    "TouchgrassError",
    "UnknownSubmission",
]


class TouchgrassError(Exception):
    """Base of every error touchgrass raises on purpose."""


class ApiError(TouchgrassError):
    """An HTTP-only failure (401, 408, 413, 415, ...) with the client-facing message."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}
        # Close the connection after answering: the rest of the request body is not read.
        self.close = close


class ConfigError(TouchgrassError):
    """A setting is missing or malformed; the message names the variable, never its value."""


class PortTaken(ConfigError):
    """Another program listens on a port touchgrass was told to use; the message names the
    option that picks another."""


class UnsupportedNetwork(ConfigError):
    """The node's network runs a transaction protocol this build's o1js cannot produce (a Mesa
    network for o1js 2.x); publishing would only burn attempts on rejections."""


class WrongNetwork(ConfigError):
    """The node serves another network than MINA_NETWORK names: the network id is part of what
    is signed, so every command would be refused as `Invalid_signature`."""


class MigrationError(TouchgrassError):
    """Migrating the database failed; the message names the database and the cause in one line."""


class DatabaseUnavailable(TouchgrassError):
    """Opening the first connection failed: the message names host:port/db and the cause."""


class InvalidInput(TouchgrassError):
    """A value from outside is wrong; `field` names it for the client."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(TouchgrassError):
    """The thing asked for does not exist; the message is the one clients expect."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Conflict(TouchgrassError):
    """The thing exists already (a duplicate image, a second like)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StorageError(TouchgrassError):
    """The image store failed; usually worth retrying."""


class ObjectNotFound(StorageError):
    """No object is stored under the key."""


class JobError(TouchgrassError):
    """A stage handler failed on one row; retried according to the stage's policy."""


class PermanentJobError(JobError):
    """A stage handler failed in a way no retry can fix; the row is rejected with this reason."""


class OperatorError(TouchgrassError):
    """An operator command refused what was asked; the message says why and what to do."""


class UnknownSubmission(OperatorError):
    """No submission has the given sha256."""


class NeedsForce(OperatorError):
    """The submission is in a state where the operation would repeat finished work."""


class LeaseLost(JobError):
    """The row's lease was lost (or the row deleted) before sending: nothing was sent."""


class ProverError(TouchgrassError):
    """Base of the prover process failures."""


class ProverStartError(ProverError):
    """The process did not become ready (compile failed, Node crashed, timeout)."""


class ProverCrashed(ProverError):
    """The process died while working on a request; retrying on a fresh one may work."""


class ProverTimeout(ProverError):
    """A request took longer than the per-request timeout; the process was killed."""


class ProverRequestError(ProverError):
    """The program refused the request; `code` says whether retrying can help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.code not in {"invalid_signature", "bad_request"}


class ChainError(TouchgrassError):
    """The node could not be reached, or answered something we cannot use."""


class SendErrorKind(enum.Enum):
    """What a refusal of the node means for the publisher (chain/client.classify reads it
    from the node's message)."""

    NONCE = "nonce"  # the nonce is stale or ahead: rebuild with a fresh one
    REPLACE_FEE = "replace_fee"  # the nonce is taken by a pending command
    DUPLICATE = "duplicate"  # this very command is already known
    BALANCE = "balance"  # the fee payer cannot pay
    INVALID_PROOF = "invalid_proof"  # a proof does not verify: prove again
    INVALID_SIGNATURE = "invalid_signature"  # a signature does not verify: sign again, never
    #                                          prove (a wrong network is refused at start)
    NOT_READY = "not_ready"  # the node cannot take commands now (bootstrapping, no frontier,
    #                          the window before a hard fork, overloaded): wait, no attempt
    CONFIGURATION = "configuration"  # no retry can help (the fee payer may not send)
    TOO_BIG = "too_big"  # over the network's size rule (proof cost, event or action fields)
    OTHER = "other"


class SendRejected(ChainError):
    """The node refused a command; `kind` says what to do about it."""

    def __init__(self, message: str, kind: SendErrorKind) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class NodeNotReady(ChainError):
    """The node cannot take or answer for commands now (not synced, bootstrapping, refusing
    sends before a hard fork, overloaded). Not the row's fault: retry without an attempt."""


class SendAnswerLost(ChainError):
    """A send went out but its answer never came (a timeout, a reset connection): the node may
    have the command. The publisher looks it up by hash before anything else."""


class NodeNotSynced(NodeNotReady):
    """The node answers but is not synced (`daemonStatus.syncStatus` is not SYNCED): its ledger
    answers (`account: null`) mean nothing yet. Not the row's fault: retry without an attempt."""
