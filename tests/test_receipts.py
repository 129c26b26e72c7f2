"""The public receipt check (operator/receipts.py) against a stand-in node and archive in
their real GraphQL shapes and a real archive's rules (a block range at most its window wide,
`to` exclusive, account-update ids shared by identical bodies), with o1js's own action hashing
(the checks process, no compile).

Each way a receipt can be wrong gives NOT VERIFIED with its reason: another photo, an archive
that dropped or altered a record, a pointer at another photo's transaction or at an account
under another token, a contract we do not build, a zkApp the operator does not administer or
whose permissions are not the contract's, a record made by a signature (a look-alike's
deploy), a signer nobody trusts. Honest receipts verify through a 10-block window, with the
archive a block behind or ahead of the node, and with two identical receipts in one block."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.daemon_standin import DEFAULT_TOKEN, StandinNode
from tests.support.factories import mina_address as address
from touchgrass.chain.archive import ArchiveClient
from touchgrass.chain.client import ChainClient
from touchgrass.chain.records import EMPTY_ACTION_STATE, receipt_fields
from touchgrass.mina import decode_address
from touchgrass.node import ops
from touchgrass.node.checks import ChecksProcess, open_checks
from touchgrass.node.keys import known_keys
from touchgrass.operator.receipts import ArchiveReading, Pointer, Report, check_receipt
from touchgrass.operator.trust import TrustAnchors, contract_permissions
from touchgrass.operator.verify import ChecksMath
from touchgrass.settings import ProverSettings
from touchgrass.signatures import generate_private_key

pytestmark = pytest.mark.anyio


ZKAPP, OPERATOR, STRANGER = address(), address(), address()
CHAIN = uuid.uuid4()
_, SIGNER = generate_private_key("secp256k1")
_, OTHER_SIGNER = generate_private_key("secp256k1")
ANCHORS = TrustAnchors((SIGNER,), OPERATOR)
PHOTO_A, PHOTO_B, PHOTO_C = (hashlib.sha256(name).digest() for name in (b"a", b"b", b"c"))
FAST = ArchiveReading(window=10, lag_retries=1, lag_wait_s=0.05)


def graphql_permissions(version: int = 3, **changed: str) -> dict[str, Any]:
    flat = {**contract_permissions(version), **changed}
    auth, txn = flat.pop("setVerificationKey").split("/")
    return {**flat, "setVerificationKey": {"auth": auth, "txnVersion": txn}}


@dataclass
class Update:
    """One account update of the zkApp: its receipts, as the archive would list them."""

    tx: str
    photos: list[tuple[bytes, Any]]  # (digest, signer)
    body_id: str = ""  # the archive's id: the same for identical bodies
    auth: str = "Proof"

    def actions(self) -> list[list[str]]:
        return [[str(v) for v in receipt_fields(CHAIN, digest, signer.x, signer.y)]
                for digest, signer in self.photos]


@dataclass
class World:
    node: StandinNode
    checks: ChecksProcess
    blocks: dict[int, list[Update]] = field(default_factory=dict)

    async def record(self, blocks: dict[int, list[Update]], *, node_behind: int = 0,
                     archive_behind: int = 0, permissions: dict | None = None,
                     admin: str = OPERATOR) -> None:
        """The zkApp with these action blocks: the node's account (its five newest action
        states, the newest `node_behind` blocks not reached yet) and the archive (the newest
        `archive_behind` blocks not archived yet)."""
        heights = sorted(blocks)
        states = await ops.action_states(self.checks, None, [
            [update.actions() for update in blocks[h]] for h in heights])
        before = [EMPTY_ACTION_STATE, *states]
        outputs = []
        for i, height in enumerate(heights[:len(heights) - archive_behind]):
            outputs.append({
                "blockInfo": {"height": height, "stateHash": f"3N{height}",
                              "chainStatus": "canonical" if height < heights[-1] else "pending",
                              "distanceFromMaxBlockHeight": heights[-1] - height},
                "actionData": [{"accountUpdateId": update.body_id or f"{update.tx}-u",
                                "data": action,
                                "transactionInfo": {"hash": update.tx, "status": "applied",
                                                    "authorizationKind": update.auth}}
                               for update in blocks[height] for action in update.actions()],
                "actionState": {"actionStateOne": str(states[i]),
                                "actionStateTwo": str(before[i])}})
        self.node.archive_actions[ZKAPP] = outputs
        self.node.archive_tip = heights[-1] - archive_behind if archive_behind else None
        held = list(reversed(before[:len(before) - node_behind]))[:5]
        x, parity = decode_address(admin)
        self.node.accounts[(ZKAPP, DEFAULT_TOKEN)] = {
            "verificationKey": {"verificationKey": "AA",
                                "hash": known_keys().current("secp256k1").zkapp.hash},
            "actionState": [str(s) for s in held + [EMPTY_ACTION_STATE] * (5 - len(held))],
            "zkappState": [str(x), str(parity)] + ["0"] * 6,
            "permissions": permissions or graphql_permissions()}
        while (self.node.blocks[-1].height if self.node.blocks else 0) < heights[-1] - node_behind:
            self.node.advance(1)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    node = await StandinNode().start()
    node.archive_window = FAST.window
    async with open_checks(ProverSettings()) as checks:
        built = World(node, checks)
        await built.record({5: [Update("5JtxA", [(PHOTO_A, SIGNER)])],
                            6: [Update("5JtxB", [(PHOTO_B, SIGNER)])]})
        yield built
    await node.close()


async def verdict(world: World, digest: bytes, pointer: Pointer, *, archive: bool = True,
                  anchors: TrustAnchors = ANCHORS) -> Report:
    chain, store = ChainClient(world.node.url), ArchiveClient(world.node.archive_url)
    try:
        return await check_receipt(digest, pointer, node=chain, archive=store if archive else None,
                                   math=ChecksMath(world.checks), anchors=anchors, reading=FAST)
    finally:
        await chain.close()
        await store.close()


def details(report: Report) -> str:
    return "\n".join(f"{c.name} {c.ok}: {c.detail}" for c in report.checks) + \
        f"\nsummary: {report.summary}"


async def test_a_recorded_photo_verifies_from_the_zkapp_address_alone(world) -> None:
    started = time.monotonic()
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert report.verified, details(report)
    assert "transaction 5JtxA in block 5" in details(report)
    assert f"recorded by the operator {OPERATOR} in the zkApp {ZKAPP} in block 5 (final)" in \
        report.summary and not report.pending
    assert time.monotonic() - started < 5  # no compile: the checks process only hashes
    newest = await verdict(world, PHOTO_B, Pointer(ZKAPP, "--zkapp"))
    assert newest.verified and newest.pending and "pending: not final yet" in newest.summary


async def test_the_empty_action_state_is_o1js_own(world) -> None:
    assert await ops.action_states(world.checks, None, [[]]) == [EMPTY_ACTION_STATE]


async def test_another_photo_has_no_record(world) -> None:
    report = await verdict(world, PHOTO_C, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "holds no record of SHA-256" in details(report)


async def test_an_archive_that_added_or_altered_a_record_is_caught(world) -> None:
    outputs = world.node.archive_actions[ZKAPP]
    added = {**outputs[1], "actionData": [{**outputs[1]["actionData"][0], "data": [
        str(v) for v in receipt_fields(CHAIN, PHOTO_C, SIGNER.x, SIGNER.y)]}]}
    world.node.archive_actions[ZKAPP] = [*outputs, {**added, "blockInfo": {
        **added["blockInfo"], "height": 7}}]
    report = await verdict(world, PHOTO_C, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "do not reach an action state the node holds" in \
        details(report)
    forged = receipt_fields(uuid.uuid4(), PHOTO_A, SIGNER.x, SIGNER.y)  # another chain id
    outputs[0]["actionData"][0]["data"] = [str(v) for v in forged]
    world.node.archive_actions[ZKAPP] = outputs
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "do not reach an action state" in details(report)
    # An archive that leaves a record out hides that one only: the others still hash to
    # the node's states from their own block on.
    world.node.archive_actions[ZKAPP] = outputs[1:]
    assert (await verdict(world, PHOTO_B, Pointer(ZKAPP, "--zkapp"))).verified


async def test_a_pointer_at_another_photos_transaction_is_not_verified(world) -> None:
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "the API at x",
                                                   transaction_hash="5JtxB"))
    assert not report.verified
    assert f"records SHA-256 {PHOTO_B.hex()}" in details(report)


async def test_a_pointer_claiming_another_chain_or_signer_is_not_verified(world) -> None:
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "the API at x", chain_id=uuid.uuid4()))
    assert not report.verified and "claims chain" in details(report)
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "the database", signer_x=OTHER_SIGNER.x,
                                                   signer_y=OTHER_SIGNER.y))
    assert not report.verified and "signer" in details(report)
    honest = await verdict(world, PHOTO_A, Pointer(ZKAPP, "the database", transaction_hash="5JtxA",
                                                   block_height=5, chain_id=CHAIN,
                                                   signer_x=SIGNER.x, signer_y=SIGNER.y))
    assert honest.verified, details(honest)


async def test_a_photo_signed_by_a_key_nobody_trusts_is_not_verified(world) -> None:
    """Anyone can sign a photo with their own key, prove it and record it: the record
    counts only when its signer is a trusted key."""
    await world.record({5: [Update("5JtxS", [(PHOTO_A, OTHER_SIGNER)])]})
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "none of the trusted signer keys" in details(report)
    trusting = TrustAnchors((SIGNER, OTHER_SIGNER), OPERATOR)
    assert (await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"), anchors=trusting)).verified


async def test_a_zkapp_the_operator_does_not_vouch_for_is_not_verified(world) -> None:
    blocks = {5: [Update("5JtxA", [(PHOTO_A, SIGNER)])]}
    await world.record(blocks, admin=STRANGER)
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and f"its admin is not the operator {OPERATOR}" in details(report)
    # A look-alike: the contract's key, actions by signature.
    await world.record(blocks, permissions=graphql_permissions(editActionState="Signature"))
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified
    assert "editActionState is Signature (the contract sets Proof)" in details(report)
    # A hard fork raised the transaction version: the key may change by signature now.
    await world.record(blocks, permissions=graphql_permissions(version=2))
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified
    assert "setVerificationKey is Impossible/2 (the contract sets Impossible/3)" in \
        details(report)
    await world.record(blocks)
    listed = TrustAnchors((SIGNER,), OPERATOR, frozenset({STRANGER}))
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"), anchors=listed)
    assert not report.verified and "not among the zkApps the operator lists" in details(report)


async def test_a_record_made_by_a_signature_in_a_deploy_is_not_verified(world) -> None:
    """A new account's action state is editable by signature until its deploy's permissions
    apply: a record made so is no proof of anything."""
    await world.record({5: [Update("5JtxD", [(PHOTO_A, SIGNER)], auth="Signature")],
                        6: [Update("5JtxB", [(PHOTO_B, SIGNER)])]})
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "made by Signature, not by the contract's proof" in \
        details(report)
    assert (await verdict(world, PHOTO_B, Pointer(ZKAPP, "--zkapp"))).verified


async def test_an_old_record_verifies_through_a_10_block_archive_window(world) -> None:
    blocks = {h: [Update(f"5Jtx{h}", [(hashlib.sha256(str(h).encode()).digest(), SIGNER)])]
              for h in range(3, 60, 2)}
    await world.record(blocks)
    old = hashlib.sha256(b"3").digest()
    world.node.archive_asked.clear()
    report = await verdict(world, old, Pointer(ZKAPP, "--zkapp"))
    assert report.verified, details(report)
    assert "and the 24 later record(s) up to block 51" in details(report)  # the 5th newest
    ranges = [(a.get("from"), a.get("to")) for a in world.node.archive_asked]
    assert all(start and end and end - start <= 10 for start, end in ranges), ranges
    assert len(ranges) == 6  # backwards from the tip, window by window
    # With the block a pointer names, reading starts there.
    world.node.archive_asked.clear()
    report = await verdict(world, old, Pointer(ZKAPP, "the database", block_height=3))
    assert report.verified and world.node.archive_asked[0]["from"] == 3
    missing = await verdict(world, PHOTO_C, Pointer(ZKAPP, "--zkapp"))
    assert not missing.verified and "holds no record" in details(missing)


async def test_a_search_from_the_tip_starts_small_and_grows(world) -> None:
    """Most checks are of recent photos: the first window is 64 blocks, then fourfold, up to
    the archive's range (100 here)."""
    blocks = {h: [Update(f"5Jtx{h}", [(hashlib.sha256(str(h).encode()).digest(), SIGNER)])]
              for h in range(1, 302, 10)}
    await world.record(blocks)
    world.node.archive_window = 100
    wide = ArchiveReading(window=100, lag_retries=0)

    async def ranges(digest: bytes) -> list[tuple[int, int]]:
        world.node.archive_asked.clear()
        chain, store = ChainClient(world.node.url), ArchiveClient(world.node.archive_url)
        try:
            report = await check_receipt(digest, Pointer(ZKAPP, "--zkapp"), node=chain,
                                         archive=store, math=ChecksMath(world.checks),
                                         anchors=ANCHORS, reading=wide)
        finally:
            await chain.close()
            await store.close()
        assert report.verified, details(report)
        return [(a["from"], a["to"]) for a in world.node.archive_asked]

    assert await ranges(hashlib.sha256(b"291").digest()) == [(238, 302)]
    assert await ranges(hashlib.sha256(b"1").digest()) == [(238, 302), (138, 238), (38, 138),
                                                           (1, 38)]


