"""What a stage handler returns; only the worker loop writes an outcome to the row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Done", "Outcome", "Reject", "Retry"]


@dataclass(frozen=True)
class Done:
    """The work succeeded: move the row to the stage's next status, writing these columns."""

    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Retry:
    """Try again after the stage's backoff (or reject if this was the last attempt).

    `consume_attempt=False` is for failures that are not the row's fault, like a node that
    is not synced yet: the attempt is given back (the stage's backoff still applies).
    `after_s` replaces the backoff when the other side said when to come back (Telegram's
    `retry_after` on a 429).
    """

    reason: str
    consume_attempt: bool = True
    after_s: float | None = None


@dataclass(frozen=True)
class Reject:
    """No retry can help (the stored bytes do not match, the signature is wrong): reject now."""

    reason: str


Outcome = Done | Retry | Reject
