"""A Mina daemon's GraphQL API, the subset touchgrass uses, from Python (aiohttp).

The same code talks to a real node (`MINA_NODE_ENDPOINT`) and to `touchgrass devnet`. Every
answer is validated at this edge: a missing or malformed field is a `ChainError`, never a
KeyError deep inside a role. Refusals of `sendZkapp` come back as HTTP 200 with an
`errors` array; `classify` turns their text into a kind the publisher can act on.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from touchgrass.errors import (
    ChainError,
    NodeNotSynced,
    SendAnswerLost,
    SendErrorKind,
    SendRejected,
)

__all__ = ["DOCUMENTS", "Account", "Block", "ChainClient", "GraphQLClient", "NodeInfo",
           "SentCommand", "ZkappAccount", "classify", "declared_variables"]

# Every document here is validated against the daemon's schema (devtools/daemon.graphql, a
# transcript of the types we use) by tests/test_graphql_documents.py.

ACCOUNT_QUERY = """
query Account($publicKey: PublicKey!, $token: TokenId) {
  account(publicKey: $publicKey, token: $token) {
    publicKey tokenId nonce inferredNonce balance { total } zkappState
  }
}"""

# The verifier's look at a zkApp: which contract it runs (its verification key's hash), who may
# change what (its permissions), and the action-state hashes that commit to every action it
# ever recorded (docs/chain.md: `actionState` is the account's five latest action states,
# newest first).
ZKAPP_ACCOUNT_QUERY = """
query ZkappAccount($publicKey: PublicKey!) {
  account(publicKey: $publicKey) {
    publicKey zkappState verificationKey { hash } actionState
    permissions {
      editState access send receive setDelegate setPermissions
      setVerificationKey { auth txnVersion }
      setZkappUri editActionState setTokenSymbol incrementNonce setVotingFor setTiming
    }
  }
}"""

# Asked only when `account` is null: a node that is not synced answers null with no error,
# which must not be read as "no such account" (docs/chain.md).
SYNC_STATUS = """
query SyncStatus { daemonStatus { syncStatus } }"""

# Who the node is: its network (the signature domain), the chain of its current hard fork and
# the consensus constants that tell the era (docs/chain.md "Telling a network's era"). The
# daemon's `version` is its git commit id, not a release: it names no era.
NODE_VERSION = """
query NodeVersion {
  version networkID
  daemonStatus { syncStatus chainId consensusConfiguration { k slotDuration } }
}"""

SEND_ZKAPP = """
mutation SendZkapp($input: SendZkappInput!) {
  sendZkapp(input: $input) { zkapp { hash } }
}"""

# Asked with the hashes we follow, so the answer is bounded by our own commands.
POOLED_ZKAPP_COMMANDS = """
query Pooled($publicKey: PublicKey, $hashes: [String!]) {
  pooledZkappCommands(publicKey: $publicKey, hashes: $hashes) { hash }
}"""

# The tip alone: a block without its transactions, asked first each pass so that only the
# blocks since the last pass are read with their commands.
BEST_TIP = """
query BestTip {
  bestChain(maxLength: 1) { stateHash protocolState { consensusState { blockHeight } } }
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
             "best_chain": BEST_CHAIN, "best_tip": BEST_TIP}

_DECLARATIONS = re.compile(r"^\s*(?:query|mutation)\s*\w*\s*\(([^)]*)\)")
_VARIABLE = re.compile(r"\$(\w+)\s*:")


@functools.cache
def declared_variables(document: str) -> tuple[str, ...]:
    """The variables an operation declares, in order.

    A Mina daemon's GraphQL library (ocaml-graphql-server 0.13.0) answers HTTP 400 "Missing
    variable" for a declared variable the request leaves out, where graphql-js reads it as
    null: every request sends all of them, null when absent (docs/chain.md)."""
    found = _DECLARATIONS.match(document)
    return tuple(_VARIABLE.findall(found.group(1))) if found else ()


