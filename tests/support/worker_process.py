"""A `touchgrass generate` process with the test prover, for multi-process tests.

Runs the same `run_lanes` the CLI role runs; only the prover is the test one.
Environment: DATABASE_URL, STORAGE_DIR, TEST_PROVER_CALLS (file), TEST_PROVER_DELAY_S,
TEST_CONCURRENCY, METRICS_PORT, plus any queue setting (GENERATE_LEASE_S, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from tests.support.factories import SIGNER
from tests.support.fakes import CountingProver
from touchgrass import logs
from touchgrass.images import open_storage
from touchgrass.roles.generate import generate_lane
from touchgrass.roles.runner import run_lanes, serve_metrics
from touchgrass.settings import (
    DatabaseSettings,
    MetricsSettings,
    QueueSettings,
    StorageSettings,
    load,
)


async def main() -> None:
    logs.configure("generate", fmt="json", level=os.environ.get("LOG_LEVEL", "INFO"))
    serve_metrics(load(MetricsSettings).metrics_port)  # as the CLI does with --metrics-port
    prover = CountingProver(
        delay_s=float(os.environ.get("TEST_PROVER_DELAY_S", "0")),
        calls_file=Path(os.environ["TEST_PROVER_CALLS"]),
    )
    await run_lanes(
        "generate",
        [generate_lane(open_storage(load(StorageSettings)), prover, SIGNER)],
        database=load(DatabaseSettings),
        queue=load(QueueSettings),
        concurrency=int(os.environ.get("TEST_CONCURRENCY", "1")),
    )


if __name__ == "__main__":
    anyio.run(main)
