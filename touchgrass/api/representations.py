"""Rows to the JSON the TouchGrass clients expect: camelCase, ISO dates with milliseconds and
a Z, and optional fields omitted (never null). Submissions are written the same way in SQL
(store/submissions.py, `SUBMISSION_JSON`): their lists are the long ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from touchgrass.chain.records import receipt_fields
from touchgrass.node.keys import known_keys
from touchgrass.signatures import SignerKey
from touchgrass.statuses import ReceiptKind
from touchgrass.store.receipts import ReceiptRow

__all__ = ["challenge", "chain", "iso", "like", "receipt", "user"]


def iso(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ`, always a four-digit year (strftime drops the zeros of
    years before 1000 on glibc)."""
    value = value.astimezone(UTC)
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
            f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z")


def _present(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None and value != ""}


def user(row: dict[str, Any]) -> dict[str, Any]:
    return {"walletAddress": row["wallet_address"], "createdAt": iso(row["created_at"]),
            "updatedAt": iso(row["updated_at"])}


def challenge(row: dict[str, Any]) -> dict[str, Any]:
    return _present({
        "id": str(row["id"]),
        "title": row["title"],
        "description": row["description"],
        "startTime": iso(row["start_time"]),
        "endTime": iso(row["end_time"]),
        "participantCount": row["participant_count"],
        "chainCount": row["chain_count"],
        "zkAppAddress": row["zkapp_address"],
        "deploymentStatus": row["deployment_status"],
        "transactionId": row["transaction_id"],
        "failureReason": row["failure_reason"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    })


def chain(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "challengeId": str(row["challenge_id"]),
        "length": row["length"],
        "createdAt": iso(row["created_at"]),
        "lastActivityAt": iso(row["last_activity_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def like(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "submissionId": str(row["submission_id"]),
            "walletAddress": row["wallet_address"], "createdAt": iso(row["created_at"]),
            "updatedAt": iso(row["updated_at"])}


def receipt(row: ReceiptRow, signer: SignerKey) -> dict[str, Any]:
    """GET /api/receipts/:sha256: where the record is and what it holds (docs/http-api.md)."""
    kind = ReceiptKind.TOKEN_ACCOUNT if row.token_owner_address else ReceiptKind.ACTION
    digest = bytes.fromhex(row.sha256_hash)
    contracts = [c.zkapp.hash for c in known_keys().contracts
                 if c.curve == signer.curve and c.receipts is kind]
    return _present({
        "submissionId": str(row.id),
        "sha256Hash": row.sha256_hash,
        "kind": str(kind),
        "zkAppAddress": row.zkapp_address,
        "transactionHash": row.transaction_hash,
        # Photos share a command (a batch): this one's place in it, and how many it carries.
        "batch": {"position": row.batch_position, "size": row.batch_size}
        if row.batch_size else None,
        "blockHeight": row.block_height,
        "chainStatus": str(row.chain_status) if row.chain_status else None,
        "publishedAt": iso(row.published_at) if row.published_at else None,
        "chainId": str(row.chain_id),
        "signer": {"curve": signer.curve, "x": f"{signer.x:064x}", "y": f"{signer.y:064x}"},
        "record": [str(v) for v in receipt_fields(row.chain_id, digest, signer.x, signer.y)],
        "verificationKeyHashes": contracts,
        "tokenOwnerAddress": row.token_owner_address,
        "tokenId": row.token_id,
        "verify": f"touchgrass verify {row.sha256_hash} --zkapp {row.zkapp_address}",
    })
