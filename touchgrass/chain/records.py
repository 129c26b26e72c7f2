"""A photo's receipt as AuthenticityZkApp records it (js/src/zkapp.js): seven fields.

    [0] chain id (the UUID as an integer)   [1, 2] SHA-256 high / low 128 bits
    [3, 4] signer x high / low              [5, 6] signer y high / low

The same layout whether the record is an action (this version) or a token account's app state
(before migration 0010). The API shows it, `verify` parses it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

__all__ = ["EMPTY_ACTION_STATE", "Record", "chain_id_field", "chain_text", "receipt_fields"]

# A zkApp's action state before its first action (o1js's Actions.emptyActionState(), the
# daemon's Zkapp_account.Actions.empty_state_element; test_receipts checks it against o1js).
EMPTY_ACTION_STATE = \
    25079927036070901246064867767436987657692091363973573142121686150614948079097


def chain_id_field(chain_id: UUID) -> str:
    """The chain id as the field element written into the receipt (a UUID is 128 bits)."""
    return str(chain_id.int)


@dataclass(frozen=True)
class Record:
    """One receipt as the contract writes it (zkapp.js): chain id, digest, signer."""

    chain_id: int
    digest: bytes
    signer_x: int
    signer_y: int
    height: int | None = None
    transaction_hash: str | None = None
    chain_status: str | None = None

    @classmethod
    def from_fields(cls, fields: Sequence[int], *, height: int | None = None,
                    transaction_hash: str | None = None, chain_status: str | None = None
                    ) -> Record | None:
        """None for fields that are not a receipt (another length, a half over 128 bits)."""
        if len(fields) != 7 or any(not 0 <= v < 1 << 128 for v in fields[1:]):
            return None
        chain, d_high, d_low, x_high, x_low, y_high, y_low = fields
        digest = d_high.to_bytes(16, "big") + d_low.to_bytes(16, "big")
        return cls(chain, digest, (x_high << 128) | x_low, (y_high << 128) | y_low,
                   height, transaction_hash, chain_status)

    def describe(self) -> str:
        where = f"transaction {self.transaction_hash}" if self.transaction_hash else "a token account"
        if self.height is not None:
            where += f" in block {self.height} ({self.chain_status})"
        return (f"{where}: SHA-256 {self.digest.hex()}, signer {self.signer_x:064x},"
                f"{self.signer_y:064x}, chain {chain_text(self.chain_id)}")


def receipt_fields(chain_id: UUID, digest: bytes, signer_x: int, signer_y: int) -> list[int]:
    """The seven fields AuthenticityZkApp records for a photo (128-bit halves)."""
    low = (1 << 128) - 1
    return [chain_id.int, int.from_bytes(digest[:16], "big"), int.from_bytes(digest[16:], "big"),
            signer_x >> 128, signer_x & low, signer_y >> 128, signer_y & low]


def chain_text(chain_id: int) -> str:
    """A recorded chain id as the API spells chain ids (a UUID), or the number as it is."""
    return str(UUID(int=chain_id)) if 0 <= chain_id < 1 << 128 else str(chain_id)
