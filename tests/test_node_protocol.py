"""The Python side of the Node protocol against a stub program that needs no o1js
(tests/support/stub_node_program.mjs): each typed op sends what the real JS op reads, and
an answer of the wrong shape is refused here rather than deep inside a caller."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from touchgrass.errors import ProverError, ProverRequestError
from touchgrass.node import ops
from touchgrass.node.install import JS_SOURCE, O1JS_VERSION, Installation
from touchgrass.node.pool import PoolConfig, ProverPool
from touchgrass.signatures import Signature, generate_private_key

pytestmark = pytest.mark.anyio

STUB = Path(__file__).parent / "support" / "stub_node_program.mjs"
COMMAND = {"feePayer": {}, "accountUpdates": [], "memo": ""}
ANSWERS: dict[str, Any] = {
    "info": {"curve": "secp256k1", "verificationKeyHash": "123", "rss": 1000},
    "prove": {"proof": {"publicInput": ["1"], "proof": "x"}, "seconds": 0.1},
    "verify": {"valid": False, "reason": "the proof does not verify"},
    "public_key_of": {"publicKey": "B62qpayer"},
    "token_id": {"tokenId": "wTOKEN"},
    "deploy_transaction": {"command": COMMAND, "hash": "5Jhash", "zkappAddress": "B62qapp",
                           "tokenId": "wTOKEN"},
    "record_transaction": {"command": COMMAND, "hash": "5Jhash2"},
    "resign_transaction": {"command": COMMAND, "hash": "5Jhash3"},
    # the checks process (tools.js)
    "verify_proof": {"valid": True},
    "action_state": {"actionState": "42", "empty": "1"},
    "action_states": {"states": ["42", "43"], "empty": "1"},
    "sign_fields": {"signature": "7mSig"},
    "verify_fields": {"valid": True},
}


class StubInstallation(Installation):
    @property
    def entry(self) -> Path:
        return STUB


def _js_ops() -> dict[str, set[str]]:
    """Every op the real program serves, with the parameter names it destructures."""
    found: dict[str, set[str]] = {}
    for name in ("service.js", "chain.js", "tools.js"):
        source = (JS_SOURCE / "src" / name).read_text()
        for match in re.finditer(r"^ +async (\w+)\(\{?([^)]*?)\}?\) \{", source, re.M | re.S):
            params = {p.strip().split(":")[0] for p in match.group(2).split(",") if p.strip()}
            found[match.group(1)] = params
    return found


async def _run_all(pool: ProverPool) -> None:
    _, signer = generate_private_key("secp256k1")
    digest = bytes(range(32))
    assert (await ops.info(pool)).verification_key_hash == "123"
    assert await ops.prove(pool, digest=digest, signer=signer, signature=Signature(1, 2)) == \
        ANSWERS["prove"]["proof"]
    assert await ops.verify(pool, {"publicInput": []}, digest=digest, signer=signer) == \
        (False, "the proof does not verify")
    assert await ops.public_key_of(pool, "EKkey") == "B62qpayer"
    assert await ops.token_id(pool, "B62qapp") == "wTOKEN"
    deploy = await ops.deploy_transaction(pool, endpoint="http://node", network_id="devnet",
                                          fee_payer_key="EKkey", nonce=4, fee_nanomina=10)
    assert (deploy.hash, deploy.zkapp_address, deploy.token_id) == ("5Jhash", "B62qapp", "wTOKEN")
    receipt = await ops.record_transaction(
        pool, endpoint="http://node", network_id="devnet", fee_payer_key="EKkey", nonce=5,
        fee_nanomina=10, zkapp_address="B62qapp",
        photos=[ops.RecordedPhoto("7", {"publicInput": []})] * 2)
    assert receipt.hash == "5Jhash2"
    assert await ops.resign_transaction(pool, command=COMMAND, nonce=6, network_id="devnet",
                                        fee_payer_key="EKkey") == ops.ReceiptTransaction(
        COMMAND, "5Jhash3")
    assert await ops.verify_with_key(pool, {"publicInput": []}, curve="secp256k1",
                                     verification_key={"data": "AA", "hash": "1"},
                                     digest=digest, signer=signer) == (True, "")
    assert await ops.action_state(pool, [[["1", "2"]]]) == "42"
    assert await ops.action_states(pool, 7, [[[["1"]]], [[["2"]]]]) == [42, 43]
    assert await ops.sign_fields(pool, "EKkey", [1, 2]) == "7mSig"
    assert await ops.verify_fields(pool, "B62qop", [1, 2], "7mSig") is True


def _pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any]) -> ProverPool:
    monkeypatch.setenv("STUB_ANSWERS", json.dumps(answers))
    monkeypatch.setenv("STUB_REQUESTS", str(tmp_path / "requests.jsonl"))
    return ProverPool(PoolConfig(size=1, curve="secp256k1", cache_dir=str(tmp_path)),
                      StubInstallation(tmp_path))


async def test_each_op_sends_what_the_real_program_reads(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pool = _pool(tmp_path, monkeypatch, ANSWERS)
    await pool.start()
    try:
        await _run_all(pool)
    finally:
        await pool.close()
    sent = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    served = _js_ops()
    # Every op of the real program has its Python function, and nothing else is called.
    assert {request["op"] for request in sent} == set(served) == set(ANSWERS)
    for request in sent:
        # Python sends exactly the parameters the JS op destructures (a rename on either
        # side fails here); `verify` may leave out the optional digest and signer.
        assert set(request["params"]) <= served[request["op"]], request["op"]
        assert served[request["op"]] - set(request["params"]) == set(), request["op"]


def test_the_js_ops_are_read_from_the_sources() -> None:
    """The parser above is what makes the check bite: it must see the real ops."""
    served = _js_ops()
    assert served["prove"] == {"digest", "signer", "signature"}
    assert "photos" in served["record_transaction"]
    assert served["info"] == set()


async def test_an_answer_of_the_wrong_shape_is_refused_by_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = _pool(tmp_path, monkeypatch, {"token_id": {"tokenId": 7},
                                         "public_key_of": {"address": "B62q"}})
    await pool.start()
    try:
        with pytest.raises(ProverError, match="token_id answer has no valid 'tokenId'"):
            await ops.token_id(pool, "B62qapp")
        with pytest.raises(ProverError, match="public_key_of answer has no valid 'publicKey'"):
            await ops.public_key_of(pool, "EKkey")
        with pytest.raises(ProverRequestError, match="unknown op info"):
            await ops.info(pool)
    finally:
        await pool.close()


def test_the_pinned_o1js_is_the_one_the_lockfile_installs() -> None:
    package = json.loads((JS_SOURCE / "package.json").read_text())
    lock = json.loads((JS_SOURCE / "package-lock.json").read_text())
    assert package["dependencies"]["o1js"] == O1JS_VERSION
    assert lock["packages"]["node_modules/o1js"]["version"] == O1JS_VERSION
