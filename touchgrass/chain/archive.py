"""An archive node's GraphQL API (Archive-Node-API), the part a verifier reads: a zkApp's
actions with the block and transaction each came in (`ARCHIVE_NODE_ENDPOINT`).

The archive is a data source, never a witness: what it returns is folded into the action-state
hash and compared with the node's (operator/receipts.py), so an archive that leaves an action
out, adds one or changes one is caught. Its answers are validated here like the node's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from touchgrass.chain.client import GraphQLClient, _int
from touchgrass.errors import ChainError

__all__ = ["ACTIONS_QUERY", "DOCUMENTS", "ActionBlock", "ArchiveClient", "RecordedAction"]

# Checked against devtools/archive.graphql (the archive's types) by test_graphql_documents.
ACTIONS_QUERY = """
query Actions($input: ActionFilterOptionsInput!) {
  actions(input: $input) {
    blockInfo { height stateHash chainStatus distanceFromMaxBlockHeight }
    actionData { accountUpdateId data transactionInfo { hash status } }
    actionState { actionStateOne actionStateTwo }
  }
}"""

DOCUMENTS = {"actions": ACTIONS_QUERY}


@dataclass(frozen=True)
class RecordedAction:
    fields: tuple[int, ...]
    account_update_id: str
    transaction_hash: str


@dataclass(frozen=True)
class ActionBlock:
    """The actions one block added to the zkApp, in order."""

    height: int
    state_hash: str
    chain_status: str  # "canonical" (final) or "pending"
    actions: tuple[RecordedAction, ...]

    def updates(self) -> list[list[RecordedAction]]:
        """The actions grouped by account update, as they are hashed into the action state."""
        groups: list[list[RecordedAction]] = []
        for action in self.actions:
            if groups and groups[-1][0].account_update_id == action.account_update_id:
                groups[-1].append(action)
            else:
                groups.append([action])
        return groups


class ArchiveClient(GraphQLClient):
    what = "the archive"

    async def actions(self, address: str, *, from_height: int | None = None,
                      to_height: int | None = None) -> list[ActionBlock]:
        """The zkApp's actions, oldest block first: from `from_height` (inclusive) to
        `to_height` (exclusive), as Archive-Node-API reads them. Without either, a real
        archive scans only its last BLOCK_RANGE_SIZE blocks (10,000 by default), and a range
        wider than that is an error (docs/chain.md)."""
        query: dict[str, Any] = {"address": address}
        if from_height is not None:
            query["from"] = from_height
        if to_height is not None:
            query["to"] = to_height
        data, errors = await self._call(ACTIONS_QUERY, {"input": query})
        raw = (data or {}).get("actions") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            raise ChainError(f"the archive's actions query failed: "
                             f"{errors[0] if errors else repr(raw)[:200]}")
        try:
            blocks = [_block(item) for item in raw if item is not None]
        except (KeyError, TypeError, AttributeError) as error:
            raise ChainError(f"the archive's actions answer lacks {error}") from None
        return sorted(blocks, key=lambda block: block.height)


def _block(item: dict[str, Any]) -> ActionBlock:
    info = item["blockInfo"]
    return ActionBlock(
        height=_int(info["height"], "block height"),
        state_hash=str(info["stateHash"]),
        chain_status=str(info["chainStatus"]),
        actions=tuple(
            RecordedAction(tuple(_int(value, "action field") for value in action["data"]),
                           str(action["accountUpdateId"]),
                           str((action.get("transactionInfo") or {}).get("hash") or ""))
            for action in item["actionData"] or []),
    )
