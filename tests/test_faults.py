"""`touchgrass api` as a process while its database is killed or hangs, and while its storage
turns read-only: clear 503s in bounded time, and afterwards no row without its image and no
image without its row. The database is a private server of this module's, so killing it
touches nothing else."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.support.api import ADMIN, ADMIN_PASSWORD, WALLET, Api, stored_keys
from tests.support.api_process import ApiProcess
from tests.support.private_postgres import PrivatePostgres
from touchgrass import migrations
from touchgrass.images import FilesystemStorage
from touchgrass.signatures import generate_private_key, sign

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    migrations.upgrade(server.url())
    yield server
    server.cleanup()


@dataclass
class RunningApi:
    process: ApiProcess
    database: str
    storage: FilesystemStorage
    private_key: str
    curve: str
    chain_id: str

    @property
    def url(self) -> str:
        return self.process.base

    def form(self, image: bytes) -> aiohttp.FormData:
        signature = sign(self.private_key, hashlib.sha256(image).digest(), self.curve)  # type: ignore[arg-type]
        form = aiohttp.FormData()
        form.add_field("image", image, filename="photo.png", content_type="image/png")
        for name, value in {"chainId": self.chain_id, "walletAddress": WALLET,
                            "signatureR": f"{signature.r:064x}",
                            "signatureS": f"{signature.s:064x}"}.items():
            form.add_field(name, value)
        return form


@pytest.fixture
async def running_api(private_postgres: PrivatePostgres, tmp_path: Path
                      ) -> AsyncIterator[RunningApi]:
    if private_postgres.process is None or private_postgres.process.poll() is not None:
        private_postgres.start()
    database = private_postgres.url()
    connection = await asyncpg.connect(database)
    await connection.execute("TRUNCATE users, challenges, chains, submissions, likes, "
                             "pending_images CASCADE")
    challenge_id = await connection.fetchval(
        "INSERT INTO challenges (title, description, start_time, end_time, deployment_status, "
        "zkapp_address) VALUES ('Faults', 'd', now() - interval '1 hour', "
        "now() + interval '1 day', 'active', $1) RETURNING id", WALLET)
    chain_id = await connection.fetchval(
        "INSERT INTO chains (name, challenge_id) VALUES ('Default', $1) RETURNING id",
        challenge_id)
    await connection.close()
    private_key, public = generate_private_key("secp256k1")
    env = {"DATABASE_URL": database, "ADMIN_PASSWORD": ADMIN_PASSWORD,
           "SIGNER_PUBLIC_KEY": f"{public.x:064x},{public.y:064x}",
           "STORAGE_DIR": str(tmp_path / "images"), "LOG_FORMAT": "json",
           "IMAGE_SWEEP_INTERVAL_S": "1", "IMAGE_SWEEP_GRACE_S": "2", "DATABASE_POOL_SIZE": "4"}
    log = open(tmp_path / "api.log", "w")  # a file: a full pipe would block the API's logging
    process = ApiProcess(env, output=log)
    api = RunningApi(process, database, FilesystemStorage(tmp_path / "images"), private_key,
                     "secp256k1", str(chain_id))
    await process.ready("/health")
    yield api
    process.stop()
    log.close()


async def assert_rows_and_images_agree(api: RunningApi, *, settle_s: float = 30) -> None:
    """Every row's image is stored, every stored image has its row, nothing is pending."""
    deadline = time.monotonic() + settle_s
    while True:
        connection = await asyncpg.connect(api.database)
        keys = {row["storage_key"] for row in await connection.fetch(
            "SELECT storage_key FROM submissions")}
        pending = await connection.fetchval("SELECT count(*) FROM pending_images")
        await connection.close()
        objects = await stored_keys(api.storage)
        if (keys == objects and not pending) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)  # the sweep runs every second in these tests
    assert keys - objects == set(), "rows without their image"
    assert objects - keys == set(), "images without their row"
    assert pending == 0


async def test_a_database_killed_during_uploads_leaves_nothing_orphaned(
        running_api: RunningApi, private_postgres: PrivatePostgres) -> None:
    statuses: list[int] = []

    async def upload_forever(session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with session.post(running_api.url + "/api/submissions",
                                        data=running_api.form(os.urandom(50_000))) as response:
                    statuses.append(response.status)
                    if response.status == 503:
                        assert response.headers["Retry-After"]
            except (TimeoutError, aiohttp.ClientError):
                statuses.append(0)

    stop = asyncio.Event()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        uploaders = [asyncio.create_task(upload_forever(session, stop)) for _ in range(6)]
        await asyncio.sleep(1.5)
        private_postgres.kill()
        await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*uploaders)
    assert 201 in statuses and 503 in statuses, sorted(collections.Counter(statuses).items())
    assert 500 not in statuses and 0 not in statuses
    private_postgres.start()
    await running_api.process.ready("/health")
    await assert_rows_and_images_agree(running_api)


