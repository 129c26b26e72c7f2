"""Receipts benchmark on the devnet: MINA spent per photo (today's action receipts against the
token-account receipts before migration 0010, same run), and how long checking takes.

    python bench/receipts.py [--photos 3] [--records 1000]

- cost: the fee payer's balance before and after each transaction, read from the node, for
  the current contract (deploy once, then `--photos` receipts built and sent as the
  publisher does) and for the contract of commit LEGACY_COMMIT (read from git; a deploy and
  one receipt, by bench/legacy_receipt.mjs with o1js's own tx.send());
- `touchgrass verify PHOTO --zkapp ADDRESS` as a process, with only the node and archive
  endpoints set (no database), five runs;
- `touchgrass verify-proof FILE` as a process (the stored key), five runs; baseline, same
  run: a proof verified the way it was before, by a prover process that compiles (cache
  warm) to get the key;
- folding `--records` records into the action state (the checks process), the part of a
  check that grows with the zkApp's history.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.net import free_port  # noqa: E402
from touchgrass.chain.client import ChainClient  # noqa: E402
from touchgrass.chain.records import chain_id_field  # noqa: E402
from touchgrass.devtools.devnet import start_devnet  # noqa: E402
from touchgrass.node import open_pool, ops  # noqa: E402
from touchgrass.node.checks import open_checks  # noqa: E402
from touchgrass.node.install import find_node, install, sync_extra_source  # noqa: E402
from touchgrass.node.prover import O1jsProver, ProofRequest  # noqa: E402
from touchgrass.settings import ProverSettings  # noqa: E402
from touchgrass.signatures import generate_private_key, sign  # noqa: E402

FEE = 100_000_000
LEGACY_COMMIT = "b8fa8d1"  # the last commit with token-account receipts
LEGACY_DRIVER = Path(__file__).resolve().parent / "legacy_receipt.mjs"


async def balance(chain: ChainClient, address: str) -> int:
    account = await chain.account(address)
    assert account is not None
    return account.balance_nanomina


async def included(chain: ChainClient, tx_hash: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(tx_hash in block.zkapp_command_hashes for block in await chain.best_chain(50)):
        assert time.monotonic() < deadline, f"{tx_hash} not included"
        await asyncio.sleep(0.5)


def legacy_cost(settings: ProverSettings, endpoint: str, payer_key: str, proof: dict,
                chain_id: uuid.UUID) -> dict[str, int]:
    """A deploy and one receipt with the contract before migration 0010 (from git)."""
    installation = install(settings.prover_js_dir)
    driver = sync_extra_source(installation, LEGACY_DRIVER, "legacy_receipt.mjs")
    legacy = driver.parent / "legacy"
    legacy.mkdir(exist_ok=True)
    for name in ("circuit.js", "zkapp.js"):
        source = subprocess.run(["git", "show", f"{LEGACY_COMMIT}:touchgrass/node/js/src/{name}"],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout
        (legacy / name).write_text(source)
    done = subprocess.run([find_node("node"), str(driver)], capture_output=True, text=True,
                          timeout=900, check=True, input=json.dumps({
                              "endpoint": endpoint, "payerKey": payer_key, "proof": proof,
                              "chainId": str(chain_id.int),
                              "cacheDir": str(settings.circuit_cache_path)}))
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return {key: int(value) for key, value in answer.items()}


def timed_runs(command: list[str], env: dict[str, str], runs: int = 5) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        seconds.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stdout + done.stderr
    return seconds


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


async def main(photos: int, records: int) -> None:
    settings = ProverSettings()
    tmp = Path(tempfile.mkdtemp(prefix="bench-receipts-"))
    devnet = await start_devnet(port=free_port(), state_dir=tmp / "devnet", block_interval_s=1)
    chain = ChainClient(devnet.graphql)
    builder = await open_pool(settings, curve="secp256k1", zkapp=True)
    private, signer = generate_private_key("secp256k1")
    prover = O1jsProver(await open_pool(settings, curve="secp256k1"), signer)
    try:
        async with aiohttp.ClientSession() as http:
            payer = await (await http.get(f"{devnet.base_url}/acquire-account")).json()
            legacy_payer = await (await http.get(f"{devnet.base_url}/acquire-account")).json()

        async def nonce() -> int:
            account = await chain.account(payer["pk"])
            assert account is not None and account.next_nonce is not None
            return account.next_nonce

        before = await balance(chain, payer["pk"])
        deploy = await ops.deploy_transaction(builder, endpoint=devnet.graphql,
                                                 network_id="devnet", fee_payer_key=payer["sk"],
                                                 nonce=await nonce(), fee_nanomina=FEE)
        await included(chain, (await chain.send_zkapp(deploy.command)).hash)
        deploy_cost = before - await balance(chain, payer["pk"])
        costs, images, proofs = [], [], []
        chain_id = uuid.uuid4()
        for _ in range(photos):
            image = os.urandom(4096)
            digest = hashlib.sha256(image).digest()
            proof = await prover.prove(ProofRequest(digest, sign(private, digest, "secp256k1"),
                                                    digest.hex()))
            built = await ops.record_transaction(
                builder, endpoint=devnet.graphql, network_id="devnet", fee_payer_key=payer["sk"],
                nonce=await nonce(), fee_nanomina=FEE, zkapp_address=deploy.zkapp_address,
                photos=[ops.RecordedPhoto(chain_id_field(chain_id), proof)])
            before = await balance(chain, payer["pk"])
            await included(chain, (await chain.send_zkapp(built.command)).hash)
            costs.append(before - await balance(chain, payer["pk"]))
            images.append(image)
            proofs.append((proof, digest))
        legacy = legacy_cost(settings, devnet.graphql, legacy_payer["sk"], proofs[0][0], chain_id)
        print(f"MINA per photo: action receipts {statistics.mean(costs) / 1e9:g} "
              f"({len(costs)} photos: {[c / 1e9 for c in costs]}); token-account receipts "
              f"(commit {LEGACY_COMMIT}) {legacy['receipt'] / 1e9:g}; a challenge's deploy "
              f"{deploy_cost / 1e9:g} (legacy {legacy['deploy'] / 1e9:g})")

        photo = tmp / "photo.jpg"
        photo.write_bytes(images[0])
        fresh = tmp / "fresh-home"
        fresh.mkdir()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TOUCHGRASS_"))},
               "HOME": str(fresh), "MINA_NODE_ENDPOINT": devnet.graphql,
               "ARCHIVE_NODE_ENDPOINT": devnet.archive, "PROVER_JS_DIR": str(settings.prover_js_dir)}
        cli = [sys.executable, "-m", "touchgrass.cli"]
        verify = timed_runs([*cli, "verify", str(photo), "--zkapp", deploy.zkapp_address], env)
        print(f"touchgrass verify --zkapp ({photos} records): {summary(verify)}")

        proof_file = tmp / "proof.json"
        proof_file.write_text(json.dumps({"curve": "secp256k1", "sha256": proofs[0][1].hex(),
                                          "signer": str(signer), "proof": proofs[0][0]}))
        stored = timed_runs([*cli, "verify-proof", str(proof_file)], env)
        compiled = []
        for _ in range(3):
            started = time.perf_counter()
            pool = await open_pool(settings, curve="secp256k1")
            assert (await ops.verify(pool, proofs[0][0], digest=proofs[0][1], signer=signer))[0]
            await pool.close()
            compiled.append(time.perf_counter() - started)
        print(f"touchgrass verify-proof (stored key): {summary(stored)}; baseline, a prover "
              f"that compiles (warm cache) then verifies: {summary(compiled)}")

        async with open_checks(settings) as checks:
            fields = [[[str(v) for v in range(i, i + 7)]] for i in range(records)]
            started = time.perf_counter()
            await ops.action_state(checks, fields)
            fold = time.perf_counter() - started
        print(f"folding {records} records into the action state: {fold:.2f} s "
              f"({fold / records * 1000:.2f} ms a record)")
    finally:
        await prover.close()
        await builder.close()
        await chain.close()
        await devnet.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--records", type=int, default=1000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.photos, arguments.records))
