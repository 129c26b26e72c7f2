"""The public receipt check (operator/receipts.py) against a stand-in node and archive in
their real GraphQL shapes, with o1js's own action hashing (the checks process, no compile).

Each way a receipt can be wrong gives NOT VERIFIED with its reason: another photo, an archive
that dropped a record, a pointer at another photo's transaction, a contract we do not build,
an account that is no zkApp, a pointer claiming another chain, no archive to read."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.support.daemon_standin import StandinNode
from touchgrass.chain.archive import ArchiveClient
from touchgrass.chain.client import ChainClient
from touchgrass.chain.records import receipt_fields
from touchgrass.node import ops
from touchgrass.node.checks import open_checks
from touchgrass.node.keys import known_keys
from touchgrass.operator.receipts import Pointer, Report, check_receipt
from touchgrass.settings import ProverSettings
from touchgrass.signatures import generate_private_key

pytestmark = pytest.mark.anyio

ZKAPP = "B62qzkappAddressOfTheChallenge"
TOKEN = "wSHV2S4qX9jFsLjQo8r1BsMLH2ZRKsZx6EJd1sbozGPieEC4Jf"
CHAIN = uuid.uuid4()
_, SIGNER = generate_private_key("secp256k1")
PHOTO_A, PHOTO_B = hashlib.sha256(b"photo a").digest(), hashlib.sha256(b"photo b").digest()


def output(height: int, tx_hash: str, fields: list[int], update_id: str) -> dict:
    """One block's actions as the Archive Node API answers them."""
    return {"blockInfo": {"height": height, "stateHash": f"3N{height}", "chainStatus": "pending",
                          "distanceFromMaxBlockHeight": 1},
            "actionData": [{"accountUpdateId": update_id, "data": [str(v) for v in fields],
                            "transactionInfo": {"hash": tx_hash, "status": "applied"}}],
            "actionState": {"actionStateOne": "0", "actionStateTwo": "0"}}


@pytest.fixture
async def world() -> AsyncIterator[tuple[StandinNode, object]]:
    node = await StandinNode().start()
    async with open_checks(ProverSettings()) as checks:
        a = receipt_fields(CHAIN, PHOTO_A, SIGNER.x, SIGNER.y)
        b = receipt_fields(CHAIN, PHOTO_B, SIGNER.x, SIGNER.y)
        node.archive_actions[ZKAPP] = [output(5, "5JtxA", a, "11"), output(6, "5JtxB", b, "12")]
        state = await ops.action_state(checks, [[[str(v) for v in a]], [[str(v) for v in b]]])
        node.accounts[(ZKAPP, TOKEN)] = {
            "verificationKey": {"verificationKey": "AA",
                                "hash": known_keys().current("secp256k1").zkapp.hash},
            "actionState": [state, "0", "0", "0", "0"], "zkappState": ["0"] * 8}
        yield node, checks
    await node.close()


async def verdict(world, digest: bytes, pointer: Pointer, *, archive: bool = True) -> Report:
    node, checks = world
    chain, store = ChainClient(node.url), ArchiveClient(node.archive_url)
    try:
        return Report(await check_receipt(
            digest, pointer, node=chain, archive=store if archive else None,
            hash_actions=lambda updates: ops.action_state(checks, updates)))
    finally:
        await chain.close()
        await store.close()


def details(report: Report) -> str:
    return "\n".join(f"{c.name} {c.ok}: {c.detail}" for c in report.checks)


async def test_a_recorded_photo_verifies_from_the_zkapp_address_alone(world) -> None:
    started = time.monotonic()
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert report.verified, details(report)
    assert "transaction 5JtxA in block 5" in details(report)
    assert time.monotonic() - started < 5  # no compile: the checks process only hashes


async def test_another_photo_has_no_record(world) -> None:
    report = await verdict(world, hashlib.sha256(b"photo c").digest(), Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "holds no record of SHA-256" in details(report)


async def test_an_archive_that_dropped_a_record_is_caught_by_the_node_action_state(world) -> None:
    node, _ = world
    node.archive_actions[ZKAPP] = node.archive_actions[ZKAPP][:1]  # photo B left out
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "do not add up to the action state" in details(report)


async def test_an_archive_that_altered_a_record_is_caught(world) -> None:
    node, _ = world
    forged = receipt_fields(uuid.uuid4(), PHOTO_A, SIGNER.x, SIGNER.y)  # another chain id
    node.archive_actions[ZKAPP][0] = output(5, "5JtxA", forged, "11")
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "do not add up" in details(report)


async def test_a_pointer_at_another_photos_transaction_is_not_verified(world) -> None:
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "the API at x",
                                                   transaction_hash="5JtxB"))
    assert not report.verified
    assert f"records SHA-256 {PHOTO_B.hex()}" in details(report)


async def test_a_pointer_claiming_another_chain_or_signer_is_not_verified(world) -> None:
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "the API at x", chain_id=uuid.uuid4()))
    assert not report.verified and "claims chain" in details(report)
    _, other = generate_private_key("secp256k1")
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "the database", signer_x=other.x,
                                                   signer_y=other.y))
    assert not report.verified and "signer" in details(report)
    honest = await verdict(world, PHOTO_A, Pointer(ZKAPP, "the database", transaction_hash="5JtxA",
                                                   chain_id=CHAIN, signer_x=SIGNER.x,
                                                   signer_y=SIGNER.y))
    assert honest.verified, details(honest)


async def test_a_contract_we_do_not_build_or_no_zkapp_is_not_verified(world) -> None:
    node, _ = world
    node.accounts[(ZKAPP, TOKEN)]["verificationKey"]["hash"] = "12345"
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "runs another contract (verification key hash 12345)" in \
        details(report)
    node.accounts[(ZKAPP, TOKEN)]["verificationKey"] = None
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "is not a zkApp" in details(report)
    report = await verdict(world, PHOTO_A, Pointer("B62qnobodyHere", "--zkapp"))
    assert not report.verified and "no account at B62qnobodyHere" in details(report)


async def test_without_an_archive_the_record_cannot_be_read(world) -> None:
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"), archive=False)
    assert not report.verified and "ARCHIVE_NODE_ENDPOINT" in details(report)


async def test_a_token_account_receipt_of_an_earlier_contract_stays_verifiable(world) -> None:
    node, _ = world
    earlier = next(c for c in known_keys().contracts if not c.current and c.curve == "secp256k1")
    node.accounts[(ZKAPP, TOKEN)]["verificationKey"]["hash"] = earlier.zkapp.hash
    fields = receipt_fields(CHAIN, PHOTO_A, SIGNER.x, SIGNER.y)
    node.accounts[("B62qreceiptOwner", "wReceiptToken")] = {
        "zkappState": [str(v) for v in fields] + ["0"]}
    pointer = Pointer(ZKAPP, "the database", chain_id=CHAIN, signer_x=SIGNER.x,
                      signer_y=SIGNER.y, token_owner_address="B62qreceiptOwner",
                      token_id="wReceiptToken")
    report = await verdict(world, PHOTO_A, pointer)
    assert report.verified, details(report)
    report = await verdict(world, PHOTO_B, pointer)
    assert not report.verified and "records another photo" in details(report)
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "token accounts" in details(report)
