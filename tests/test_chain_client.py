"""The GraphQL chain client against a loopback fake answering the daemon's recorded shapes
(the real conversation, with the devnet, is in test_devnet.py)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from touchgrass.chain.client import ChainClient, classify
from touchgrass.errors import ChainError, NodeNotSynced, SendErrorKind, SendRejected

pytestmark = pytest.mark.anyio

ACCOUNT = {"publicKey": "B62qfeepayer", "tokenId": "wSHV2S4qX9jFsLjQo8r1BsMLH2ZRKsZx6EJd1sbozGPieEC4Jf",
           "nonce": "4", "inferredNonce": "6", "balance": {"total": "1000000000"},
           "zkappState": None}


async def fake_node(answers: list) -> tuple[TestServer, ChainClient]:
    async def graphql(request: web.Request) -> web.StreamResponse:
        answer = answers.pop(0)
        if isinstance(answer, web.StreamResponse):
            return answer
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/graphql", graphql)
    server = TestServer(app)
    await server.start_server()
    return server, ChainClient(str(server.make_url("/graphql")))


@pytest.mark.parametrize("message, kind", [
    ("Couldn't send zkApp command: Insufficient_replace_fee", SendErrorKind.REPLACE_FEE),
    ("Couldn't send zkApp command: Duplicate", SendErrorKind.DUPLICATE),
    ("Couldn't send zkApp command: Invalid_nonce", SendErrorKind.NONCE),
    ("Account_nonce_precondition_unsatisfied", SendErrorKind.NONCE),
    ("Couldn't send zkApp command: Insufficient_funds", SendErrorKind.BALANCE),
    ("Couldn't send zkApp command: Verification_failed: proof", SendErrorKind.INVALID_PROOF),
    ("Couldn't send zkApp command: (Verification_failed (Invalid_proof \"In progress\"))",
     SendErrorKind.INVALID_PROOF),
    # a signature made for another network: signed again, never proven again
    ("Couldn't send zkApp command: (Verification_failed (Invalid_signature (B62q...)))",
     SendErrorKind.INVALID_SIGNATURE),
    # the node cannot take commands now: no attempt used
    ("Daemon is bootstrapping", SendErrorKind.NOT_READY),
    ("Couldn't send zkApp command: We don't have a transition frontier", SendErrorKind.NOT_READY),
    ("Couldn't send zkApp command: [\"After_slot_tx_end\"]", SendErrorKind.NOT_READY),
    ("Couldn't send zkApp command: [\"Expired\"]", SendErrorKind.NOT_READY),
    ("Couldn't send zkApp command: Overloaded", SendErrorKind.NOT_READY),
    # no retry can help
    ("Couldn't send zkApp command: [\"Fee_payer_not_permitted_to_send\"]",
     SendErrorKind.CONFIGURATION),
    # over the network's size rule: the same command is refused every time
    ('Couldn\'t send zkApp command: (invalid "Some commands have one or more well-formedness '
     'errors: Zkapp too big (zkapp transaction too expensive) ")', SendErrorKind.TOO_BIG),
    ("Couldn't send zkApp command: something new", SendErrorKind.OTHER),
])
def test_classification_of_daemon_errors(message: str, kind: SendErrorKind) -> None:
    assert classify(message) is kind


SYNCED = {"data": {"daemonStatus": {"syncStatus": "SYNCED"}}}


async def test_account_found_missing_and_malformed() -> None:
    server, client = await fake_node([
        {"data": {"account": ACCOUNT}},
        {"data": {"account": None}}, SYNCED,
        {"data": {"account": {**ACCOUNT, "nonce": "many"}}},
        {"data": {"account": {**ACCOUNT, "zkappState": ["1", "2", "0"]}}},
        {"data": {"account": {**ACCOUNT, "nonce": None, "inferredNonce": None}}},
        {"data": {"account": {**ACCOUNT, "inferredNonce": None}}},
    ])
    try:
        account = await client.account("B62qfeepayer")
        assert (account.nonce, account.inferred_nonce, account.balance_nanomina) == (4, 6, 10**9)
        assert account.next_nonce == 6 and account.token_id == ACCOUNT["tokenId"]
        assert account.zkapp_state is None
        assert await client.account("B62qnobody") is None
        with pytest.raises(ChainError, match="malformed nonce"):
            await client.account("B62qfeepayer")
        assert (await client.account("B62qfeepayer", "token")).zkapp_state == [1, 2, 0]
        # nonce and inferredNonce are nullable in the daemon's schema
        assert (await client.account("B62qfeepayer")).next_nonce is None
        assert (await client.account("B62qfeepayer")).next_nonce == 4
    finally:
        await client.close()
        await server.close()


async def test_send_accepted_and_refused() -> None:
    server, client = await fake_node([
        {"data": {"sendZkapp": {"zkapp": {"hash": "5Jx"}}}},
        {"data": None, "errors": [{"message": "Couldn't send zkApp command: Insufficient_replace_fee",
                                   "path": ["sendZkapp"]}]},
        {"data": {"sendZkapp": None}},
    ])
    try:
        sent = await client.send_zkapp({"feePayer": {}})
        assert sent.hash == "5Jx"
        with pytest.raises(SendRejected) as refused:
            await client.send_zkapp({"feePayer": {}})
        assert refused.value.kind is SendErrorKind.REPLACE_FEE
        assert refused.value.message == "Couldn't send zkApp command: Insufficient_replace_fee"
        with pytest.raises(ChainError, match="no hash"):
            await client.send_zkapp({})
    finally:
        await client.close()
        await server.close()


async def test_a_node_that_is_not_synced_is_not_a_missing_account() -> None:
    """A bootstrapping daemon answers `account: null` with no error (docs/chain.md)."""
    server, client = await fake_node([
        {"data": {"account": None}}, {"data": {"daemonStatus": {"syncStatus": "BOOTSTRAP"}}},
        {"data": {"account": None}}, {"data": None, "errors": [{"message": "boom"}]},
    ])
    try:
        with pytest.raises(NodeNotSynced, match="not synced .*BOOTSTRAP"):
            await client.account("B62qfeepayer")
        with pytest.raises(ChainError, match="daemonStatus failed: boom"):
            await client.account("B62qfeepayer")
    finally:
        await client.close()
        await server.close()


async def test_pool_best_chain_and_node_info() -> None:
    block = {"stateHash": "3Nabc", "protocolState": {"consensusState": {"blockHeight": "12"}},
             "transactions": {"zkappCommands": [{"hash": "5Ja"}, {"hash": "5Jb"}]}}
    server, client = await fake_node([
        {"data": {"pooledZkappCommands": [{"hash": "5Ja"}]}},
        {"data": {"pooledZkappCommands": None}, "errors": [{"message": "bad key"}]},
        {"data": {"bestChain": [block]}},
        {"data": {"bestChain": [{"stateHash": "3N"}]}},
        {"data": {"version": "5f20bd0b8a7a69e7b1da9c0a53c2f6cf1c1a1b91", "networkID": "mina:devnet",
                  "daemonStatus": {"syncStatus": "SYNCED", "chainId": "a7351abc",
                                   "consensusConfiguration": {"k": 290, "slotDuration": 180000}}}},
        {"data": {"version": None, "daemonStatus": None}},
    ])
    try:
        assert await client.pooled_hashes(hashes=["5Ja", "5Jz"]) == {"5Ja"}
        with pytest.raises(ChainError, match="bad key"):
            await client.pooled_hashes(public_key="B62q")
        [parsed] = await client.best_chain(5)
        assert (parsed.height, parsed.zkapp_command_hashes) == (12, ("5Ja", "5Jb"))
        with pytest.raises(ChainError, match="lacks"):
            await client.best_chain(5)
        info = await client.node_info()
        assert (info.version, info.network_id, info.sync_status, info.chain_id, info.k,
                info.slot_duration_ms) == ("5f20bd0b8a7a69e7b1da9c0a53c2f6cf1c1a1b91",
                                           "mina:devnet", "SYNCED", "a7351abc", 290, 180000)
        with pytest.raises(ChainError, match="version query failed"):
            await client.node_info()
    finally:
        await client.close()
        await server.close()


async def test_unreachable_broken_and_non_json_nodes() -> None:
    client = ChainClient("http://127.0.0.1:1/graphql", timeout_s=2)
    with pytest.raises(ChainError, match="unreachable"):
        await client.account("B62q")
    await client.close()
    server, client = await fake_node([web.Response(status=502), web.Response(text="<html>")])
    try:
        with pytest.raises(ChainError, match="HTTP 502"):
            await client.account("B62q")
        with pytest.raises(ChainError, match="not JSON"):
            await client.account("B62q")
    finally:
        await client.close()
        await server.close()
