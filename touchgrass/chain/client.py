"""A Mina daemon's GraphQL API, the subset touchgrass uses, from Python (aiohttp).

The same code talks to a real node (`MINA_NODE_ENDPOINT`) and to `touchgrass devnet`. Every
answer is validated at this edge: a missing or malformed field is a `ChainError`, never a
KeyError deep inside a role. Refusals of `sendZkapp` come back as HTTP 200 with an
`errors` array; `classify` turns their text into a kind the publisher can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from touchgrass.errors import ChainError, NodeNotSynced, SendErrorKind, SendRejected

__all__ = ["DOCUMENTS", "Account", "Block", "ChainClient", "GraphQLClient", "NodeInfo",
           "SentCommand", "ZkappAccount", "classify"]

# Every document here is validated against the daemon's schema (devtools/daemon.graphql, a
# transcript of the types we use) by tests/test_graphql_documents.py.

ACCOUNT_QUERY = """
query Account($publicKey: PublicKey!, $token: TokenId) {
  account(publicKey: $publicKey, token: $token) {
    publicKey tokenId nonce inferredNonce balance { total } zkappState
  }
}"""

# The verifier's look at a zkApp: which contract it runs (its verification key's hash) and the
# action-state hash that commits to every action it ever recorded (mina-daemon.md: `actionState`
# is the account's five latest action states, newest first).
ZKAPP_ACCOUNT_QUERY = """
query ZkappAccount($publicKey: PublicKey!) {
  account(publicKey: $publicKey) {
    publicKey zkappState verificationKey { hash } actionState
  }
}"""

# Asked only when `account` is null: a node that is not synced answers null with no error,
# which must not be read as "no such account" (mina-daemon.md).
SYNC_STATUS = """
query SyncStatus { daemonStatus { syncStatus } }"""

NODE_VERSION = """
query NodeVersion { version daemonStatus { syncStatus chainId } }"""

SEND_ZKAPP = """
mutation SendZkapp($input: SendZkappInput!) {
  sendZkapp(input: $input) { zkapp { hash } }
}"""

# Asked with the hashes we follow, so the answer is bounded by our own commands.
POOLED_ZKAPP_COMMANDS = """
query Pooled($publicKey: PublicKey, $hashes: [String!]) {
  pooledZkappCommands(publicKey: $publicKey, hashes: $hashes) { hash }
}"""

BEST_CHAIN = """
query BestChain($maxLength: Int) {
  bestChain(maxLength: $maxLength) {
    stateHash
    protocolState { consensusState { blockHeight } }
    transactions { zkappCommands { hash failureReason { index failures } } }
  }
}"""

DOCUMENTS = {"account": ACCOUNT_QUERY, "zkapp_account": ZKAPP_ACCOUNT_QUERY,
             "sync_status": SYNC_STATUS, "node_version": NODE_VERSION,
             "send_zkapp": SEND_ZKAPP, "pooled_zkapp_commands": POOLED_ZKAPP_COMMANDS,
             "best_chain": BEST_CHAIN}


_KINDS = [
    (re.compile(r"Insufficient_replace_fee", re.I), SendErrorKind.REPLACE_FEE),
    (re.compile(r"Duplicate", re.I), SendErrorKind.DUPLICATE),
    (re.compile(r"nonce", re.I), SendErrorKind.NONCE),
    (re.compile(r"Insufficient_funds|Insufficient_fee|Fee_payer_account_not_found|"
                r"Overflow|balance", re.I), SendErrorKind.BALANCE),
    (re.compile(r"Verification_failed|Invalid_proof|Invalid_signature|proof|signature", re.I),
     SendErrorKind.INVALID_PROOF),
]


def classify(message: str) -> SendErrorKind:
    for pattern, kind in _KINDS:
        if pattern.search(message):
            return kind
    return SendErrorKind.OTHER


@dataclass(frozen=True)
class Account:
    public_key: str
    token_id: str
    nonce: int | None  # nullable in the daemon's schema
    inferred_nonce: int | None  # counts the fee payer's pending commands too; nullable
    balance_nanomina: int
    zkapp_state: list[int] | None

    @property
    def next_nonce(self) -> int | None:
        """The nonce a new command of this account takes: pooled commands counted."""
        return self.inferred_nonce if self.inferred_nonce is not None else self.nonce


@dataclass(frozen=True)
class ZkappAccount:
    public_key: str
    verification_key_hash: str | None  # None: not a zkApp (no verification key)
    action_state: int | None  # the newest action-state hash; None: not a zkApp
    zkapp_state: list[int] | None


@dataclass(frozen=True)
class SentCommand:
    """A command the node accepted. Only its hash identifies it publicly (the daemon's
    `zkapp.id` is the whole serialized command, tens of KB: never asked for, never stored)."""

    hash: str


@dataclass(frozen=True)
class NodeInfo:
    version: str  # the daemon's release, e.g. 4.0.0-mainnet-mesa-6850301 (era: node/era.py)
    sync_status: str
    chain_id: str


@dataclass(frozen=True)
class Block:
    height: int
    state_hash: str
    zkapp_command_hashes: tuple[str, ...]
    # Included but failed (fee paid, account updates not applied): hash -> reason
    failed: dict[str, str] = field(default_factory=dict)


def _failures(reason: Any) -> str:
    """The daemon's `failureReason` list ([{index, failures: [...]}]) as one line."""
    if isinstance(reason, list):
        return "; ".join(", ".join(map(str, item.get("failures", []))) if isinstance(item, dict)
                         else str(item) for item in reason)
    return str(reason)