async def test_an_archive_a_block_behind_or_ahead_of_the_node_still_verifies(world) -> None:
    blocks = {h: [Update(f"5Jtx{h}", [(hashlib.sha256(str(h).encode()).digest(), SIGNER)])]
              for h in range(10, 15)}
    await world.record(blocks, node_behind=1)
    report = await verdict(world, hashlib.sha256(b"12").digest(), Pointer(ZKAPP, "--zkapp"))
    assert report.verified, details(report)
    # The record the node has not reached yet: not verified, and the heights are said.
    report = await verdict(world, hashlib.sha256(b"14").digest(), Pointer(ZKAPP, "--zkapp"))
    assert not report.verified
    assert "the archive's newest block is 14, the node's 13" in details(report)
    await world.record(blocks, archive_behind=1)
    report = await verdict(world, hashlib.sha256(b"12").digest(), Pointer(ZKAPP, "--zkapp"))
    assert report.verified, details(report)


async def test_two_identical_receipts_in_consecutive_transactions_verify(world) -> None:
    """A real archive names an account update by its body: identical receipts share an id,
    and only the transaction tells the two updates apart."""
    await world.record({5: [Update("5JtxA", [(PHOTO_A, SIGNER)], body_id="77"),
                            Update("5JtxA2", [(PHOTO_A, SIGNER)], body_id="77")],
                        6: [Update("5JtxB", [(PHOTO_B, SIGNER)])]})
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert report.verified, details(report)


