"""A stand-in Mina daemon on loopback for the quick loop: the devnet's SDL (the daemon's own
types) executed by graphql-core, so every document is validated as a node would, over chain
state a test sets directly (blocks, mempool, accounts, sync status, network, consensus
constants). No o1js, no proofs: it exists so the publisher and the monitor run in
`pytest -m "not zk"`. It keeps the daemon's rules that the devnet keeps (docs/chain.md,
"Conformance"): a used variable left out of the request is HTTP 400 "Missing variable", an
answer with errors and no data is HTTP 400, `version` is a commit id, sends are refused
while not synced, and a block can be replaced (`reorg`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from graphql import GraphQLError, OperationDefinitionNode, VariableNode, build_schema, graphql, parse
from graphql.language import Visitor, visit

from touchgrass.devtools.devnet import ARCHIVE_SCHEMA, DAEMON_SCHEMA

SCHEMA = build_schema(DAEMON_SCHEMA.read_text())
ARCHIVE = build_schema(ARCHIVE_SCHEMA.read_text())
DEFAULT_TOKEN = "wSHV2S4qX9jFsLjQo8r1BsMLH2ZRKsZx6EJd1sbozGPieEC4Jf"


COMMIT_ID = "5f20bd0b8a7a69e7b1da9c0a53c2f6cf1c1a1b91"  # what a daemon's `version` looks like
CHAIN_ID = "a7351abc7ddf2ea92d1b38cc8e636c271c1dfd2c081c637f62ebc2af34eb7cc1"


@dataclass
class StandinBlock:
    height: int
    hashes: list[str]
    failed: dict[str, str] = field(default_factory=dict)
    fork: int = 0  # bumped when a reorg replaces the block: another state hash

    @property
    def state_hash(self) -> str:
        return f"3NK{self.fork:03d}{self.height:046d}"


@dataclass
class StandinNode:
    frontier: int = 290
    version: str = COMMIT_ID
    network_id: str = "mina:devnet"
    chain_id: str = CHAIN_ID
    slot_duration_ms: int = 180_000  # Berkeley; Mesa's is 90,000
    sync_status: str = "SYNCED"
    send_refusal: str | None = None  # a refusal every send gets (e.g. "Overloaded")
    lose_answers: int = 0  # this many sends are accepted, then answered only after `slow_s`
    slow_s: float = 0.0
    blocks: list[StandinBlock] = field(default_factory=list)
    pool: set[str] = field(default_factory=set)
    # (public key, token id) -> {"nonce", "balance", "zkappState", "verificationKey",
    # "actionState"}; a value that is an
    # Exception is raised by the resolver (a node failing on one account)
    accounts: dict[tuple[str, str], Any] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)  # root fields, in order
    # accepted commands by hash: a command here is a stand-in's dict whose `hash` field the
    # test's builder wrote (real hashes need o1js); nonces are checked as a daemon does
    sent: dict[str, dict] = field(default_factory=dict)
    sent_order: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # the reason of every refused send
    url: str = ""
    # what /archive answers to `actions`, per zkApp address: Archive-Node-API ActionOutputs
    archive_actions: dict[str, list[dict]] = field(default_factory=dict)
    archive_asked: list[dict] = field(default_factory=list)  # each actions input, in order
    archive_url: str = ""
    # Archive-Node-API's BLOCK_RANGE_SIZE, and its newest block (None: the newest action's)
    archive_window: int = 10_000
    archive_tip: int | None = None
    _server: TestServer | None = None

    # -- what the test does to the chain -------------------------------------------------

    def advance(self, count: int = 1, *, including: list[str] | None = None,
                failed: dict[str, str] | None = None) -> int:
        """Produce `count` blocks; the first includes `including` (taken from the pool)."""
        for i in range(count):
            height = (self.blocks[-1].height if self.blocks else 0) + 1
            hashes = list(including or []) if i == 0 else []
            self.pool.difference_update(hashes)
            for included in hashes:  # an included command of ours moves its sender's nonce
                if included in self.sent:
                    payer = self.sent[included]["feePayer"]["body"]
                    account = self.accounts[(payer["publicKey"], DEFAULT_TOKEN)]
                    account["nonce"] = str(int(payer["nonce"]) + 1)
            self.blocks.append(StandinBlock(height, hashes, dict(failed or {}) if i == 0 else {}))
        return self.blocks[-1].height

    def reorg(self, depth: int, *, keep_out: set[str] | None = None) -> None:
        """Replace the last `depth` blocks by as many new ones (other state hashes): their
        commands go back to the mempool and then into the first new block, except those in
        `keep_out`, which stay in the mempool. Nonces move back accordingly."""
        replaced = self.blocks[-depth:]
        del self.blocks[-depth:]
        back = [h for block in replaced for h in block.hashes]
        for command_hash in back:
            if command_hash in self.sent:
                payer = self.sent[command_hash]["feePayer"]["body"]
                account = self.accounts[(payer["publicKey"], DEFAULT_TOKEN)]
                account["nonce"] = str(min(int(account["nonce"]), int(payer["nonce"])))
        self.pool.update(back)
        again = [h for h in back if h not in (keep_out or set())]
        fork = max(b.fork for b in replaced) + 1
        self.advance(depth, including=again)
        for block in self.blocks[-depth:]:
            block.fork = fork

    # -- resolvers -------------------------------------------------------------------------

    def _account(self, publicKey: str, token: str | None = None) -> dict | None:  # noqa: N803
        if self.sync_status != "SYNCED":
            return None
        token = token or DEFAULT_TOKEN
        found = self.accounts.get((publicKey, token))
        if isinstance(found, Exception):
            raise found
        if found is None:
            return None
        return {"publicKey": publicKey, "tokenId": token, "token": token,
                "nonce": found.get("nonce", "0"), "inferredNonce": found.get("inferredNonce"),
                "balance": {"total": found.get("balance", "0")},
                "zkappState": found.get("zkappState"), "timing": {},
                "verificationKey": found.get("verificationKey"),
                "actionState": found.get("actionState"), "permissions": found.get("permissions")}

    def _send(self, command: dict) -> dict:
        """The mempool's nonce rules (docs/chain.md): the sender's next nonce counts its
        pooled commands; a pooled nonce needs a higher fee; anything else is Invalid_nonce."""
        body = command["feePayer"]["body"]
        key = (body["publicKey"], DEFAULT_TOKEN)
        committed = int(self.accounts[key].get("nonce", "0"))
        pooled = sum(1 for h in self.pool
                     if self.sent.get(h, {}).get("feePayer", {}).get("body", {}).get(
                         "publicKey") == body["publicKey"])
        nonce = int(body["nonce"])
        if self.sync_status != "SYNCED":
            raise ValueError("Daemon is bootstrapping")  # the resolver's own words
        if self.send_refusal is not None:
            self.refused.append(self.send_refusal)
            raise ValueError(f'Couldn\'t send zkApp command: ["{self.send_refusal}"]')
        reason = ("Duplicate" if command["hash"] in self.pool else
                  "Insufficient_replace_fee" if committed <= nonce < committed + pooled else
                  "Invalid_nonce" if nonce != committed + pooled else None)
        if reason is not None:
            self.refused.append(reason)
            raise ValueError(f'Couldn\'t send zkApp command: ["{reason}"]')
        self.sent[command["hash"]] = command
        self.sent_order.append(command["hash"])
        self.pool.add(command["hash"])
        self.accounts[key]["inferredNonce"] = str(nonce + 1)
        return {"zkapp": {"hash": command["hash"], "id": f"id-{command['hash']}"}}

    def _block(self, block: StandinBlock) -> dict:
        return {"stateHash": block.state_hash, "commandTransactionCount": len(block.hashes),
                "protocolState": {"consensusState": {"blockHeight": str(block.height)}},
                "transactions": {"zkappCommands": [
                    {"hash": h, "id": f"id-{h}",
                     "failureReason": [{"index": "0", "failures": [block.failed[h]]}]
                     if h in block.failed else None} for h in block.hashes]}}

    def _root(self) -> dict[str, Any]:
        def best_chain(info: Any, maxLength: int | None = None) -> list | None:  # noqa: N803
            if self.sync_status != "SYNCED":
                return None
            known = self.blocks[-self.frontier:]
            return [self._block(b) for b in (known if maxLength is None else known[-maxLength:])]

        def pooled(info: Any, publicKey: str | None = None,  # noqa: N803
                   hashes: list[str] | None = None, ids: list[str] | None = None) -> list:
            return [{"hash": h, "id": f"id-{h}"} for h in sorted(self.pool)
                    if hashes is None or h in hashes]

        def status(info: Any, payment: str | None = None,
                   zkappTransaction: str | None = None) -> str:  # noqa: N803
            raise ValueError("Invalid transaction provided")  # a hash is not a serialized command

        return {
            "sendZkapp": lambda info, input: self._send(input["zkappCommand"]),  # noqa: A006
            "account": lambda info, **kw: self._account(**kw),
            "daemonStatus": lambda info: {
                "syncStatus": self.sync_status, "chainId": self.chain_id,
                "commitId": self.version, "blockchainLength": len(self.blocks),
                "consensusConfiguration": {
                    "delta": 0, "k": self.frontier, "slotsPerEpoch": 7140,
                    "slotDuration": self.slot_duration_ms,
                    "epochDuration": 7140 * self.slot_duration_ms // 1000,
                    "acceptableNetworkDelay": 180000}},
            "syncStatus": lambda info: self.sync_status,
            "version": lambda info: self.version,
            "networkID": lambda info: self.network_id,
            "bestChain": best_chain,
            "pooledZkappCommands": pooled,
            "transactionStatus": status,
        }

    async def _graphql(self, request: web.Request) -> web.Response:
        root = self._root()
        wrapped = {name: self._recording(name, resolve) for name, resolve in root.items()}
        response = await _execute(SCHEMA, wrapped, request)
        if self.lose_answers and "sendZkapp" in self.asked[-1:]:
            self.lose_answers -= 1
            await asyncio.sleep(self.slow_s)  # accepted, but the answer comes too late
        return response

    async def _archive(self, request: web.Request) -> web.Response:
        tip = self.archive_tip
        if tip is None:
            tip = max((a["blockInfo"]["height"] for found in self.archive_actions.values()
                       for a in found), default=0)

        def actions(info: Any, input: dict) -> list[dict]:  # noqa: A002
            # Archive-Node-API's range (docs/chain.md): `from` inclusive, `to` exclusive, at
            # most the window wide; neither given: the window before the tip
            self.archive_asked.append(input)
            found = self.archive_actions.get(input["address"], [])
            start, end = input.get("from") or None, input.get("to")
            if start is not None and end is not None and end - start > self.archive_window:
                raise ValueError("The block range is too large. The maximum range is "
                                 f"{self.archive_window}")
            if start is None and end is None:
                start = tip - self.archive_window
            elif start is None:
                start = end - self.archive_window
            elif end is None:
                end = start + self.archive_window
            return [a for a in found if start <= a["blockInfo"]["height"]
                    and (end is None or a["blockInfo"]["height"] < end)]

        def network_state(info: Any) -> dict:
            return {"maxBlockHeight": {"canonicalMaxBlockHeight": max(0, tip - 15),
                                       "pendingMaxBlockHeight": tip}}
        return await _execute(ARCHIVE, {"actions": actions, "networkState": network_state},
                              request)

    def _recording(self, name: str, resolve: Any) -> Any:
        def recorded(info: Any, **arguments: Any) -> Any:
            self.asked.append(name)
            return resolve(info, **arguments)
        return recorded

    async def start(self) -> StandinNode:
        app = web.Application()
        app.router.add_post("/graphql", self._graphql)
        app.router.add_post("/archive", self._archive)
        self._server = TestServer(app)
        await self._server.start_server()
        self.url = str(self._server.make_url("/graphql"))
        self.archive_url = str(self._server.make_url("/archive"))
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()


def missing_variables(query: str, variables: dict[str, Any] | None) -> list[str]:
    """Variables the operation uses in its arguments that the request leaves out: the
    daemon's GraphQL library (ocaml-graphql-server 0.13.0) refuses each as "Missing
    variable", where graphql-core would read null."""
    try:
        document = parse(query)
    except GraphQLError:
        return []  # graphql-core answers the syntax error itself
    used: list[str] = []

    class Uses(Visitor):
        def enter_variable_definition(self, *_: Any) -> Any:
            return Visitor.SKIP  # a declaration is not a use

        def enter_variable(self, node: VariableNode, *_: Any) -> None:
            used.append(node.name.value)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            visit(definition, Uses())
    given = variables or {}
    return [name for name in dict.fromkeys(used) if name not in given]


async def _execute(schema: Any, root: dict[str, Any], request: web.Request) -> web.Response:
    """One GraphQL request, answered as a daemon (or an archive) does: errors beside data;
    HTTP 400 when there is no data (an argument or validation error, a failed non-null field
    such as sendZkapp's)."""
    body = await request.json()
    missing = missing_variables(body["query"], body.get("variables"))
    if missing:
        return web.json_response({"errors": [{"message": f"Missing variable `{missing[0]}`"}],
                                  "data": None}, status=400)
    result = await graphql(schema, body["query"], root_value=root,
                           variable_values=body.get("variables"))
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [{"message": e.message} for e in result.errors]
    return web.json_response(answer, status=400 if result.errors and result.data is None else 200)
