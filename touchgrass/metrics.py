"""Prometheus metrics: every metric touchgrass exports, defined once, and how they are served.

Names follow Prometheus conventions (a `touchgrass_` prefix, base units in the name,
`_total` on counters) and every label is bounded: stages, states, outcomes and reason
classes are fixed sets, routes are templates (`/api/submissions/{id}`), never ids. The API
serves `/metrics`; each role serves it on `--metrics-port` / METRICS_PORT when set.

What is counted where: the queue loop (`queue/worker.py`) counts outcomes and durations; the
roles' runner refreshes the queue gauges from the database every poll; the prover pool is
read when scraped; the monitor and the publisher set the chain and fee payer gauges; the
API's middleware counts requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "HTTP_REQUESTS", "HTTP_SECONDS", "QUEUE_OLDEST", "QUEUE_ROWS",
           "STAGE_OUTCOMES", "STAGE_SECONDS", "CHAIN_STATUS", "FEE_PAYER_BALANCE", "reason_class",
           "render", "serve", "serving", "set_counts", "unwatch_pool", "watch_pool"]

QUEUE_ROWS = Gauge("touchgrass_queue_rows", "Rows ready in a stage, by state: waiting (never "
                   "failed), running (leased), retrying (failed, backing off).",
                   ["stage", "state"])
QUEUE_OLDEST = Gauge("touchgrass_queue_oldest_waiting_seconds",
                     "Age of the oldest row ready in a stage.", ["stage"])
STAGE_OUTCOMES = Counter("touchgrass_stage_outcomes_total",
                         "Work done on a row, by stage and outcome (done, retry, reject, "
                         "lease_lost) and a bounded reason class.",
                         ["stage", "outcome", "reason"])
STAGE_SECONDS = Histogram("touchgrass_stage_duration_seconds",
                          "Time a handler worked on one row, by stage and outcome.",
                          ["stage", "outcome"],
                          buckets=(0.05, 0.25, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600))
CHAIN_STATUS = Gauge("touchgrass_submissions_chain", "Published submissions by what the "
                     "chain says of their transaction.", ["chain_status"])
PHOTOS_PER_COMMAND = Histogram("touchgrass_photos_per_command", "Photos each zkApp command "
                               "the publisher sent carried (its batch, at most ten).",
                               buckets=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
UPDATE_PROOFS = Counter("touchgrass_update_proofs_total", "Account updates the publisher "
                        "proved (one or two photos each); a re-sign proves none.")
FEE_PAYER_BALANCE = Gauge("touchgrass_fee_payer_balance_nanomina",
                          "The fee payer's balance, as last read from the node.")
HTTP_REQUESTS = Counter("touchgrass_http_requests_total", "HTTP requests answered, by route "
                        "template, method and status.", ["route", "method", "status"])
HTTP_SECONDS = Histogram("touchgrass_http_request_duration_seconds", "Time to answer an HTTP "
                         "request (to the end of the handler), by route template and method.",
                         ["route", "method"])

# Failure reasons are free text; a label gets their class only.
_REASONS = [
    ("timeout", re.compile(r"timed out|timeout", re.I)),
    ("prover", re.compile(r"prover|proof|circuit", re.I)),
    ("chain", re.compile(r"node|chain|nonce|zkapp|transaction|mina|balance", re.I)),
    ("database", re.compile(r"database|postgres|connection|store the result", re.I)),
    ("storage", re.compile(r"storage|image|object|s3", re.I)),
    ("input", re.compile(r"signature|invalid|malformed|bytes", re.I)),
]


def reason_class(reason: str | None) -> str:
    """A failure reason's class for a label: one of a fixed few, `none` for a success."""
    if not reason:
        return "none"
    return next((name for name, pattern in _REASONS if pattern.search(reason)), "other")


class _Pool(Protocol):
    restarts: int
    recycles: int

    def process_rss(self) -> list[int]: ...


class _PoolCollector(Collector):
    """A prover pool's processes, read when scraped (their RSS changes while proving)."""

    def __init__(self, pools: list[_Pool]) -> None:
        self.pools = pools

    def collect(self) -> Iterator[Any]:
        processes = GaugeMetricFamily("touchgrass_prover_processes",
                                      "Prover (builder) processes alive.")
        rss = GaugeMetricFamily("touchgrass_prover_rss_bytes",
                                "Resident memory of the prover processes: the largest, and all "
                                "together.", labels=["which"])
        restarts = CounterMetricFamily("touchgrass_prover_restarts",
                                       "Prover processes replaced after a crash or a hang.")
        recycles = CounterMetricFamily("touchgrass_prover_recycles",
                                       "Prover processes replaced at their proof or memory limit.")
        sizes = [size for pool in self.pools for size in pool.process_rss()]
        processes.add_metric([], len(sizes))
        rss.add_metric(["max"], max(sizes, default=0))
        rss.add_metric(["sum"], sum(sizes))
        restarts.add_metric([], sum(pool.restarts for pool in self.pools))
        recycles.add_metric([], sum(pool.recycles for pool in self.pools))
        yield from (processes, rss, restarts, recycles)


_pools = _PoolCollector([])
REGISTRY.register(_pools)


def watch_pool(pool: _Pool) -> None:
    """Export a prover pool's processes from now on (every pool this process opens)."""
    _pools.pools.append(pool)


def unwatch_pool(pool: _Pool) -> None:
    if pool in _pools.pools:
        _pools.pools.remove(pool)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric, and its content type (the API's /metrics)."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


_serving: list[int] = []


def serve(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from outside
    """A role's /metrics on its own port, in a thread (the role's loop never waits on it).
    OSError when the port is taken."""
    start_http_server(port, addr=host)
    _serving.append(port)


def serving() -> bool:
    """Is this process exporting metrics (so the queue gauges are worth refreshing)?"""
    return bool(_serving)


def set_counts(gauge: Gauge, counts: Iterable[tuple[str, int]]) -> None:
    """A gauge by one label, set from (label, count) pairs; labels seen before and absent now
    go to zero rather than keep their last value."""
    seen = {label: count for label, count in counts}
    for labels in list(gauge._metrics):  # noqa: SLF001 - the labels set so far
        gauge.labels(*labels).set(seen.pop(labels[0], 0))
    for label, count in seen.items():
        gauge.labels(label).set(count)
