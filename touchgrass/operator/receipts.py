"""The public check of a photo's receipt, from Mina's own infrastructure only.

What a verifier trusts: a Mina node (its `account` answer: the zkApp's verification key hash and
action state) and this version of touchgrass (the verification keys it stores, node/keys.py).
What it does not trust: the archive (its actions are folded into the action-state hash and must
equal the node's), the API or the database (a `Pointer`: where to look, never evidence).

The checks, each a `Check`:
- contract: the zkApp at the address runs an AuthenticityZkApp this version builds, whose
  `verifyAndStore` verifies the AuthenticityProgram proof before recording;
- record: a record of this digest is among that zkApp's recorded receipts, and the receipts
  the archive returned are the whole, untampered history the node commits to;
- pointer: what the pointer claimed (the transaction, the signer, the chain) is what the
  record holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from touchgrass.chain.archive import ActionBlock, ArchiveClient, RecordedAction
from touchgrass.chain.client import ChainClient
from touchgrass.chain.records import Record, chain_text
from touchgrass.errors import ChainError
from touchgrass.node.keys import Contract, known_keys
from touchgrass.statuses import ReceiptKind

__all__ = ["CONTRACT_CHECK", "POINTER_CHECK", "RECORD_CHECK", "Check", "Pointer", "Report",
           "check_receipt"]

CONTRACT_CHECK = "contract"
RECORD_CHECK = "on-chain record"
POINTER_CHECK = "pointer"

# Folds actions (one list per account update, fields as decimal strings) into the action state.
ActionHasher = Callable[[list[list[list[str]]]], Awaitable[str]]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: does not apply (e.g. no stored proof any more)
    detail: str
    decisive: bool = False  # a check that must hold (not just not fail) for a verdict


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def verified(self) -> bool:
        """No check failed, and every decisive one (contract, record) holds."""
        return all(check.ok is not False for check in self.checks) and any(
            check.decisive for check in self.checks) and all(
            check.ok for check in self.checks if check.decisive)


@dataclass(frozen=True)
class Pointer:
    """Where someone says the record is, and what it holds: checked, never believed."""

    zkapp_address: str
    source: str  # "--zkapp", "the API at ...", "the database"
    transaction_hash: str | None = None
    chain_id: UUID | None = None
    signer_x: int | None = None
    signer_y: int | None = None
    # the receipts before actions: a token account's address, under the zkApp's token
    token_owner_address: str | None = None
    token_id: str | None = None


def _decisive(name: str, ok: bool, detail: str) -> Check:
    return Check(name, ok, detail, decisive=True)


async def check_receipt(digest: bytes, pointer: Pointer, *, node: ChainClient,
                        archive: ArchiveClient | None, hash_actions: ActionHasher) -> list[Check]:
    """contract, record and pointer checks for the photo with this SHA-256."""
    try:
        account = await node.zkapp(pointer.zkapp_address)
    except ChainError as error:
        return [_decisive(CONTRACT_CHECK, False, f"cannot read the node: {error}")]
    address = pointer.zkapp_address
    if account is None:
        return [_decisive(CONTRACT_CHECK, False, f"no account at {address} on the node "
                                                 f"(from {pointer.source})")]
    contract = (known_keys().by_zkapp_hash(account.verification_key_hash)
                if account.verification_key_hash else None)
    if contract is None:
        what = (f"runs another contract (verification key hash {account.verification_key_hash})"
                if account.verification_key_hash else "is not a zkApp")
        return [_decisive(CONTRACT_CHECK, False, f"{address} {what}: not an AuthenticityZkApp "
                                                 "this version of touchgrass builds")]
    checks = [_decisive(CONTRACT_CHECK, True, f"{address} runs AuthenticityZkApp "
                        f"({contract.curve}, receipts as {contract.receipts}), which verifies "
                        "the proof before recording")]
    if contract.receipts is ReceiptKind.TOKEN_ACCOUNT:
        record, check = await _token_account_record(digest, pointer, node)
    else:
        record, check = await _action_record(digest, pointer, account.action_state, archive,
                                             hash_actions)
    checks.append(check)
    if record is not None:
        checks.append(_pointer_check(pointer, record, contract))
    return checks


async def _action_record(digest: bytes, pointer: Pointer, action_state: int | None,
                         archive: ArchiveClient | None, hash_actions: ActionHasher
                         ) -> tuple[Record | None, Check]:
    if archive is None:
        return None, _decisive(RECORD_CHECK, False, "the record is an action of the zkApp: set "
                               "ARCHIVE_NODE_ENDPOINT (an archive node's GraphQL API) to read it")
    try:
        blocks = await archive.actions(pointer.zkapp_address)
    except ChainError as error:
        return None, _decisive(RECORD_CHECK, False, f"cannot read the archive: {error}")
    # The archive is not trusted: its actions must add up to the node's action state.
    updates = [[[str(v) for v in action.fields] for action in update]
               for block in blocks for update in block.updates()]
    folded = await hash_actions(updates)
    if action_state is None or int(folded) != action_state:
        return None, _decisive(RECORD_CHECK, False, "the archive's actions for "
                               f"{pointer.zkapp_address} do not add up to the action state the "
                               "node holds: the archive is behind, incomplete or altered")
    matches = [(block, action) for block in blocks for action in block.actions
               if (r := Record.from_fields(action.fields)) is not None and r.digest == digest]
    if not matches:
        return None, _decisive(RECORD_CHECK, False, f"the zkApp {pointer.zkapp_address} holds no "
                               f"record of SHA-256 {digest.hex()} ({sum(len(b.actions) for b in blocks)} "
                               "records checked)")
    if pointer.transaction_hash:
        pointed = [(b, a) for b, a in matches if a.transaction_hash == pointer.transaction_hash]
        if not pointed:
            other = _other_record(blocks, pointer.transaction_hash)
            return None, _decisive(RECORD_CHECK, False, f"{pointer.source} points at transaction "
                                   f"{pointer.transaction_hash}, which records "
                                   f"{other or 'nothing'} under this zkApp, not this photo")
        matches = pointed
    block, action = matches[0]
    record = _located(action, block)
    extra = f" (and {len(matches) - 1} later record(s) of it)" if len(matches) > 1 else ""
    return record, _decisive(RECORD_CHECK, True, f"{record.describe()}{extra}; the archive's "
                             f"{len(updates)} record(s) add up to the node's action state")


def _located(action: RecordedAction, block: ActionBlock) -> Record:
    record = Record.from_fields(action.fields, height=block.height,
                                transaction_hash=action.transaction_hash,
                                chain_status=block.chain_status)
    assert record is not None
    return record


def _other_record(blocks: list[ActionBlock], tx_hash: str) -> str | None:
    for block in blocks:
        for action in block.actions:
            if action.transaction_hash == tx_hash:
                record = Record.from_fields(action.fields)
                return f"SHA-256 {record.digest.hex()}" if record else "another record"
    return None


async def _token_account_record(digest: bytes, pointer: Pointer, node: ChainClient
                                ) -> tuple[Record | None, Check]:
    """The receipts before actions: a token account whose app state holds the fields. Its
    address is known only to the publisher, so the pointer must name it."""
    owner, token = pointer.token_owner_address, pointer.token_id
    if not owner or not token:
        return None, _decisive(RECORD_CHECK, False, "this zkApp keeps receipts in token accounts "
                               "(before actions): their address comes from --api or DATABASE_URL")
    try:
        account = await node.account(owner, token)
    except ChainError as error:
        return None, _decisive(RECORD_CHECK, False, f"cannot read the node: {error}")
    if account is None or account.zkapp_state is None:
        return None, _decisive(RECORD_CHECK, False, f"no receipt account at {owner} under the "
                               f"zkApp {pointer.zkapp_address}")
    record = Record.from_fields(account.zkapp_state[:7])
    if record is None or record.digest != digest:
        return None, _decisive(RECORD_CHECK, False, f"the receipt account {owner} records "
                               "another photo")
    return record, _decisive(RECORD_CHECK, True, f"token account {owner}: {record.describe()}")


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
