"""Batches: several photos' receipts in one zkApp command (docs/decisions.md, "Batches").

A command carries up to `MAX_UPDATES_PER_COMMAND` proof-authorised account updates, each
recording one or two photos (`recordOne`/`recordTwo`). Each update is proven once, in a
command of its own (the "update command", kept on its photos' rows); a batch is the fee
payer of one of them over the account updates of all, signed for the lane's nonce. Nothing
proven depends on the fee payer, the nonce or the other updates, so a batch is re-signed,
recomposed without one of its updates, or resent after the chain dropped it, without a proof.

Plain functions on command JSON (o1js's `ZkappCommand` JSON): easy to test without a prover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from touchgrass.chain.records import Record

__all__ = ["MAX_PHOTOS_PER_COMMAND", "MAX_PHOTOS_PER_UPDATE", "MAX_UPDATES_PER_COMMAND",
           "chunks", "compose", "recorded_digests"]

# The daemon's size rule before Mesa (docs/chain.md, "Command size"): a fee payer (9.14) and
# five proof updates (5 x 10.26) cost 60.44 < 69.45; a sixth makes 70.70. Two photos an update
# (a zkApp method verifies at most two proofs) make ten receipts, 70 action fields (limit 100).
MAX_UPDATES_PER_COMMAND = 5
MAX_PHOTOS_PER_UPDATE = 2
MAX_PHOTOS_PER_COMMAND = MAX_UPDATES_PER_COMMAND * MAX_PHOTOS_PER_UPDATE

T = TypeVar("T")


def recorded_digests(command: Mapping[str, Any]) -> set[str]:
    """The SHA-256 (hex) of every receipt the command's account updates record."""
    digests: set[str] = set()
    for update in _updates(command):
        for action in update.get("body", {}).get("actions", []) or []:
            try:
                record = Record.from_fields([int(v) for v in action])
            except (TypeError, ValueError):
                continue
            if record is not None:
                digests.add(record.digest.hex())
    return digests


def compose(update_commands: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One command out of update commands: the first one's fee payer and memo, every one's
    account updates in order. Unsigned for the batch (its fee payer is signed again for the
    lane's nonce, which covers the new list of updates)."""
    if not update_commands:
        raise ValueError("a batch needs at least one account update")
    if len(update_commands) > MAX_UPDATES_PER_COMMAND:
        raise ValueError(f"at most {MAX_UPDATES_PER_COMMAND} account updates fit a command")
    first = update_commands[0]
    return {"feePayer": dict(first["feePayer"]),
            "accountUpdates": [update for command in update_commands
                               for update in _updates(command)],
            "memo": first.get("memo", "")}


def chunks(items: Sequence[T], size: int) -> list[list[T]]:
    """`size` by `size`, the last chunk shorter when they do not divide evenly."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _updates(command: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    updates = command.get("accountUpdates")
    return [u for u in updates if isinstance(u, Mapping)] if isinstance(updates, list) else []
