"""The P-256 circuit's signature check (node/js/src/ecdsa.js) in o1js's prover mode: an honest
prover passes, provers that lie in their witness are refused by the constraints, and the
circuit fits a 2^15 domain (verifyEcdsa's took 40,280 rows, a 2^16 domain)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from touchgrass.node.install import find_node, install, sync_extra_source
from touchgrass.settings import ProverSettings

CHECKS = Path(__file__).parent / "support" / "ecdsa_checks.mjs"
# Kimchi keeps a few rows of the domain for zero knowledge; 3 is its usual count.
DOMAIN_ROWS, ZK_ROWS = 2**15, 3

pytestmark = [pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def checks() -> dict:
    installation = install(ProverSettings().prover_js_dir)
    script = sync_extra_source(installation, CHECKS, "ecdsa_checks.mjs")
    done = subprocess.run([find_node("node"), str(script)], capture_output=True, text=True,
                          timeout=500, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_honest_prover_satisfies_the_constraints(checks: dict) -> None:
    assert checks["cases"]["honest"] == "ok"
    assert checks["halfGcdFailures"] == 0  # 1,000 random scalars split under 2^128


@pytest.mark.parametrize("lie", ["otherDigest", "notNegatedR", "flippedZ", "zeroScalars"])
def test_a_lying_witness_is_refused(checks: dict, lie: str) -> None:
    """otherDigest: the signed photo's witness for another digest. zeroScalars: v = z = c = 0
    satisfies both congruences and sums to zero; only the v != 0 constraint refuses it."""
    assert checks["cases"][lie] != "ok"


def test_the_p256_circuit_fits_a_2_to_the_15_domain(checks: dict) -> None:
    assert checks["rows"] + ZK_ROWS <= DOMAIN_ROWS, checks["rows"]
