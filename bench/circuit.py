"""Rows of the AuthenticityProgram (o1js `analyzeMethods`): per curve, per part of P-256's
half-scalar check, and per window size for it and for o1js's `verifyEcdsa` (the baseline).

    python bench/circuit.py

No proving: every number is a constraint count, the same on every machine. A circuit of
R rows is padded to the next power of two at or above R + 3 (kimchi's zero-knowledge rows),
and prove time follows that domain (bench/README.md "Prover").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from touchgrass.node.install import find_node, install, sync_extra_source  # noqa: E402
from touchgrass.settings import ProverSettings  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "circuit.mjs"


def domain(rows: int) -> str:
    return f"2^{(rows + 3 - 1).bit_length()}"


def main() -> None:
    installation = install(ProverSettings().prover_js_dir)
    script = sync_extra_source(installation, SCRIPT, "circuit.mjs")
    done = subprocess.run([find_node("node"), str(script)], capture_output=True, text=True,
                          timeout=1800, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print("| circuit | rows | domain |\n| --- | ---: | ---: |")
    for name in ("secp256k1", "secp256r1"):
        print(f"| {name} (as shipped) | {result[name]:,} | {domain(result[name])} |")
    for name, rows in result["stock"].items():
        print(f"| secp256r1, o1js verifyEcdsa, windows {name} | {rows:,} | {domain(rows)} |")
    for name, rows in result["half"].items():
        print(f"| secp256r1, half scalars, windows {name} | {rows:,} | {domain(rows)} |")
    inputs = result["inputsOnly"]  # each part was measured in a program with these inputs
    chain = result["parts"]["doublingChain"] - inputs
    comb = result["parts"]["comb"] - inputs
    rest = result["secp256r1"] - chain - comb - inputs
    print("\n| part of the shipped P-256 circuit | rows |\n| --- | ---: |")
    print(f"| public input and the signature's range checks | {inputs:,} |")
    print(f"| v*R + z*P: two tables, 127 doublings, 86 additions | {chain:,} |")
    print(f"| c*G: 64 additions from constant tables | {comb:,} |")
    print(f"| the rest: congruences, R on the curve, r and s canonical, the final check | {rest:,} |")


if __name__ == "__main__":
    main()
