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

__all__ = ["ACTIONS_QUERY", "DOCUMENTS", "NETWORK_STATE_QUERY", "ActionBlock", "ArchiveClient",
           "RecordedAction"]

# Checked against devtools/archive.graphql (the archive's types) by test_graphql_documents.
ACTIONS_QUERY = """
query Actions($input: ActionFilterOptionsInput!) {
  actions(input: $input) {
    blockInfo { height stateHash chainStatus distanceFromMaxBlockHeight }
    actionData { accountUpdateId data transactionInfo { hash status authorizationKind } }
    actionState { actionStateOne actionStateTwo }
  }
}"""

# The archive's newest block: where a search for a record without a known height starts.
NETWORK_STATE_QUERY = """
query NetworkState {
  networkState { maxBlockHeight { canonicalMaxBlockHeight pendingMaxBlockHeight } }
}"""

DOCUMENTS = {"actions": ACTIONS_QUERY, "network_state": NETWORK_STATE_QUERY}


@dataclass(frozen=True)
class RecordedAction:
    fields: tuple[int, ...]
    account_update_id: str
    transaction_hash: str
    # "Proof", "Signature" or "None_given": how the account update that carried it was
    # authorized (the archive's authorization_kind_type); "" when the archive did not say
    authorization_kind: str = ""


@dataclass(frozen=True)
class ActionBlock:
    """The actions one block added to the zkApp, in order."""

    height: int
    state_hash: str
    chain_status: str  # "canonical" (final) or "pending"
    actions: tuple[RecordedAction, ...]
    # What the archive says the zkApp's action state was before and after this block (its
    # actionStateTwo and actionStateOne: the account's last two action states, and a block is
    # one slot). Claims, never evidence: a verifier folds the actions itself.
    state_before: int | None = None
    state_after: int | None = None

    def updates(self) -> list[list[RecordedAction]]:
        """The actions grouped by account update, as they are hashed into the action state.

        An account update is named by its transaction and its `accountUpdateId` together: the
        archive's id is the id of the update's *body*, so two identical receipts in consecutive
        transactions share one id (docs/chain.md), and only the transaction tells them apart."""
        groups: list[list[RecordedAction]] = []
        for action in self.actions:
            if groups and _same_update(groups[-1][0], action):
                groups[-1].append(action)
            else:
                groups.append([action])
        return groups


def _same_update(a: RecordedAction, b: RecordedAction) -> bool:
    return (a.account_update_id, a.transaction_hash) == (b.account_update_id, b.transaction_hash)


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

    async def tip_height(self) -> int:
        """The height of the newest block the archive holds (pending or not)."""
        data, errors = await self._call(NETWORK_STATE_QUERY, {})
        try:
            heights = data["networkState"]["maxBlockHeight"]
            return _int(heights["pendingMaxBlockHeight"], "pendingMaxBlockHeight")
        except (KeyError, TypeError):
            raise ChainError("the archive's networkState query failed: "
                             f"{errors[0] if errors else repr(data)[:200]}") from None


def _block(item: dict[str, Any]) -> ActionBlock:
    info = item["blockInfo"]
    states = item.get("actionState") or {}
    return ActionBlock(
        height=_int(info["height"], "block height"),
        state_hash=str(info["stateHash"]),
        chain_status=str(info["chainStatus"]),
        actions=tuple(_action(action) for action in item["actionData"] or []),
        state_before=_optional_int(states.get("actionStateTwo"), "actionStateTwo"),
        state_after=_optional_int(states.get("actionStateOne"), "actionStateOne"),
    )


def _action(action: dict[str, Any]) -> RecordedAction:
    info = action.get("transactionInfo") or {}
    return RecordedAction(tuple(_int(value, "action field") for value in action["data"]),
                          str(action["accountUpdateId"]), str(info.get("hash") or ""),
                          str(info.get("authorizationKind") or ""))


def _optional_int(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)
