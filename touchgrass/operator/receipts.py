"""The public check of a photo's receipt, from Mina's own infrastructure and the verifier's
trust anchors only (operator/trust.py).

What a verifier trusts: a Mina node (its `account` answer: the zkApp's verification key hash,
permissions, admin state and action states), this version of touchgrass (the verification keys
it stores, node/keys.py) and its anchors: the signer keys and the operator. What it does not
trust: the archive (the actions it returns are folded into action-state hashes, which must
reach one the node holds), the API or the database (a `Pointer`: where to look, never
evidence).

The checks, each a `Check`; the decisive ones must all hold:
- contract: the zkApp runs an AuthenticityZkApp this version builds, whose `recordOne`/`recordTwo`
  verifies the AuthenticityProgram proof before recording;
- operator: the operator vouches for the zkApp (its admin, its permissions, the node's
  transaction version, its list of zkApps when it keeps one);
- record: the zkApp recorded this digest, through the contract's proof (not in a deploy's
  signed update), and the actions from that record onward hash to a state the node holds;
- signer: the record's signer is a trusted key;
- pointer: what the pointer claimed (the transaction, the signer, the chain) is what the
  record holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import anyio

from touchgrass.chain.archive import ActionBlock, ArchiveClient, RecordedAction
from touchgrass.chain.client import ChainClient, ZkappAccount
from touchgrass.chain.records import EMPTY_ACTION_STATE, Record, chain_text
from touchgrass.errors import ChainError
from touchgrass.node.era import TRANSACTION_VERSION, era_of
from touchgrass.node.keys import Contract, known_keys
from touchgrass.operator.trust import TrustAnchors, zkapp_problems
from touchgrass.statuses import ReceiptKind

__all__ = ["CONTRACT_CHECK", "OPERATOR_CHECK", "POINTER_CHECK", "RECORD_CHECK", "SIGNER_CHECK",
           "ArchiveReading", "ChainMath", "Check", "Pointer", "Report", "check_receipt"]

CONTRACT_CHECK = "contract"
OPERATOR_CHECK = "operator"
RECORD_CHECK = "on-chain record"
SIGNER_CHECK = "signer"
POINTER_CHECK = "pointer"

# The one authorization under which the contract's `recordOne`/`recordTwo` record: its proof.
PROOF_AUTHORIZED = "Proof"

# The first window of a search without a block height: most checks are of recent photos.
FIRST_WINDOW = 64

# One block's actions, as ChainMath folds them: account updates, each a list of actions, each
# a list of fields as decimal strings.
BlockActions = list[list[list[str]]]


class ChainMath(Protocol):
    """The hashes a verifier computes itself (o1js's, through the checks process)."""

    async def action_states(self, start: int | None, blocks: list[BlockActions]) -> list[int]:
        """The action state after each block, folded from `start`."""
        ...

    async def token_id(self, zkapp_address: str) -> str:
        """The token id a zkApp's address derives (base58)."""
        ...


@dataclass(frozen=True)
class ArchiveReading:
    """How the archive is read: windows no wider than its range (ARCHIVE_BLOCK_RANGE; a real
    Archive-Node-API refuses a wider one), and a few looks again while it lags the node."""

    window: int = 10_000
    lag_retries: int = 2
    lag_wait_s: float = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: does not apply (e.g. no stored proof any more)
    detail: str
    decisive: bool = False  # a check that must hold (not just not fail) for a verdict


@dataclass(frozen=True)
class Report:
    checks: list[Check]
    # who signed, which operator recorded it where, in which block: the verdict's one line
    summary: str = ""
    pending: bool = False  # the record's block is not final yet

    @property
    def verified(self) -> bool:
        """No check failed, and every decisive one holds."""
        return all(check.ok is not False for check in self.checks) and any(
            check.decisive for check in self.checks) and all(
            check.ok for check in self.checks if check.decisive)


@dataclass(frozen=True)
class Pointer:
    """Where someone says the record is, and what it holds: checked, never believed."""

    zkapp_address: str
    source: str  # "--zkapp", "the API at ...", "the database"
    transaction_hash: str | None = None
    block_height: int | None = None  # where to start reading the archive
    chain_id: UUID | None = None
    signer_x: int | None = None
    signer_y: int | None = None
    # the receipts before actions: a token account's address, under the zkApp's token
    token_owner_address: str | None = None
    token_id: str | None = None


def _decisive(name: str, ok: bool, detail: str) -> Check:
    return Check(name, ok, detail, decisive=True)


@dataclass
class _Found:
    """A record located in the archive, with the verdict on it."""

    check: Check
    record: Record | None = None
    lagging: bool = False  # the archive and the node disagree on height: worth a look again


async def check_receipt(digest: bytes, pointer: Pointer, *, node: ChainClient,
                        archive: ArchiveClient | None, math: ChainMath, anchors: TrustAnchors,
                        reading: ArchiveReading = ArchiveReading()) -> Report:
    """Every check of the photo with this SHA-256, and the verdict's summary line."""
    address = pointer.zkapp_address
    try:
        account = await node.zkapp(address)
    except ChainError as error:
        return Report([_decisive(CONTRACT_CHECK, False, f"cannot read the node: {error}")])
    if account is None:
        return Report([_decisive(CONTRACT_CHECK, False, f"no account at {address} on the node "
                                                        f"(from {pointer.source})")])
    contract = (known_keys().by_zkapp_hash(account.verification_key_hash)
                if account.verification_key_hash else None)
    if contract is None:
        what = (f"runs another contract (verification key hash {account.verification_key_hash})"
                if account.verification_key_hash else "is not a zkApp")
        return Report([_decisive(CONTRACT_CHECK, False, f"{address} {what}: not an "
                                 "AuthenticityZkApp this version of touchgrass builds")])
    checks = [_decisive(CONTRACT_CHECK, True, f"{address} runs AuthenticityZkApp "
                        f"({contract.curve}, receipts as {contract.receipts}), which verifies "
                        "the proof before recording")]
    checks.append(await _operator_check(address, account, node, anchors))
    if contract.receipts is ReceiptKind.TOKEN_ACCOUNT:
        found = await _token_account_record(digest, pointer, node, math)
    else:
        found = await _action_record(digest, pointer, account, node, archive, math, reading)
    checks.append(found.check)
    record = found.record
    if record is None:
        return Report(checks)
    trusted = anchors.signer(contract.curve, record.signer_x, record.signer_y)
    key = f"{contract.curve} key {record.signer_x:064x},{record.signer_y:064x}"
    short = f"{contract.curve} key {record.signer_x:064x}"[:-48] + "…"  # x's first 16 hex
    checks.append(_decisive(SIGNER_CHECK, trusted is not None, f"signed by the trusted {short}"
                            if trusted else f"the record's signer ({key}) is none of the "
                            "trusted signer keys: anyone can sign a photo with a key of their "
                            "own"))
    checks.append(_pointer_check(pointer, record, contract))
    pending = record.chain_status == "pending"
    where = (f"in block {record.height} ({'pending: not final yet' if pending else 'final'})"
             if record.height is not None else "in a token account")
    summary = (f"signed by {short}, recorded by the operator {anchors.operator} in the zkApp "
               f"{address} {where}")
    return Report(checks, summary, pending)


async def _operator_check(address: str, account: ZkappAccount, node: ChainClient,
                          anchors: TrustAnchors) -> Check:
    try:
        era = era_of(await node.node_info())
    except ChainError as error:
        return _decisive(OPERATOR_CHECK, False, f"cannot read the node's era: {error}")
    problems = zkapp_problems(address, account.zkapp_state, account.permissions, anchors,
                              TRANSACTION_VERSION.get(era))
    if problems:
        return _decisive(OPERATOR_CHECK, False, f"the zkApp is not vouched for by the operator "
                         f"{anchors.operator}: " + "; ".join(problems))
    return _decisive(OPERATOR_CHECK, True, f"administered by the operator {anchors.operator}; "
                     "its records, contract and permissions cannot be changed on this "
                     f"{era.value} network")


async def _action_record(digest: bytes, pointer: Pointer, account: ZkappAccount,
                         node: ChainClient, archive: ArchiveClient | None, math: ChainMath,
                         reading: ArchiveReading) -> _Found:
    if archive is None:
        return _Found(_decisive(RECORD_CHECK, False, "the record is an action of the zkApp: set "
                                "ARCHIVE_NODE_ENDPOINT (an archive node's GraphQL API) to read it"))
    for attempt in range(reading.lag_retries + 1):
        try:
            found = await _read_record(digest, pointer, account, node, archive, math, reading)
        except ChainError as error:
            return _Found(_decisive(RECORD_CHECK, False, f"cannot read the record: {error}"))
        if found.record is not None or not found.lagging or attempt == reading.lag_retries:
            return found
        await anyio.sleep(reading.lag_wait_s)  # the archive catches up block by block
        try:
            account = await node.zkapp(pointer.zkapp_address) or account
        except ChainError:
            pass
    raise AssertionError("unreachable")


async def _read_record(digest: bytes, pointer: Pointer, account: ZkappAccount,
                       node: ChainClient, archive: ArchiveClient, math: ChainMath,
                       reading: ArchiveReading) -> _Found:
    address = pointer.zkapp_address
    archive_tip = await archive.tip_height()
    node_tip = await node.best_tip()
    lagging = node_tip is not None and node_tip.height != archive_tip
    heights = (f"the archive's newest block is {archive_tip}, the node's "
               f"{node_tip.height if node_tip else '?'}")
    blocks, read = await _blocks_from_record(archive, address, digest, pointer, archive_tip,
                                             reading.window)
    if not blocks:
        return _Found(_decisive(RECORD_CHECK, False, f"the zkApp {address} holds no record of "
                                f"SHA-256 {digest.hex()} ({read} records read; {heights})"),
                      lagging=lagging)
    record_block = blocks[0]
    action = _record_action(record_block, digest, pointer.transaction_hash)
    if pointer.transaction_hash and action is None:
        other = _other_record(blocks, pointer.transaction_hash)
        return _Found(_decisive(RECORD_CHECK, False, f"{pointer.source} points at transaction "
                                f"{pointer.transaction_hash}, which records "
                                f"{other or 'nothing'} under this zkApp, not this photo"))
    action = action or _record_action(record_block, digest, None)
    assert action is not None
    if action.authorization_kind != PROOF_AUTHORIZED:
        how = action.authorization_kind or "an authorization the archive did not name"
        return _Found(_decisive(RECORD_CHECK, False, f"the record in transaction "
                                f"{action.transaction_hash} was made by {how}, not by the "
                                "contract's proof: a look-alike's deploy can record so"))
    if record_block.state_before is None:
        return _Found(_decisive(RECORD_CHECK, False, "the archive gave no action state before "
                                f"block {record_block.height}"))
    # The archive is not trusted: the actions from the record's block on must hash, from
    # whatever state the archive says came before, to one of the states the node holds.
    folded = await math.action_states(record_block.state_before, [
        [[[str(v) for v in a.fields] for a in update] for update in block.updates()]
        for block in blocks])
    held = set(account.action_states)
    anchor = next((i for i, state in enumerate(folded) if state in held), None)
    if anchor is None:
        return _Found(_decisive(RECORD_CHECK, False, f"the archive's actions from block "
                                f"{record_block.height} on do not reach an action state the "
                                f"node holds ({heights}): the archive is behind, ahead, "
                                "incomplete or altered"), lagging=lagging)
    record = Record.from_fields(action.fields, height=record_block.height,
                                transaction_hash=action.transaction_hash,
                                chain_status=record_block.chain_status)
    assert record is not None
    later = sum(1 for block in blocks[1:anchor + 1] for update in block.updates())
    return _Found(_decisive(RECORD_CHECK, True, f"{record.describe()}; it and the {later} "
                            f"later record(s) up to block {blocks[anchor].height} hash to an "
                            "action state the node holds"), record)


async def _blocks_from_record(archive: ArchiveClient, address: str, digest: bytes,
                              pointer: Pointer, tip: int, window: int
                              ) -> tuple[list[ActionBlock], int]:
    """The zkApp's action blocks from the latest one recording `digest` to the archive's tip
    (empty: no record), and how many records were read.

    With a block height (a pointer's), the windows from it onward; otherwise windows backwards
    from the tip, growing, until the record, or the zkApp's first action, is found. Each window is at
    most the archive's range wide: a real archive refuses a wider one, and reads only its last
    range when asked without one."""
    if pointer.block_height is not None and 0 < pointer.block_height <= tip:
        blocks: list[ActionBlock] = []
        for start in range(pointer.block_height, tip + 1, window):
            blocks += await archive.actions(address, from_height=start, to_height=start + window)
        first = next((i for i, block in enumerate(blocks)
                      if _record_action(block, digest, pointer.transaction_hash)), None)
        if first is not None:
            return blocks[first:], _count(blocks)
        # not where the pointer said: look everywhere
    # Backwards from the tip in windows that grow fourfold up to the archive's range: a
    # recent record costs a small read, an old one at most about twice the blocks after it.
    blocks, top, step = [], tip + 1, min(window, FIRST_WINDOW)
    while top > 1:
        low = max(1, top - step)
        step = min(window, step * 4)
        found = await archive.actions(address, from_height=low, to_height=top)
        blocks = found + blocks
        last = next((i for i in range(len(found) - 1, -1, -1)
                     if _record_action(found[i], digest, None)), None)
        if last is not None:
            return blocks[last:], _count(blocks)
        if any(block.state_before == EMPTY_ACTION_STATE for block in found):
            break  # the zkApp's first actions: nothing older
        top = low
    return [], _count(blocks)


def _count(blocks: list[ActionBlock]) -> int:
    return sum(len(block.actions) for block in blocks)


def _record_action(block: ActionBlock, digest: bytes, transaction_hash: str | None
                   ) -> RecordedAction | None:
    """The block's last action recording `digest` (in that transaction, when given)."""
    for action in reversed(block.actions):
        record = Record.from_fields(action.fields)
        if record is not None and record.digest == digest and \
                transaction_hash in (None, action.transaction_hash):
            return action
    return None


def _other_record(blocks: list[ActionBlock], tx_hash: str) -> str | None:
    for block in blocks:
        for action in block.actions:
            if action.transaction_hash == tx_hash:
                record = Record.from_fields(action.fields)
                return f"SHA-256 {record.digest.hex()}" if record else "another record"
    return None


async def _token_account_record(digest: bytes, pointer: Pointer, node: ChainClient,
                                math: ChainMath) -> _Found:
    """The receipts before actions: a token account whose app state holds the fields. Its
    address is known only to the publisher, so the pointer must name it; its token is derived
    here from the zkApp's address, never taken from the pointer (an account under any other
    token can hold any fields)."""
    owner = pointer.token_owner_address
    if not owner:
        return _Found(_decisive(RECORD_CHECK, False, "this zkApp keeps receipts in token "
                                "accounts (before actions): their address comes from --api or "
                                "DATABASE_URL"))
    try:
        token = await math.token_id(pointer.zkapp_address)
        if pointer.token_id and pointer.token_id != token:
            return _Found(_decisive(RECORD_CHECK, False, f"{pointer.source} names token "
                                    f"{pointer.token_id}, not the token of the zkApp "
                                    f"{pointer.zkapp_address} ({token})"))
        account = await node.account(owner, token)
    except ChainError as error:
        return _Found(_decisive(RECORD_CHECK, False, f"cannot read the node: {error}"))
    if account is None or account.zkapp_state is None:
        return _Found(_decisive(RECORD_CHECK, False, f"no receipt account at {owner} under the "
                                f"zkApp {pointer.zkapp_address}'s token"))
    record = Record.from_fields(account.zkapp_state[:7])
    if record is None or record.digest != digest:
        return _Found(_decisive(RECORD_CHECK, False, f"the receipt account {owner} records "
                                "another photo"))
    return _Found(_decisive(RECORD_CHECK, True, f"token account {owner} under the zkApp's "
                            f"token: {record.describe()}"), record)


def _pointer_check(pointer: Pointer, record: Record, contract: Contract) -> Check:
    """What the pointer claimed beyond the address must be what the record holds."""
    wrong = []
    if pointer.chain_id is not None and pointer.chain_id.int != record.chain_id:
        wrong.append(f"chain {pointer.chain_id} (the record says {chain_text(record.chain_id)})")
    if pointer.signer_x is not None and (pointer.signer_x, pointer.signer_y) != (
            record.signer_x, record.signer_y):
        wrong.append(f"its signer ({contract.curve}) is not the record's")
    if wrong:
        return Check(POINTER_CHECK, False, f"{pointer.source} claims " + "; ".join(wrong))
    claimed = [what for what, given in (("transaction", pointer.transaction_hash),
                                        ("chain", pointer.chain_id),
                                        ("signer", pointer.signer_x)) if given is not None]
    if not claimed:
        return Check(POINTER_CHECK, None, f"{pointer.source} gave the zkApp address only")
    return Check(POINTER_CHECK, True, f"{pointer.source}: its {', '.join(claimed)} match the "
                                      "record")
