"""The GraphQL chain client against a loopback fake answering the daemon's recorded shapes
(the real conversation, with the devnet, is in test_devnet.py)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from touchgrass.chain.client import ChainClient, classify
from touchgrass.errors import ChainError, SendErrorKind, SendRejected

pytestmark = pytest.mark.anyio

ACCOUNT = {"publicKey": "B62qfeepayer", "token": "wSHV2S4qX9jFsLjQo8r1BsMLH2ZRKsZx6EJd1sbozGPieEC4Jf",
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
    ("Couldn't send zkApp command: Overloaded", SendErrorKind.OTHER),
])
def test_classification_of_daemon_errors(message: str, kind: SendErrorKind) -> None:
    assert classify(message) is kind


async def test_account_found_missing_and_malformed() -> None:
    server, client = await fake_node([
        {"data": {"account": ACCOUNT}},
        {"data": {"account": None}},
        {"data": {"account": {**ACCOUNT, "nonce": "many"}}},
        {"data": {"account": {**ACCOUNT, "zkappState": ["1", "2", "0"]}}},
    ])
    try:
        account = await client.account("B62qfeepayer")
        assert (account.nonce, account.inferred_nonce, account.balance_nanomina) == (4, 6, 10**9)
        assert account.zkapp_state is None
        assert await client.account("B62qnobody") is None
        with pytest.raises(ChainError, match="malformed nonce"):
            await client.account("B62qfeepayer")
        assert (await client.account("B62qfeepayer", "token")).zkapp_state == [1, 2, 0]
    finally:
        await client.close()
        await server.close()


async def test_send_accepted_and_refused() -> None:
    server, client = await fake_node([
        {"data": {"sendZkapp": {"zkapp": {"id": "abc=", "hash": "5Jx"}}}},
        {"data": None, "errors": [{"message": "Couldn't send zkApp command: Insufficient_replace_fee",
                                   "path": ["sendZkapp"]}]},
        {"data": {"sendZkapp": None}},
    ])
    try:
        sent = await client.send_zkapp({"feePayer": {}})
        assert (sent.id, sent.hash) == ("abc=", "5Jx")
        with pytest.raises(SendRejected) as refused:
            await client.send_zkapp({"feePayer": {}})
        assert refused.value.kind is SendErrorKind.REPLACE_FEE
        assert refused.value.message == "Couldn't send zkApp command: Insufficient_replace_fee"
        with pytest.raises(ChainError, match="no id/hash"):
            await client.send_zkapp({})
    finally:
        await client.close()
        await server.close()


async def test_status_and_best_chain() -> None:
    block = {"stateHash": "3Nabc", "protocolState": {"consensusState": {"blockHeight": "12"}},
             "transactions": {"zkappCommands": [{"hash": "5Ja"}, {"hash": "5Jb"}]}}
    server, client = await fake_node([
        {"data": {"transactionStatus": "PENDING"}},
        {"data": {"transactionStatus": "MAYBE"}},
        {"data": {"bestChain": [block]}},
        {"data": {"bestChain": [{"stateHash": "3N"}]}},
    ])
    try:
        assert await client.transaction_status("abc=") == "PENDING"
        with pytest.raises(ChainError):
            await client.transaction_status("abc=")
        [parsed] = await client.best_chain(5)
        assert (parsed.height, parsed.zkapp_command_hashes) == (12, ("5Ja", "5Jb"))
        with pytest.raises(ChainError, match="lacks"):
            await client.best_chain(5)
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
