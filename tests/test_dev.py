"""`touchgrass dev` (marked zk): the whole system from one command in a fresh home, twice.

The newcomer flow exactly as the README tells it (dev, the printed upload line, `touchgrass
verify photo.jpg`, no exports), then a photo's public verification from another fresh home
with only the node and archive endpoints and the zkApp address; a changed byte, a pointer to
another photo's record and a look-alike contract each give NOT VERIFIED; attempts to change the
records without the contract's proof are refused and change nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO_ROOT
from tests.support.net import free_port
from touchgrass.chain.client import ChainClient
from touchgrass.errors import SendRejected
from touchgrass.node.install import find_node, install, sync_extra_source
from touchgrass.node.keys import known_keys
from touchgrass.settings import ProverSettings

ATTEMPTS = Path(__file__).parent / "support" / "chain_attempts.mjs"

pytestmark = [pytest.mark.zk, pytest.mark.timeout(2400)]



def http_json(url: str) -> object:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def wait(predicate, timeout: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (OSError, ValueError, KeyError):
            pass
        assert process.poll() is None, f"dev exited while waiting for {what}:\n" + log.read_text()[-4000:]
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n" + log.read_text()[-4000:]
        time.sleep(1)


def start_dev(env: dict[str, str], api_port: int, devnet_port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "touchgrass.cli", "dev", "--port", str(api_port),
                             "--devnet-port", str(devnet_port), "--block-interval", "1"],
                            cwd=REPO_ROOT, env=env, stdout=open(log, "a"),
                            stderr=subprocess.STDOUT)


def stop_and_check(process: subprocess.Popen, state_dir: Path) -> None:
    tree = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=180) == 0
    _, alive = psutil.wait_procs(tree, timeout=15)
    assert not alive, f"left running: {[p.cmdline()[:3] for p in alive]}"
    assert not (state_dir / "pgdata" / "postmaster.pid").exists(), "PostgreSQL still running"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "touchgrass.cli", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def printed_upload_line(log: Path) -> bool:
    return any(text.strip().startswith("touchgrass upload PHOTO.jpg")
               for text in log.read_text().splitlines())


def upload_line(log: Path, photo: Path) -> list[str]:
    """The `touchgrass upload` line dev printed, for this photo, as a user would paste it."""
    line = next(text.strip() for text in log.read_text().splitlines()
                if text.strip().startswith("touchgrass upload PHOTO.jpg"))
    return shlex.split(line.replace("PHOTO.jpg", shlex.quote(str(photo))))[1:]


def readme_commands() -> list[str]:
    """Every `touchgrass ...` line of the README's shell blocks after `touchgrass dev`."""
    readme = (REPO_ROOT / "README.md").read_text()
    lines = [line.split("#", 1)[0].strip() for block in readme.split("```sh")[1:]
             for line in block.split("```", 1)[0].splitlines()]
    return [line for line in lines if line.startswith("touchgrass ") and line != "touchgrass dev"]


