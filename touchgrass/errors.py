"""The exceptions callers handle differently; nothing else gets a class.

    TouchgrassError
     ├── ConfigError            a setting is missing or malformed: the process stops with one line
     │    └── PortTaken           a port touchgrass would listen on is in use
     ├── MigrationError         the database could not be migrated (unreachable, refused)
     ├── InvalidInput           a request value is wrong (HTTP 400 with the field)
 ├── NotFound               the named thing does not exist (HTTP 404, message as the API words it)
 ├── Conflict               it exists already (HTTP 409)
 ├── StorageError           the image store failed (retryable)
 │    └── ObjectNotFound      no object under that key
     ├── JobError               raised by a stage handler while working on one row
     │    └── PermanentJobError   retrying cannot help (bad bytes, bad signature): reject now
     └── OperatorError          `touchgrass status` / `resubmit` refused what was asked
          ├── UnknownSubmission   no submission has that sha256
          └── NeedsForce          the row is in a state that needs `--force`

Any other exception from a stage handler is treated as retryable: the queue records it as the
failure reason and tries again after the stage's backoff.
"""

from __future__ import annotations

__all__ = [
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


class ConfigError(TouchgrassError):
    """A setting is missing or malformed; the message names the variable, never its value."""


class PortTaken(ConfigError):
    """Another program listens on a port touchgrass was told to use; the message names the
    option that picks another."""


class MigrationError(TouchgrassError):
    """Migrating the database failed; the message names the database and the cause in one line."""


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
