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

from touchgrass.errors import ChainError, SendErrorKind, SendRejected

__all__ = ["Account", "Block", "ChainClient", "SentCommand", "classify"]

ACCOUNT_QUERY = """
query Account($publicKey: PublicKey!, $token: TokenId) {
  account(publicKey: $publicKey, token: $token) {
    publicKey token nonce inferredNonce balance { total } zkappState
  }
}"""

SEND_ZKAPP = """
mutation SendZkapp($input: SendZkappInput!) {
  sendZkapp(input: $input) { zkapp { id hash } }
}"""

TRANSACTION_STATUS = """
query TransactionStatus($id: ID!) { transactionStatus(zkappTransaction: $id) }"""

POOLED_ZKAPP_COMMANDS = """
query Pooled($publicKey: PublicKey) { pooledZkappCommands(publicKey: $publicKey) { hash } }"""

BEST_CHAIN = """
query BestChain($maxLength: Int) {
  bestChain(maxLength: $maxLength) {
    stateHash
    protocolState { consensusState { blockHeight } }
    transactions { zkappCommands { hash failureReason { index failures } } }
  }
}"""


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
    token: str
    nonce: int
    inferred_nonce: int  # counts the fee payer's pending commands too
    balance_nanomina: int
    zkapp_state: list[int] | None


@dataclass(frozen=True)
class SentCommand:
    id: str
    hash: str


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
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ChainError(f"the node answered a malformed {what}: {value!r}") from None


class ChainClient:
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
        try:
            async with self._session.post(self.endpoint, json={"query": query,
                                                               "variables": variables}) as answer:
                if answer.status >= 500 or answer.status in (404, 405):
                    raise ChainError(f"the node at {self.endpoint} answered HTTP {answer.status}")
                body = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise ChainError(f"the node at {self.endpoint} is unreachable: "
                             f"{type(error).__name__}: {error}") from None
        except ValueError:
            raise ChainError(f"the node at {self.endpoint} answered something that is not JSON"
                             ) from None
        if not isinstance(body, dict):
            raise ChainError("the node's answer is not a JSON object")
        errors = [str(e.get("message", e)) if isinstance(e, dict) else str(e)
                  for e in body.get("errors") or []]
        return body.get("data"), errors

    async def account(self, public_key: str, token: str | None = None) -> Account | None:
        """The account, or None when it does not exist (yet)."""
        variables: dict[str, Any] = {"publicKey": public_key}
        if token is not None:
            variables["token"] = token
        data, errors = await self._call(ACCOUNT_QUERY, variables)
        raw = (data or {}).get("account") if isinstance(data, dict) else None
        if raw is None:
            if errors and not any("not found" in e.lower() or "no account" in e.lower()
                                  for e in errors):
                raise ChainError(f"account query failed: {errors[0]}")
            return None
        try:
            state = raw.get("zkappState")
            return Account(
                public_key=str(raw["publicKey"]),
                token=str(raw.get("token") or token or ""),
                nonce=_int(raw["nonce"], "nonce"),
                inferred_nonce=_int(raw.get("inferredNonce", raw["nonce"]), "inferredNonce"),
                balance_nanomina=_int(raw["balance"]["total"], "balance"),
                zkapp_state=[_int(v, "zkappState") for v in state] if state is not None else None,
            )
        except (KeyError, TypeError) as error:
            raise ChainError(f"the node's account answer lacks {error}") from None

    async def send_zkapp(self, command: dict[str, Any]) -> SentCommand:
        """Submit a signed zkApp command (o1js `tx.toJSON()` form)."""
        data, errors = await self._call(SEND_ZKAPP, {"input": {"zkappCommand": command}})
        if errors:
            raise SendRejected(errors[0], classify(errors[0]))
        try:
            zkapp = data["sendZkapp"]["zkapp"]
            return SentCommand(id=str(zkapp["id"]), hash=str(zkapp["hash"]))
        except (KeyError, TypeError):
            raise ChainError("the node accepted the command but returned no id/hash") from None

    async def transaction_status(self, command_id: str) -> str:
        """PENDING, INCLUDED or UNKNOWN (UNKNOWN alone cannot tell dropped from long final)."""
        data, errors = await self._call(TRANSACTION_STATUS, {"id": command_id})
        status = (data or {}).get("transactionStatus") if isinstance(data, dict) else None
        if status not in {"PENDING", "INCLUDED", "UNKNOWN"}:
            raise ChainError(f"transactionStatus failed: {errors[0] if errors else status!r}")
        return str(status)

    async def pooled_hashes(self, public_key: str) -> set[str]:
        """Hashes of the fee payer's commands waiting in the node's mempool."""
        data, errors = await self._call(POOLED_ZKAPP_COMMANDS, {"publicKey": public_key})
        raw = (data or {}).get("pooledZkappCommands") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            raise ChainError(f"pooledZkappCommands failed: {errors[0] if errors else raw!r}")
        return {str(item["hash"]) for item in raw if isinstance(item, dict) and "hash" in item}

    async def best_chain(self, max_length: int = 20) -> list[Block]:
        """The newest blocks, oldest first, with the zkApp commands each included."""
        data, errors = await self._call(BEST_CHAIN, {"maxLength": max_length})
        raw = (data or {}).get("bestChain") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            raise ChainError(f"bestChain failed: {errors[0] if errors else raw!r}")
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