def run_readme_commands(env: dict[str, str], photo: Path, sha256: str, zkapp: str,
                        upload: list[str]) -> None:
    """Each README command, as written, with its placeholders filled as a reader would: it
    answers without a traceback; those that check something say it holds."""
    for line in readme_commands():
        words = shlex.split(line.replace("<sha256>", sha256).replace("photo.jpg", str(photo))
                            .replace("B62q...", zkapp))
        if words[1] == "upload":
            words = ["touchgrass", *upload]  # the printed line, already run: a second copy
        if "--watch" in words:
            watching = subprocess.Popen([sys.executable, "-m", "touchgrass.cli", *words[1:]],
                                        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
            time.sleep(5)
            assert watching.poll() is None, watching.communicate()[1]  # still refreshing
            watching.send_signal(signal.SIGINT)
            watching.wait(timeout=30)
            continue
        done = cli(env, *words[1:])
        text = done.stdout + done.stderr
        assert "Traceback" not in text, (line, text)
        if words[1] in ("verify", "status"):
            assert done.returncode == 0, (line, text)
        else:  # resubmit of a complete photo, a second upload: refused in one line
            assert done.returncode in (0, 1) and len(done.stderr.strip().splitlines()) <= 2, \
                (line, text)


def attempt(mode: str, params: dict) -> dict:
    """chain_attempts.mjs, run against the installed o1js."""
    settings = ProverSettings()
    installation = install(settings.prover_js_dir)
    script = sync_extra_source(installation, ATTEMPTS, "chain_attempts.mjs")
    done = subprocess.run([find_node("node"), str(script), mode], input=json.dumps(params),
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def send_all(endpoint: str, commands: list[dict]) -> list[str]:
    """Each command sent; the node's refusal text, or "" when it took it."""
    async def go() -> list[str]:
        client = ChainClient(endpoint)
        answers = []
        try:
            for command in commands:
                try:
                    await client.send_zkapp(command)
                    answers.append("")
                except SendRejected as refused:
                    answers.append(refused.message)
        finally:
            await client.close()
        return answers
    return asyncio.run(go())


def zkapp_account(endpoint: str, address: str):
    async def go():
        client = ChainClient(endpoint)
        try:
            return await client.zkapp(address)
        finally:
            await client.close()
    return asyncio.run(go())


def check_publicly(tmp_path: Path, env: dict[str, str], state: dict, api: str, photo: Path,
                   process: subprocess.Popen, log: Path) -> None:
    """Issue 12's acceptance: from a fresh home, only the node and archive endpoints."""
    fresh = tmp_path / "fresh-home"
    fresh.mkdir()
    public = {**env, "HOME": str(fresh), "MINA_NODE_ENDPOINT": state["mina_endpoint"],
              "ARCHIVE_NODE_ENDPOINT": state["archive_endpoint"],
              # where o1js is installed, so this home does not download it again
              "PROVER_JS_DIR": str(Path(env["HOME"]) / ".local/share/touchgrass/prover-js")}
    # Whom this verifier trusts: the operator's address, pinned, and the trust file the
    # operator signed with it (`touchgrass trust --from-database --sign`), fetched as is.
    zkapp = http_json(f"{api}/api/challenges/{state['challenge_id']}")["zkAppAddress"]
    trusted = cli({**env, "FEE_PAYER_PRIVATE_KEY": state["fee_payer"]["sk"]}, "trust",
                  "--from-database", "--sign")
    assert trusted.returncode == 0, trusted.stderr
    anchors = json.loads(trusted.stdout)
    assert anchors["operator"] == state["operator_public"] and zkapp in anchors["zkapps"]
    (tmp_path / "trust.json").write_text(trusted.stdout)
    public.update(TRUST_FILE=str(tmp_path / "trust.json"),
                  OPERATOR_PUBLIC_KEY=state["operator_public"])
    verdict = cli(public, "verify", str(photo), "--zkapp", zkapp)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert "VERIFIED" in verdict.stdout and "hash to an action state the node holds" in verdict.stdout
    assert f"recorded by the operator {state['operator_public']}" in verdict.stdout
    assert "using the running" not in verdict.stderr  # nothing came from the dev instance

    changed = tmp_path / "changed.jpg"
    data = bytearray(photo.read_bytes())
    data[100] ^= 1
    changed.write_bytes(bytes(data))
    verdict = cli(public, "verify", str(changed), "--zkapp", zkapp)
    assert verdict.returncode == 1 and "NOT VERIFIED" in verdict.stdout
    assert "holds no record of SHA-256" in verdict.stdout, verdict.stdout

    # A second photo, and an API that points the first one at the second one's record.
    other = tmp_path / "other.jpg"
    other.write_bytes(os.urandom(6000))
    uploaded = cli(env, *upload_line(log, other))
    assert uploaded.returncode == 0, uploaded.stderr
    other_id = json.loads(uploaded.stdout)["id"]
    wait(lambda: http_json(f"{api}/api/submissions/{other_id}")["status"] == "complete", 900,
         "the second photo to complete", process, log)
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    honest = http_json(f"{api}/api/receipts/{sha}")
    wrong = http_json(f"{api}/api/submissions/{other_id}/receipt")
    assert honest["transactionHash"] != wrong["transactionHash"]
    verdict = cli(public, "verify", str(photo), "--api", api)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    with lying_api(wrong) as liar:
        verdict = cli(public, "verify", str(photo), "--api", liar)
    assert verdict.returncode == 1 and "NOT VERIFIED" in verdict.stdout
    assert "points at transaction" in verdict.stdout, verdict.stdout

    # Look-alikes of the contract itself, admin state set to the operator's key: one whose
    # actions may be added by signature, one with the contract's exact permissions whose
    # record came in its deploy (by signature, before those permissions applied).
    payer = http_json(state["mina_endpoint"].replace("/graphql", "/acquire-account"))
    for permissions, reason in (("signature", "editActionState is Signature"),
                                ("genuine", "made by Signature, not by the contract's proof")):
        lookalike = attempt("lookalike", {
            "endpoint": state["mina_endpoint"], "payerKey": payer["sk"],
            "fields": honest["record"], "admin": state["operator_public"],
            "permissions": permissions,
            "verificationKey": known_keys().current("secp256k1").zkapp.as_json()})
        assert send_all(state["mina_endpoint"], lookalike["commands"]) == [""]
        wait(lambda address=lookalike["address"]: zkapp_account(  # type: ignore[misc]
            state["mina_endpoint"], address) is not None, 120, "the look-alike account",
            process, log)
        time.sleep(3)  # the archive follows the node
        verdict = cli(public, "verify", str(photo), "--zkapp", lookalike["address"])
        assert verdict.returncode == 1 and reason in verdict.stdout, verdict.stdout
        assert "not among the zkApps the operator lists" in verdict.stdout
        assert "✔ contract" in verdict.stdout  # it does run our contract's key

    # Records cannot be changed: a forged action and new permissions, without the proof.
    before = zkapp_account(state["mina_endpoint"], zkapp).action_state
    tamper = attempt("tamper", {"endpoint": state["mina_endpoint"], "payerKey": payer["sk"],
                                "zkapp": zkapp, "fields": wrong["record"]})
    answers = send_all(state["mina_endpoint"], tamper["commands"])
    time.sleep(3)  # blocks every second: anything accepted is in a block now
    after = zkapp_account(state["mina_endpoint"], zkapp)
    assert after.action_state == before, answers
    assert "Cannot update field 'actions'" in answers[0], answers
    assert "Cannot update field 'permissions'" in answers[1], answers
    verdict = cli(public, "verify", str(photo), "--zkapp", zkapp)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    print("tamper attempts answered:", answers)


class lying_api:
    """A loopback API whose every receipt is `receipt` (another photo's)."""

    def __init__(self, receipt: dict) -> None:
        import http.server
        import threading

        body = json.dumps(receipt).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


def test_dev_runs_the_whole_pipeline_and_reuses_its_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DATABASE_URL", "MINA_", "MINIO_", "FEE_PAYER", "XDG_",
                                  "TOUCHGRASS_TEST", "CIRCUIT_CACHE", "PROVER_JS", "STORAGE_DIR"))}
    env.update(HOME=str(home))
    state_dir = home / ".local" / "share" / "touchgrass" / "dev"
    api_port, devnet_port = free_port(), free_port()
    log = tmp_path / "dev.log"

    first_started = time.monotonic()
    process = start_dev(env, api_port, devnet_port, log)
    api = f"http://127.0.0.1:{api_port}"
    try:
        wait(lambda: json.loads((state_dir / "dev.json").read_text()).get("api_url"), 900,
             "the dev state", process, log)
        state = json.loads((state_dir / "dev.json").read_text())
        # The README's newcomer flow: the printed upload line, run the moment it appears (it
        # is printed only once uploads are accepted), then `touchgrass verify photo.jpg`, in
        # another terminal with no exports.
        wait(lambda: printed_upload_line(log), 900, "the upload line", process, log)
        first_ready = time.monotonic() - first_started
        photo = tmp_path / "grass.jpg"
        photo.write_bytes(os.urandom(8000))
        uploaded = cli(env, *upload_line(log, photo))
        assert uploaded.returncode == 0, uploaded.stderr
        # until then one line said what dev waited for; no request line per look
        assert "waiting for the publish role to deploy the demo challenge's zkApp" in \
            log.read_text()
        assert log.read_text().count("GET /api/challenges/") <= 2
        assert "using the running `touchgrass dev`" in uploaded.stderr
        submission = json.loads(uploaded.stdout)
        wait(lambda: http_json(f"{api}/api/submissions/{submission['id']}")["status"] == "complete",
             900, "the submission to complete", process, log)
        verified = cli(env, "verify", str(photo))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "using the running `touchgrass dev`" in verified.stderr
        check_publicly(tmp_path, env, state, api, photo, process, log)
        zkapp = http_json(f"{api}/api/challenges/{state['challenge_id']}")["zkAppAddress"]
        run_readme_commands(env, photo, hashlib.sha256(photo.read_bytes()).hexdigest(), zkapp,
                            upload_line(log, photo))
        verify_env = {**env, "DATABASE_URL": state["database_url"],
                      "SIGNER_PUBLIC_KEY": state["signer_public"],
                      "OPERATOR_PUBLIC_KEY": state["operator_public"],
                      "MINA_NODE_ENDPOINT": state["mina_endpoint"],
                      "ARCHIVE_NODE_ENDPOINT": state["archive_endpoint"]}
    finally:
        if process.poll() is None:
            stop_and_check(process, state_dir)

    second_started = time.monotonic()
    process = start_dev(env, api_port, devnet_port, log)
    try:
        wait(lambda: http_json(f"{api}/api/submissions/{submission['id']}")["status"] == "complete",
             600, "the API with the earlier submission", process, log)
        wait(lambda: "uploads are accepted" in log.read_text().split("dev stopped")[-1], 600,
             "the second start to be ready", process, log)
        second_ready = time.monotonic() - second_started
        again = cli(verify_env, "verify", str(photo))
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        stop_and_check(process, state_dir)
    print(f"first start to ready {first_ready:.0f} s, second {second_ready:.0f} s")
    assert second_ready < first_ready