async def test_a_hung_database_gives_503s_in_bounded_time(
        running_api: RunningApi, private_postgres: PrivatePostgres) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40)) as session:
        async with session.post(running_api.url + "/api/submissions",
                                data=running_api.form(os.urandom(1000))) as response:
            assert response.status == 201
        private_postgres.freeze()
        try:
            started = time.monotonic()
            async with session.get(running_api.url + "/health") as response:
                assert response.status == 503
                assert (await response.json())["checks"]["database"].startswith("error")
            assert time.monotonic() - started < 4.5  # its own 3 s check, and no more

            async def timed(method: str, path: str, **kwargs) -> tuple[int, float, dict]:
                began = time.monotonic()
                async with session.request(method, running_api.url + path, **kwargs) as answer:
                    return answer.status, time.monotonic() - began, await answer.json()

            results = await asyncio.gather(
                timed("GET", "/api/challenges"),
                timed("POST", "/api/submissions", data=running_api.form(os.urandom(1000))),
                *[timed("GET", "/api/submissions?limit=5") for _ in range(6)])
            for status, seconds, body in results:
                assert status == 503 and seconds < 16, (status, seconds, body)
                assert body["error"]["message"] == "The database is unavailable, try again shortly"
        finally:
            private_postgres.thaw()
    await running_api.process.ready("/health")
    await assert_rows_and_images_agree(running_api)


async def test_read_only_storage_refuses_uploads_and_keeps_what_it_has(make_api) -> None:
    api: Api = await make_api(storage="s3-read-only")
    before = await api.snapshot()
    response = await api.upload()
    assert response.status == 503 and response.headers["Retry-After"]
    assert (await response.json())["error"]["message"] == \
        "Image storage is unavailable, try again shortly"
    after = await api.snapshot()
    assert {**after, "pending_images": 0} == {**before, "pending_images": 0}
    # The upload's record of its image is settled by the sweep: nothing was written.
    from touchgrass import images

    assert await images.sweep(api.pool, api.storage, older_than_s=0) == 0
    assert await api.snapshot() == before
    response = await api.client.get("/api/submissions", headers=ADMIN)
    assert response.status == 200


class FreezableProxy:
    """A TCP relay to the S3 server that can freeze: while frozen it takes connections and
    passes no byte either way, as a SIGSTOPped server's socket does."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.frozen = asyncio.Event()
        self.thawed = asyncio.Event()
        self.thawed.set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def freeze(self) -> None:
        self.thawed.clear()

    def thaw(self) -> None:
        self.thawed.set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.thawed.wait()
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                await self.thawed.wait()
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer),
                             return_exceptions=True)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_a_frozen_s3_leaves_the_database_routes_answering(make_api, s3_server) -> None:
    """S3 freezes with 24 deletes in flight (more than the 20 database connections): the
    deletes once held a connection each while storage did not answer, and every route that
    needs only the database answered 503. Now the routes answer at once, uploads get a 503
    within the storage timeout, the deletes are answered, and the sweep settles the images
    once S3 is back."""
    from touchgrass import images

    proxy = FreezableProxy(s3_server.endpoint)
    api = await make_api(storage="s3", s3_endpoint=await proxy.start(), s3_timeout_s=3.0)
    try:
        ids = [(await (await api.upload()).json())["id"] for _ in range(24)]
        proxy.freeze()
        deletes = [asyncio.ensure_future(api.client.delete(f"/api/submissions/{id_}",
                                                           headers=ADMIN)) for id_ in ids]
        await asyncio.sleep(0.5)  # every delete is waiting on storage
        for path in ("/api/challenges", "/api/submissions?limit=5", f"/api/users/{WALLET}"):
            started = time.monotonic()
            answer = await api.client.get(path)
            assert answer.status == 200, (path, answer.status, await answer.text())
            assert time.monotonic() - started < 1.0, path
        started = time.monotonic()
        refused = await api.upload()
        assert refused.status == 503 and time.monotonic() - started < 5
        assert [(await delete).status for delete in deletes] == [204] * 24
        proxy.thaw()
        await images.sweep(api.pool, api.storage, older_than_s=0)
        assert not {key for key in await stored_keys(api.storage)
                    if not key.startswith("health/")}
        assert await api.pool.fetchval("SELECT count(*) FROM pending_images") == 0
    finally:
        proxy.thaw()
        await proxy.close()