async def test_a_contract_we_do_not_build_or_no_zkapp_is_not_verified(world) -> None:
    account = next(iter(world.node.accounts.values()))
    account["verificationKey"]["hash"] = "12345"
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "runs another contract (verification key hash 12345)" in \
        details(report)
    account["verificationKey"] = None
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "is not a zkApp" in details(report)
    report = await verdict(world, PHOTO_A, Pointer(STRANGER, "--zkapp"))
    assert not report.verified and f"no account at {STRANGER}" in details(report)


async def test_without_an_archive_the_record_cannot_be_read(world) -> None:
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"), archive=False)
    assert not report.verified and "ARCHIVE_NODE_ENDPOINT" in details(report)


async def test_a_token_account_receipt_is_read_under_the_zkapps_own_token(world) -> None:
    """The receipts before actions. The pointer names the account; its token is derived here:
    a pointer at an account under any other token (whose state can say anything) fails."""
    account = next(iter(world.node.accounts.values()))
    earlier = next(c for c in known_keys().contracts if not c.current and c.curve == "secp256k1")
    account["verificationKey"]["hash"] = earlier.zkapp.hash
    token = await ops.token_id(world.checks, ZKAPP)
    fields = [str(v) for v in receipt_fields(CHAIN, PHOTO_A, SIGNER.x, SIGNER.y)] + ["0"]
    owner = address()
    world.node.accounts[(owner, token)] = {"zkappState": fields}
    world.node.accounts[(owner, "wOtherToken")] = {"zkappState": fields}
    pointer = Pointer(ZKAPP, "the database", chain_id=CHAIN, signer_x=SIGNER.x,
                      signer_y=SIGNER.y, token_owner_address=owner, token_id=token)
    report = await verdict(world, PHOTO_A, pointer)
    assert report.verified, details(report)
    report = await verdict(world, PHOTO_B, pointer)
    assert not report.verified and "records another photo" in details(report)
    lying = Pointer(ZKAPP, "the API at x", token_owner_address=owner, token_id="wOtherToken")
    report = await verdict(world, PHOTO_A, lying)
    assert not report.verified and f"not the token of the zkApp {ZKAPP}" in details(report)
    elsewhere = address()
    world.node.accounts[(elsewhere, "wOtherToken")] = {"zkappState": fields}
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "the API at x",
                                                   token_owner_address=elsewhere))
    assert not report.verified and "no receipt account" in details(report)
    report = await verdict(world, PHOTO_A, Pointer(ZKAPP, "--zkapp"))
    assert not report.verified and "token accounts" in details(report)
