"""What each stage's handler reads from its row and writes back, as typed values.

A claimed row reaches a role as the stage's payload columns (queue/stages.py); here each
stage has one dataclass with exactly those columns, read at the edge with their types
checked (a stored row is input too: a column of the wrong type fails the attempt with a
reason that names it, never deep inside a role), and one dataclass for what its `Done`
writes. A structure test holds the fields to the stages' column lists.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar, Union, get_type_hints
from uuid import UUID

from touchgrass.errors import PermanentJobError

__all__ = ["DeployPayload", "DeployResult", "GeneratePayload", "GenerateResult",
           "NotifyPayload", "PublishPayload", "PublishResult", "Result", "read_payload"]

Payload = TypeVar("Payload")


def _matches(value: Any, hint: Any) -> bool:
    """Is `value` of the (simple) annotated type: a class, `X | None`, a Mapping, Any?"""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is not None:  # Mapping[str, Any], dict[str, Any]: the container is checked
        return isinstance(value, origin)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, hint)


def read_payload(kind: type[Payload], row: Mapping[str, Any]) -> Payload:
    """The stage's payload as `kind`, every column present and of its type; a malformed row
    is PermanentJobError (retrying cannot fix the stored value)."""
    hints = get_type_hints(kind)
    values: dict[str, Any] = {}
    for field in fields(kind):  # type: ignore[arg-type]
        if field.name not in row:
            raise PermanentJobError(f"the row has no {field.name} column")
        value = row[field.name]
        if not _matches(value, hints[field.name]):
            raise PermanentJobError(f"the row's {field.name} is a {type(value).__name__}, not "
                                    f"{hints[field.name]}")
        values[field.name] = value
    return kind(**values)


class Result:
    """A stage's `Done` columns, typed; `columns()` is what the worker writes."""

    def columns(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name)
                for field in dataclasses.fields(self)}  # type: ignore[arg-type]


# -- generate ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GeneratePayload:
    sha256_hash: str
    signature: str  # the stored JSON form (signatures.Signature.from_json reads it)
    storage_key: str | None
    correlation_id: str | None


@dataclass(frozen=True)
class GenerateResult(Result):
    proof_json: Mapping[str, Any]


# -- publish -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublishPayload:
    sha256_hash: str
    proof_json: Mapping[str, Any] | None  # None once a proven command is kept instead
    chain_id: UUID
    challenge_id: UUID
    wallet_address: str
    correlation_id: str | None
    transaction_id: str | None
    transaction_hash: str | None  # an earlier attempt's command: asked about before sending
    transaction_nonce: int | None
    token_owner_address: str | None
    proven_command: Mapping[str, Any] | None  # proven once; a retry only re-signs it


@dataclass(frozen=True)
class PublishResult(Result):
    proof_json: None  # cleared on success: the chain holds the proof now
    transaction_id: str
    transaction_hash: str
    transaction_nonce: int
    transaction_fee_payer: str | None
    chain_status: str
    batch_position: int | None = None
    batch_size: int | None = None


# -- deploy --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeployPayload:
    title: str
    zkapp_address: str | None  # from an earlier attempt
    zkapp_token_id: str | None
    transaction_hash: str | None
    transaction_nonce: int | None
    correlation_id: str | None


@dataclass(frozen=True)
class DeployResult(Result):
    zkapp_address: str
    zkapp_token_id: str
    transaction_id: str
    transaction_hash: str
    transaction_nonce: int
    zkapp_verification_key_hash: str | None


# -- notify --------------------------------------------------------------------------------

@dataclass(frozen=True)
class NotifyPayload:
    submission_id: UUID
    correlation_id: str | None
