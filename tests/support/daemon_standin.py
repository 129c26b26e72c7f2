"""A stand-in Mina daemon on loopback for the quick loop: the devnet's SDL (the daemon's own
types) executed by graphql-core, so every document is validated as a node would, over chain
state a test sets directly (blocks, mempool, accounts, sync status, version). No o1js, no
proofs: it exists so the publisher and the monitor run in `pytest -m "not zk"`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from graphql import build_schema, graphql

from touchgrass.devtools.devnet import ARCHIVE_SCHEMA, DAEMON_SCHEMA

SCHEMA = build_schema(DAEMON_SCHEMA.read_text())
ARCHIVE = build_schema(ARCHIVE_SCHEMA.read_text())
DEFAULT_TOKEN = "wSHV2S4qX9jFsLjQo8r1BsMLH2ZRKsZx6EJd1sbozGPieEC4Jf"


@dataclass
class StandinBlock:
    height: int
    hashes: list[str]
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class StandinNode:
    frontier: int = 290
    version: str = "3.4.0-standin"
    sync_status: str = "SYNCED"
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
    archive_url: str = ""
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
                "actionState": found.get("actionState")}

    def _send(self, command: dict) -> dict:
        """The mempool's nonce rules (mina-daemon.md): the sender's next nonce counts its
        pooled commands; a pooled nonce needs a higher fee; anything else is Invalid_nonce."""
        body = command["feePayer"]["body"]
        key = (body["publicKey"], DEFAULT_TOKEN)
        committed = int(self.accounts[key].get("nonce", "0"))
        pooled = sum(1 for h in self.pool
                     if self.sent.get(h, {}).get("feePayer", {}).get("body", {}).get(
                         "publicKey") == body["publicKey"])
        nonce = int(body["nonce"])
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
        return {"stateHash": f"3NK{block.height:049d}", "commandTransactionCount": len(block.hashes),
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
                "syncStatus": self.sync_status, "chainId": "standin", "commitId": "0",
                "blockchainLength": len(self.blocks)},
            "syncStatus": lambda info: self.sync_status,
            "version": lambda info: self.version,
            "networkID": lambda info: "mina:devnet",
            "bestChain": best_chain,
            "pooledZkappCommands": pooled,
            "transactionStatus": status,
        }

    async def _graphql(self, request: web.Request) -> web.Response:
        root = self._root()
        wrapped = {name: self._recording(name, resolve) for name, resolve in root.items()}
        return await _execute(SCHEMA, wrapped, request)

    async def _archive(self, request: web.Request) -> web.Response:
        root = {"actions": lambda info, input: self.archive_actions.get(input["address"], [])}
        return await _execute(ARCHIVE, root, request)

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


async def _execute(schema: Any, root: dict[str, Any], request: web.Request) -> web.Response:
    """One GraphQL request, answered as a daemon (or an archive) does: errors beside data."""
    body = await request.json()
    result = await graphql(schema, body["query"], root_value=root,
                           variable_values=body.get("variables"))
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [{"message": e.message} for e in result.errors]
    return web.json_response(answer)
