"""Prometheus metrics, scraped as Prometheus would: the API's /metrics (its requests, and the
queue and chain as the database has them) and a role's own --metrics-port while it works
(outcomes and durations), with bounded labels only."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from pathlib import Path

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import Api
from tests.support.factories import queue_submissions
from tests.support.net import free_port
from tests.test_processes import start_generate, stop_all

pytestmark = pytest.mark.anyio

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of an exposition text."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape_api(api: Api) -> dict:
    response = await api.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(await response.text())


@pytest.fixture
async def api(make_api) -> Api:
    return await make_api()


async def test_the_api_counts_requests_by_route_template_and_sees_the_queue(api: Api) -> None:
    before = await scrape_api(api)
    photo = await (await api.upload()).json()
    for _ in range(3):
        assert (await api.client.get(f"/api/submissions/{photo['id']}")).status == 200
    assert (await api.client.get("/no/such/path/" + photo["id"])).status == 404
    after = await scrape_api(api)

    by_id = dict(route="/api/submissions/{id}", method="GET", status="200")
    assert value(after, "touchgrass_http_requests_total", **by_id) - \
        value(before, "touchgrass_http_requests_total", **by_id) == 3
    assert value(after, "touchgrass_http_requests_total", route="/api/submissions",
                 method="POST", status="201") >= 1
    assert value(after, "touchgrass_http_requests_total", route="unmatched", method="GET",
                 status="404") >= 1
    assert value(after, "touchgrass_http_request_duration_seconds_count",
                 route="/api/submissions/{id}", method="GET") >= 3
    # the upload is waiting for proof generation, and the API's scrape says so
    assert value(after, "touchgrass_queue_rows", stage="generate", state="waiting") == 1
    assert value(after, "touchgrass_queue_oldest_waiting_seconds", stage="generate") >= 0
    # bounded labels: no id or path a client chose ever becomes a label value
    labels = {v for (_, pairs) in after for _, v in pairs}
    assert not [v for v in labels if UUID.search(v) or "/no/such" in v]


async def test_a_role_serves_its_outcomes_while_it_works(
        pool: asyncpg.Pool, database_url: str, storage, tmp_path: Path) -> None:
    """A generate process with METRICS_PORT (what --metrics-port sets), the test prover."""
    await queue_submissions(pool, 5, storage=storage)
    port = free_port()
    role = start_generate(database_url, storage.root, tmp_path / "calls.txt", delay_s=0.05,
                          name="metrics", METRICS_PORT=str(port))
    log = storage.root.parent / "metrics.log"
    try:
        deadline = time.monotonic() + 60
        scraped: dict = {}
        while value(scraped, "touchgrass_stage_outcomes_total", stage="generate",
                    outcome="done", reason="none") < 5:
            assert role.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the role's metrics never showed 5 done"
            await asyncio.sleep(0.2)
            try:
                scraped = samples(await asyncio.to_thread(scrape, port))
            except OSError:
                continue  # not serving yet
        assert value(scraped, "touchgrass_stage_duration_seconds_count", stage="generate",
                     outcome="done") == 5
        # the queue gauges come from the database every poll: nothing is left waiting
        deadline = time.monotonic() + 10
        while value(scraped, "touchgrass_queue_rows", stage="generate", state="waiting") != 0 \
                or ("touchgrass_queue_rows", (("stage", "generate"), ("state", "waiting"))) \
                not in scraped:
            assert time.monotonic() < deadline, "the queue gauges were not refreshed"
            await asyncio.sleep(0.2)
            scraped = samples(await asyncio.to_thread(scrape, port))
    finally:
        stop_all([role])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_the_grafana_dashboard_asks_only_for_metrics_touchgrass_exports() -> None:
    import json

    from prometheus_client import REGISTRY

    from touchgrass import metrics  # noqa: F401 - registers every metric

    exported = {sample.name for family in REGISTRY.collect() for sample in family.samples} | {
        family.name for family in REGISTRY.collect()}
    for name in ("touchgrass_stage_duration_seconds", "touchgrass_http_request_duration_seconds"):
        exported |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    for name in ("touchgrass_stage_outcomes", "touchgrass_http_requests"):
        exported.add(f"{name}_total")
    dashboard = json.loads((Path(__file__).resolve().parent.parent / "deploy" / "grafana" /
                            "touchgrass.json").read_text())
    asked = {name for panel in dashboard["panels"] for target in panel["targets"]
             for name in re.findall(r"touchgrass_[a-z_]+", target["expr"])}
    assert asked and not asked - exported, sorted(asked - exported)
