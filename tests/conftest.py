"""Shared fixtures: a real PostgreSQL database migrated to head, a clean slate per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.support import databases
from touchgrass import db
from touchgrass.images import FilesystemStorage
from touchgrass.queue.stages import Policy, Stage
from touchgrass.queue.worker import Handler, Worker, WorkerEvent

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with databases.postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_server: str) -> Iterator[str]:
    url = databases.create_database(postgres_server)
    yield url
    databases.drop_database(url)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(database_url, size=20)
    await pool.execute("TRUNCATE users, challenges, chains, submissions, likes, pending_images CASCADE")
    yield pool
    await pool.close()


@pytest.fixture
def storage(tmp_path: Path) -> FilesystemStorage:
    return FilesystemStorage(tmp_path / "storage")


def fast_policy(**overrides: float) -> Policy:
    values = {"max_attempts": 3, "backoff_base_s": 0.0, "lease_s": 30.0, "jitter": 0.0,
              "expiry_s": None}
    values.update(overrides)
    return Policy(**values)  # type: ignore[arg-type]


class RunningWorker:
    """A Worker running in a task; events are queued for tests to await (no sleeps)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.events: asyncio.Queue[WorkerEvent] = asyncio.Queue()
        worker._on_event = self.events.put_nowait
        self.stop = asyncio.Event()
        self.hurry = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def next_event(self, kind: str, timeout: float = 10.0) -> WorkerEvent:
        async def find() -> WorkerEvent:
            while True:
                event = await self.events.get()
                if event.kind == kind:
                    return event
        return await asyncio.wait_for(find(), timeout)

    async def wait_finished(self, count: int, timeout: float = 30.0) -> list[WorkerEvent]:
        return [await self.next_event("finished", timeout) for _ in range(count)]


@pytest.fixture
async def run_worker(pool: asyncpg.Pool) -> AsyncIterator[Callable[..., Awaitable[RunningWorker]]]:
    running: list[RunningWorker] = []

    async def start(stage: Stage, handler: Handler, *, policy: Policy | None = None,
                    owner: str = "test-worker", concurrency: int = 1,
                    poll_interval_s: float = 30.0, shutdown_grace_s: float = 5.0) -> RunningWorker:
        worker = Worker(pool, stage, policy or fast_policy(), handler, owner=owner,
                        concurrency=concurrency, poll_interval_s=poll_interval_s,
                        shutdown_grace_s=shutdown_grace_s)
        handle = RunningWorker(worker)
        handle.task = asyncio.create_task(worker.run(handle.stop, handle.hurry))
        running.append(handle)
        return handle

    yield start
    for handle in running:
        handle.stop.set()
    for handle in running:
        if handle.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(handle.task, 15)


# ---------------------------------------------------------------- the HTTP API


@pytest.fixture(scope="session")
def s3_server():
    from tests.support.seaweed import seaweedfs

    with seaweedfs() as server:
        yield server


@pytest.fixture
async def make_api(pool: asyncpg.Pool, tmp_path: Path, request):
    """Start the real API app on a loopback port: `await make_api(storage="s3", **settings)`."""
    from aiohttp.test_utils import TestClient

    from tests.support.api import ADMIN_PASSWORD, Api, ApiTestServer
    from touchgrass.api.app import build_app
    from touchgrass.api.context import ApiContext
    from touchgrass.images import S3Storage
    from touchgrass.settings import ApiSettings
    from touchgrass.signatures import generate_private_key

    clients: list[TestClient] = []
    stores = []

    async def start(*, storage: str = "fs", curve: str = "secp256k1", create_challenge: bool = True,
                    s3_pool_size: int = 32, s3_timeout_s: float = 10.0,
                    s3_endpoint: str | None = None, **settings: object) -> Api:
        if storage in ("s3", "s3-read-only"):
            server = request.getfixturevalue("s3_server")
            bucket = f"test-{os.urandom(4).hex()}"
            store = S3Storage(s3_endpoint or server.endpoint, server.access_key,
                              server.secret_key, bucket, pool_size=s3_pool_size,
                              timeout_s=s3_timeout_s)
            if storage == "s3-read-only":  # the bucket exists; the API may only read it
                await store.ensure_bucket()
                stores.append(store)
                store = S3Storage(server.endpoint, server.reader_key, server.reader_secret,
                                  bucket, create_bucket=False)
        else:
            store = FilesystemStorage(tmp_path / f"storage-{len(stores)}")
        stores.append(store)
        private, public = generate_private_key(curve)  # type: ignore[arg-type]
        api_settings = ApiSettings(admin_password=ADMIN_PASSWORD, **settings)  # type: ignore[arg-type]
        ctx = ApiContext(pool=pool, storage=store, settings=api_settings, signer=public)
        client = TestClient(ApiTestServer(build_app(ctx)))
        await client.start_server()
        clients.append(client)
        api = Api(client=client, pool=pool, storage=store, private_key=private, signer=public)
        if create_challenge:
            api.challenge_id, api.chain_id = await api.make_challenge()
        return api

    yield start
    for client in clients:
        await client.close()
    for store in stores:
        await store.close()

# ---------------------------------------------------------------- what kind of test each file is

# A newcomer's map of the suite (select with -m unit / integration / acceptance):
#   unit         no service at all: pure functions, stand-ins on loopback, static checks
#   integration  one part against the real thing: PostgreSQL, SeaweedFS, o1js, the devnet
#   acceptance   the product as an operator runs it: `touchgrass ...` processes end to end
KINDS = {
    "unit": {"test_chain_client", "test_docs", "test_graphql_documents", "test_node_protocol",
             "test_prover_pool", "test_publish_standin", "test_settings_and_logs",
             "test_signatures_and_addresses", "test_structure"},
    "integration": {"test_api_clients", "test_circuit", "test_api_hardening", "test_api_lists",
                    "test_js_types",
                    "test_api_resources", "test_api_s3",
                    "test_api_submissions", "test_devnet", "test_metrics", "test_migrations",
                    "test_monitor", "test_notify",
                    "test_operator_cli", "test_prover", "test_publish_batches",
                    "test_queue_engine", "test_receipts", "test_storage", "test_trust",
                    "test_worker"},
    "acceptance": {"test_api_fuzz", "test_api_process", "test_dev", "test_dev_failures",
                   "test_faults", "test_generate_role", "test_processes",
                   "test_publish_pipeline"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        kinds = [kind for kind, modules in KINDS.items() if module in modules]
        if len(kinds) != 1:
            raise pytest.UsageError(f"{module} must be in exactly one of KINDS in conftest.py")
        item.add_marker(kinds[0])