def _int(value: Any, what: str) -> int:
    """The daemon sends UInt32/UInt64/Balance/... as strings; anything else is malformed."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ChainError(f"the node answered a malformed {what}: {value!r}") from None


def _why(errors: list[str], data: Any) -> str:
    """The reason an answer is unusable: the node's first error, else what it sent."""
    return errors[0] if errors else repr(data)


def _optional_int(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)


class GraphQLClient:
    """One GraphQL endpoint over aiohttp; every failure is a `ChainError` naming it."""

    what = "the node"

    def __init__(self, endpoint: str, *, timeout_s: float = 30.0) -> None:
        self.endpoint = endpoint
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, query: str, variables: dict[str, Any]) -> tuple[Any, list[str]]:
        """(data, error messages) of one GraphQL request."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        for attempt in (1, 2):
            try:
                body = await self._post(query, variables)
                break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
                # A kept-alive connection the server closed as we reused it (the keep-alive
                # race, seen against Node's 5 s timeout): once more on a new connection. A
                # resent sendZkapp is answered Duplicate, which the publisher reads as sent.
                if attempt == 2:
                    raise self._unreachable(error) from None
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                raise self._unreachable(error) from None
            except ValueError:
                raise ChainError(f"{self.what} at {self.endpoint} answered something that is "
                                 "not JSON") from None
        if not isinstance(body, dict):
            raise ChainError(f"{self.what}'s answer is not a JSON object")
        errors = [str(e.get("message", e)) if isinstance(e, dict) else str(e)
                  for e in body.get("errors") or []]
        return body.get("data"), errors

    def _unreachable(self, error: BaseException) -> ChainError:
        return ChainError(f"{self.what} at {self.endpoint} is unreachable: "
                          f"{type(error).__name__}: {error}")

    async def _post(self, query: str, variables: dict[str, Any]) -> Any:
        assert self._session is not None
        async with self._session.post(self.endpoint, json={"query": query,
                                                           "variables": variables}) as answer:
            if answer.status >= 500 or answer.status in (404, 405):
                raise ChainError(f"{self.what} at {self.endpoint} answered HTTP {answer.status}")
            return await answer.json(content_type=None)


class ChainClient(GraphQLClient):
    """A Mina daemon's GraphQL API."""

    async def zkapp(self, public_key: str) -> ZkappAccount | None:
        """The account's contract and action state; None when no account is there."""
        data, errors = await self._call(ZKAPP_ACCOUNT_QUERY, {"publicKey": public_key})
        raw = (data or {}).get("account") if isinstance(data, dict) else None
        if raw is None:
            if errors:
                raise ChainError(f"account query failed: {errors[0]}")
            await self._require_synced()
            return None
        try:
            key = raw.get("verificationKey")
            actions = raw.get("actionState")
            state = raw.get("zkappState")
            return ZkappAccount(
                public_key=str(raw["publicKey"]),
                verification_key_hash=str(key["hash"]) if isinstance(key, dict) else None,
                action_state=_int(actions[0], "actionState") if actions else None,
                zkapp_state=[_int(v, "zkappState") for v in state] if state is not None else None,
            )
        except (KeyError, TypeError) as error:
            raise ChainError(f"the node's account answer lacks {error}") from None

    async def account(self, public_key: str, token: str | None = None) -> Account | None:
        """The account as of the best tip, or None when it does not exist (yet).

        A null answer from a node that is not synced raises NodeNotSynced instead: it says
        nothing about the account."""
        variables: dict[str, Any] = {"publicKey": public_key}
        if token is not None:
            variables["token"] = token
        data, errors = await self._call(ACCOUNT_QUERY, variables)
        raw = (data or {}).get("account") if isinstance(data, dict) else None
        if raw is None:
            if errors and not any("not found" in e.lower() or "no account" in e.lower()
                                  for e in errors):
                raise ChainError(f"account query failed: {errors[0]}")
            await self._require_synced()
            return None
        try:
            state = raw.get("zkappState")
            return Account(
                public_key=str(raw["publicKey"]),
                token_id=str(raw["tokenId"]),
                nonce=_optional_int(raw.get("nonce"), "nonce"),
                inferred_nonce=_optional_int(raw.get("inferredNonce"), "inferredNonce"),
                balance_nanomina=_int(raw["balance"]["total"], "balance"),
                zkapp_state=[_int(v, "zkappState") for v in state] if state is not None else None,
            )
        except (KeyError, TypeError) as error:
            raise ChainError(f"the node's account answer lacks {error}") from None

    async def _require_synced(self) -> None:
        data, errors = await self._call(SYNC_STATUS, {})
        try:
            status = str(data["daemonStatus"]["syncStatus"])
        except (KeyError, TypeError):
            raise ChainError(f"daemonStatus failed: {_why(errors, data)}") from None
        if status != "SYNCED":
            raise NodeNotSynced(f"the Mina node at {self.endpoint} is not synced "
                                f"(syncStatus {status}); its ledger answers mean nothing yet")

    async def node_info(self) -> NodeInfo:
        """The daemon's release and sync status (the publish role's era check reads it)."""
        data, errors = await self._call(NODE_VERSION, {})
        try:
            status = data["daemonStatus"]
            return NodeInfo(version=str(data.get("version") or ""),
                            sync_status=str(status["syncStatus"]), chain_id=str(status["chainId"]))
        except (KeyError, TypeError, AttributeError):
            raise ChainError(f"the node's version query failed: "
                             f"{_why(errors, data)}") from None

    async def send_zkapp(self, command: dict[str, Any]) -> SentCommand:
        """Submit a signed zkApp command (o1js `tx.toJSON()` form)."""
        data, errors = await self._call(SEND_ZKAPP, {"input": {"zkappCommand": command}})
        if errors:
            raise SendRejected(errors[0], classify(errors[0]))
        try:
            return SentCommand(hash=str(data["sendZkapp"]["zkapp"]["hash"]))
        except (KeyError, TypeError):
            raise ChainError("the node accepted the command but returned no hash") from None

    async def pooled_hashes(self, *, public_key: str | None = None,
                            hashes: list[str] | None = None) -> set[str]:
        """Hashes of commands waiting in the node's mempool: a fee payer's, or those of
        `hashes` that are there."""
        variables: dict[str, Any] = {"publicKey": public_key, "hashes": hashes}
        data, errors = await self._call(POOLED_ZKAPP_COMMANDS, variables)
        raw = (data or {}).get("pooledZkappCommands") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            raise ChainError(f"pooledZkappCommands failed: {_why(errors, raw)}")
        return {str(item["hash"]) for item in raw if isinstance(item, dict) and "hash" in item}

    async def best_chain(self, max_length: int | None = None) -> list[Block]:
        """The newest blocks, oldest first, with the zkApp commands each included (the whole
        frontier when max_length is None)."""
        data, errors = await self._call(BEST_CHAIN, {"maxLength": max_length})
        raw = (data or {}).get("bestChain") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            raise ChainError(f"bestChain failed: {_why(errors, raw)}")
        blocks = []
        try:
            for block in raw:
                commands = (block.get("transactions") or {}).get("zkappCommands") or []
                blocks.append(Block(
                    height=_int(block["protocolState"]["consensusState"]["blockHeight"],
                                "blockHeight"),
                    state_hash=str(block["stateHash"]),
                    zkapp_command_hashes=tuple(str(c["hash"]) for c in commands),
                    failed={str(c["hash"]): _failures(c["failureReason"]) for c in commands
                            if c.get("failureReason")},
                ))
        except (KeyError, TypeError, AttributeError) as error:
            raise ChainError(f"the node's bestChain answer lacks {error}") from None
        return blocks
