"""Every GraphQL document the chain client sends is valid against the daemon's schema (the
devnet's SDL, a transcript of the daemon's types), and every one the archive client sends
against the Archive Node API's, so a document asking for a field a real node or archive lacks
fails the build instead of the first deployment."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from touchgrass.chain import archive
from touchgrass.chain.client import DOCUMENTS
from touchgrass.devtools.devnet import ARCHIVE_SCHEMA, DAEMON_SCHEMA


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(Path(DAEMON_SCHEMA).read_text())


def problems(schema: GraphQLSchema, document: str) -> list[str]:
    return [error.message for error in validate(schema, parse(document))]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_each_document_is_valid_against_the_daemon_schema(schema: GraphQLSchema,
                                                          name: str) -> None:
    assert problems(schema, DOCUMENTS[name]) == []


@pytest.mark.parametrize("name", sorted(archive.DOCUMENTS))
def test_each_archive_document_is_valid_against_the_archive_schema(name: str) -> None:
    schema = build_schema(Path(ARCHIVE_SCHEMA).read_text())
    assert problems(schema, archive.DOCUMENTS[name]) == []
    # the two APIs are different services: a daemon query is not an archive query
    assert problems(schema, DOCUMENTS["account"]) != []


@pytest.mark.parametrize("document, complaint", [
    # a field the daemon lacks...
    ("query { account(publicKey: \"B62q\") { publicKey nonceOfFeePayer } }",
     "Cannot query field 'nonceOfFeePayer'"),
    # ...an object without a selection...
    ("query { account(publicKey: \"B62q\") { balance } }", "must have a selection"),
    # ...a wrong argument name...
    ("query { pooledZkappCommands(feePayer: \"B62q\") { hash } }", "Unknown argument 'feePayer'"),
    # ...and a required argument left out are all refused.
    ("query { account { publicKey } }", "publicKey ... PublicKey! ... required"),
])
def test_a_document_the_daemon_would_refuse_fails(schema: GraphQLSchema, document: str,
                                                  complaint: str) -> None:
    found = problems(schema, document)
    # graphql-core releases word and quote their messages a little differently: compare the
    # words, not the punctuation
    def words(text: str) -> str:
        return text.lower().replace('"', "").replace("'", "")
    assert any(all(part in words(message) for part in words(complaint).split(" ... "))
               for message in found), found


def _declared(document: str) -> list[str]:
    """What graphql-core reads as the operation's declared variables (the reference)."""
    [operation] = parse(document).definitions
    return [definition.variable.name.value
            for definition in operation.variable_definitions or ()]  # type: ignore[attr-defined]


ALL_DOCUMENTS = {**{f"node {name}": text for name, text in DOCUMENTS.items()},
                 **{f"archive {name}": text for name, text in archive.DOCUMENTS.items()}}


@pytest.mark.parametrize("name", sorted(ALL_DOCUMENTS))
def test_the_client_sends_exactly_the_declared_variables(name: str) -> None:
    """A daemon (ocaml-graphql-server 0.13.0) refuses a used variable the request leaves out
    ("Missing variable", HTTP 400): the client's own reading of each document's declarations
    must be exactly graphql-core's, so `_call` fills in every one (null when absent)."""
    from touchgrass.chain.client import declared_variables

    assert list(declared_variables(ALL_DOCUMENTS[name])) == _declared(ALL_DOCUMENTS[name])


@pytest.mark.anyio
async def test_a_call_with_a_variable_left_out_still_sends_it_as_null() -> None:
    """The account query declares `$token`; a call without a token sends `"token": null`, and
    the stand-in daemon, which refuses an omitted variable as the daemon does, answers."""
    from tests.support.daemon_standin import DEFAULT_TOKEN, StandinNode
    from touchgrass.chain.client import ACCOUNT_QUERY, ChainClient

    node = await StandinNode().start()
    node.accounts[("B62qsomeone", DEFAULT_TOKEN)] = {"nonce": "4", "balance": "7"}
    client = ChainClient(node.url)
    try:
        account = await client.account("B62qsomeone")
        assert account is not None and account.nonce == 4
        # what the old client sent: the variable omitted. Refused, with HTTP 400.
        import aiohttp
        async with aiohttp.ClientSession() as session, session.post(node.url, json={
                "query": ACCOUNT_QUERY, "variables": {"publicKey": "B62qsomeone"}}) as answer:
            assert answer.status == 400
            assert (await answer.json()) == {"errors": [{"message": "Missing variable `token`"}],
                                             "data": None}
    finally:
        await client.close()
        await node.close()