# Refusal texts, read in the daemon's sources (docs/chain.md "Send refusals"); the first
# pattern that matches decides. "Not ready" comes first: a bootstrapping node's text says
# nothing about the command.
_KINDS = [
    (re.compile(r"Daemon is bootstrapping|transition frontier|After_slot_tx_end|\bExpired\b|"
                r"\bOverloaded\b", re.I), SendErrorKind.NOT_READY),
    (re.compile(r"Fee_payer_not_permitted_to_send", re.I), SendErrorKind.CONFIGURATION),
    (re.compile(r"Zkapp too big", re.I), SendErrorKind.TOO_BIG),
    (re.compile(r"Insufficient_replace_fee", re.I), SendErrorKind.REPLACE_FEE),
    (re.compile(r"Duplicate", re.I), SendErrorKind.DUPLICATE),
    (re.compile(r"nonce", re.I), SendErrorKind.NONCE),
    (re.compile(r"Insufficient_funds|Insufficient_fee|Fee_payer_account_not_found|"
                r"Overflow|balance", re.I), SendErrorKind.BALANCE),
    (re.compile(r"Invalid_signature|signature", re.I), SendErrorKind.INVALID_SIGNATURE),
    (re.compile(r"Verification_failed|Invalid_proof|proof", re.I), SendErrorKind.INVALID_PROOF),
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
    # the five latest action states, newest first (the account keeps the state at the end of
    # each of its last slots with actions)
    action_states: tuple[int, ...] = ()
    # as the daemon names them; setVerificationKey as "Auth/txnVersion" (e.g. "Impossible/3")
    permissions: dict[str, str] | None = None


@dataclass(frozen=True)
class SentCommand:
    """A command the node accepted. Only its hash identifies it publicly (the daemon's
    `zkapp.id` is the whole serialized command, tens of KB: never asked for, never stored)."""

    hash: str


@dataclass(frozen=True)
class NodeInfo:
    version: str  # the daemon's git commit id (40 hex), not a release number
    network_id: str  # `mina:<network>`: decides the signature domain
    sync_status: str
    chain_id: str  # changes at every hard fork
    k: int  # blocks in the node's frontier (what bestChain and transactionStatus know)
    slot_duration_ms: int  # 180000 before Mesa, 90000 on Mesa (node/era.py)


@dataclass(frozen=True)
class Tip:
    height: int
    state_hash: str


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


def _permissions(raw: Any) -> dict[str, str] | None:
    """The account's permissions, flat: each an AccountAuthRequired name, and
    setVerificationKey as "Auth/txnVersion"."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ChainError(f"the node answered malformed permissions: {raw!r:.200}")
    flat = {name: str(value) for name, value in raw.items() if not isinstance(value, dict)}
    key = raw.get("setVerificationKey")
    if isinstance(key, dict):
        flat["setVerificationKey"] = f"{key.get('auth')}/{key.get('txnVersion')}"
    return flat


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

    async def _call(self, query: str, variables: dict[str, Any], *,
                    timeout_s: float | None = None) -> tuple[Any, list[str]]:
        """(data, error messages) of one GraphQL request, every declared variable sent."""
        declared = declared_variables(query)
        extra = set(variables) - set(declared)
        if extra:
            raise ValueError(f"variables {sorted(extra)} are not declared by the document")
        variables = {name: variables.get(name) for name in declared}
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        for attempt in (1, 2):
            try:
                body = await self._post(query, variables, timeout_s)
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
        """A request that may have reached the node (a timeout, a connection closed while we
        waited) is SendAnswerLost; one that never left (refused, no route) a ChainError."""
        lost = isinstance(error, TimeoutError | aiohttp.ServerDisconnectedError
                          | aiohttp.ClientPayloadError)
        kind = SendAnswerLost if lost else ChainError
        return kind(f"{self.what} at {self.endpoint} "
                    f"{'did not answer' if lost else 'is unreachable'}: "
                    f"{type(error).__name__}: {error}".rstrip(": "))

    async def _post(self, query: str, variables: dict[str, Any], timeout_s: float | None) -> Any:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s else None
        # HTTP 400 is read like 200: the daemon's GraphQL library answers argument and
        # validation errors, and a failed non-null field like sendZkapp's, with 400 and a
        # JSON `errors` list (docs/chain.md).
        async with self._session.post(self.endpoint, json={"query": query, "variables": variables},
                                      timeout=timeout) as answer:
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
                action_states=tuple(_int(v, "actionState") for v in actions or ()),
                permissions=_permissions(raw.get("permissions")),
            )
        except (KeyError, TypeError) as error:
            raise ChainError(f"the node's account answer lacks {error}") from None

    async def account(self, public_key: str, token: str | None = None) -> Account | None:
        """The account as of the best tip, or None when it does not exist (yet).

        A null answer from a node that is not synced raises NodeNotSynced instead: it says
        nothing about the account."""
        data, errors = await self._call(ACCOUNT_QUERY, {"publicKey": public_key, "token": token})
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
        """Who the node is: network, chain, sync status and consensus constants (the publish
        role's network and era checks read it)."""
        data, errors = await self._call(NODE_VERSION, {})
        try:
            status = data["daemonStatus"]
            consensus = status["consensusConfiguration"]
            return NodeInfo(version=str(data.get("version") or ""),
                            network_id=str(data["networkID"]),
                            sync_status=str(status["syncStatus"]), chain_id=str(status["chainId"]),
                            k=_int(consensus["k"], "k"),
                            slot_duration_ms=_int(consensus["slotDuration"], "slotDuration"))
        except (KeyError, TypeError, AttributeError):
            raise ChainError(f"the node's version query failed: "
                             f"{_why(errors, data)}") from None

    async def send_zkapp(self, command: dict[str, Any], *,
                         timeout_s: float | None = None) -> SentCommand:
        """Submit a signed zkApp command (o1js `tx.toJSON()` form).

        A node verifies the command's proofs before it answers (tens of seconds on a busy
        one), hence its own, longer timeout. A send whose answer is lost raises
        SendAnswerLost: the node may have the command."""
        data, errors = await self._call(SEND_ZKAPP, {"input": {"zkappCommand": command}},
                                        timeout_s=timeout_s)
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

    async def best_tip(self) -> Tip | None:
        """The best tip's height and state hash, without transactions; None while the node
        has no frontier."""
        data, errors = await self._call(BEST_TIP, {})
        raw = (data or {}).get("bestChain") if isinstance(data, dict) else None
        if raw is None and not errors:
            return None
        if not isinstance(raw, list):
            raise ChainError(f"bestChain failed: {_why(errors, raw)}")
        if not raw:
            return None
        try:
            block = raw[-1]
            return Tip(height=_int(block["protocolState"]["consensusState"]["blockHeight"],
                                   "blockHeight"), state_hash=str(block["stateHash"]))
        except (KeyError, TypeError) as error:
            raise ChainError(f"the node's bestChain answer lacks {error}") from None

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
