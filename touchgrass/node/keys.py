"""The verification keys this version of touchgrass compiles, stored so that checks need not
compile (`verify-proof`, `verify`, the publisher's redeploy decision).

`verification_keys.json` holds, per curve, the AuthenticityProgram's key and the
AuthenticityZkApp's key as o1js 2.15 compiles them from js/src, and the hashes of contracts
earlier versions deployed (their receipts stay verifiable). A key depends only on the circuit
code and the o1js version; `python -m touchgrass.node.keys` compiles and rewrites the file,
and the zk tests check that what the provers compile equals what is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from touchgrass.statuses import ReceiptKind

__all__ = ["KEYS_FILE", "Contract", "Key", "KnownKeys", "known_keys"]

KEYS_FILE = Path(__file__).resolve().parent / "verification_keys.json"


@dataclass(frozen=True)
class Key:
    hash: str  # a field element, decimal (as a node's `verificationKey.hash`)
    data: str | None = None  # base64, as o1js prints it; only for this version's keys

    def as_json(self) -> dict[str, str]:
        return {"hash": self.hash, "data": self.data or ""}


@dataclass(frozen=True)
class Contract:
    """One AuthenticityZkApp build: what it verifies and where it leaves receipts."""

    curve: str
    receipts: ReceiptKind
    program: Key
    zkapp: Key
    current: bool
    note: str = ""


@dataclass(frozen=True)
class KnownKeys:
    contracts: tuple[Contract, ...]

    def current(self, curve: str) -> Contract:
        for contract in self.contracts:
            if contract.current and contract.curve == curve:
                return contract
        raise LookupError(f"no stored verification key for {curve}; run "
                          "`python -m touchgrass.node.keys`")

    def by_zkapp_hash(self, zkapp_hash: str) -> Contract | None:
        """The build whose zkApp has this verification key hash, if one of ours."""
        return next((c for c in self.contracts if c.zkapp.hash == zkapp_hash), None)


def _contract(entry: dict[str, Any], current: bool) -> Contract:
    return Contract(entry["curve"], ReceiptKind(entry["receipts"]), Key(**entry["program"]),
                    Key(**entry["zkapp"]), current, entry.get("note", ""))


@cache
def known_keys(file: Path = KEYS_FILE) -> KnownKeys:
    document = json.loads(file.read_text())
    return KnownKeys(tuple([_contract(e, True) for e in document["current"]]
                           + [_contract(e, False) for e in document["earlier"]]))


async def _compile_current(curve: str) -> dict[str, Any]:
    from touchgrass.node.pool import open_pool
    from touchgrass.settings import ProverSettings

    pool = await open_pool(ProverSettings(), curve=curve, zkapp=True)
    try:
        info = await pool.run("info", {})
    finally:
        await pool.close()
    return {"curve": curve, "receipts": ReceiptKind.ACTION.value,
            "program": info["verificationKey"], "zkapp": info["zkappVerificationKey"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curve", action="append", choices=["secp256k1", "secp256r1"],
                        help="compile only these curves (default both)")
    parser.add_argument("--earlier-note", default="an earlier build of this curve's circuit",
                        help="what a replaced build was, kept with its hashes under \"earlier\"")
    args = parser.parse_args()
    curves = args.curve or ["secp256k1", "secp256r1"]
    document = json.loads(KEYS_FILE.read_text()) if KEYS_FILE.exists() else {"earlier": []}
    compiled = {curve: asyncio.run(_compile_current(curve)) for curve in curves}
    for entry in document.get("current", []):
        new = compiled.get(entry["curve"])
        # A changed build's zkApps stay on chain with their receipts: keep its hashes.
        if new is not None and new["zkapp"]["hash"] != entry["zkapp"]["hash"]:
            document["earlier"].append({
                "curve": entry["curve"], "receipts": entry["receipts"],
                "program": {"hash": entry["program"]["hash"]},
                "zkapp": {"hash": entry["zkapp"]["hash"]}, "note": args.earlier_note})
            print(f"{entry['curve']}: the circuit changed; the earlier build's hashes are kept")
    kept = [e for e in document.get("current", []) if e["curve"] not in curves]
    document["current"] = kept + list(compiled.values())
    KEYS_FILE.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {KEYS_FILE}")


if __name__ == "__main__":
    main()
