"""Operator commands: prove, verify-proof, verify, status, resubmit."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from touchgrass.cli import console
from touchgrass.cli.app import DatabaseUrl, app, database_settings
from touchgrass.cli.console import err, out, run
from touchgrass.settings import load


@app.command()
@console.command("prove")
def prove(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                          help="The photo whose signature to prove.")],
    signature: Annotated[str, typer.Option(
        "--signature", help="r,s: the signature over the image's SHA-256, 64 hex each.")],
    out_file: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where to write the proof; default: IMAGE.proof.json.",
        show_default=False)] = None,
) -> None:
    """Prove offline that a signature over a photo's SHA-256 is valid; writes the proof JSON.

    Uses SIGNER_PUBLIC_KEY and SIGNER_CURVE like the generate role. No database needed.
    """
    from touchgrass.operator import proofs
    from touchgrass.settings import ProverSettings, SignerSettings

    signer, settings = load(SignerSettings), load(ProverSettings)
    parsed = proofs.parse_signature(signature)
    target = out_file or image.with_name(image.name + ".proof.json")

    async def work() -> Path:
        with console.compile_progress() as progress:
            return await proofs.prove_image(settings, signer.key, image, parsed, target,
                                            progress)

    err.print(f"proof written to {run(work)}")


@app.command("verify-proof")
@console.command("verify")
def verify_proof(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A proof from `touchgrass prove` (or a bare "
                                              "o1js proof JSON, as stored in proof_json).")],
    image: Annotated[Path | None, typer.Option(
        "--image", help="Also check that the proof is about this photo's SHA-256.",
        show_default=False)] = None,
) -> None:
    """Verify a proof; exit 0 when it holds, 1 when it does not (with the reason).

    Checked against the verification key this version of touchgrass stores (no compile: ~7 s
    here, reading the verifier's caches from CIRCUIT_CACHE_PATH; a machine's first check
    writes them).
    """
    from touchgrass.operator import proofs
    from touchgrass.settings import ProverSettings, SignerSettings

    document = proofs.read_proof_file(file, image)
    settings = load(ProverSettings)
    signer = document.signer or load(SignerSettings).key

    async def work() -> Any:
        return await proofs.verify_proof_file(settings, document, signer)

    verdict = run(work)
    if not verdict.valid:
        out.print(f"INVALID: {verdict.reason}", highlight=False)
        raise typer.Exit(1)
    about = f" for SHA-256 {document.digest.hex()}" if document.digest else ""
    out.print(f"valid: the proof verifies{about} (signer {signer.curve})", highlight=False)


@app.command("verify")
@console.command("verify")
def verify_photo(
    target: Annotated[str, typer.Argument(help="The photo (an image file), or its SHA-256.")],
    zkapp: Annotated[str | None, typer.Option(
        "--zkapp", show_default=False,
        help="The challenge's zkApp address: no API or database needed.")] = None,
    api: Annotated[str | None, typer.Option(
        "--api", show_default=False,
        help="A touchgrass API to ask where the record is (a pointer, not trusted).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Check a photo against the chain: one verdict per check, exit 0 only when all hold.

    The record is read from MINA_NODE_ENDPOINT and ARCHIVE_NODE_ENDPOINT and checked there:
    the zkApp runs the contract this version builds (which verified the proof), it recorded
    this digest, and the archive's records add up to the node's action state. Where to look
    comes from --zkapp, --api or DATABASE_URL (the first given); with DATABASE_URL the stored
    signature and proof are checked too. After `touchgrass dev`, a running dev instance's
    settings are used when these are unset.
    """
    from touchgrass.operator import parse_sha256
    from touchgrass.operator.verify import Sources, check_photo
    from touchgrass.settings import ChainSettings, ProverSettings, SignerSettings

    path = Path(target)
    image = path.read_bytes() if path.is_file() else None
    sha256 = hashlib.sha256(image).hexdigest() if image is not None else parse_sha256(target)
    database = database_settings(database_url) if database_url or os.environ.get("DATABASE_URL") \
        else None
    signer = load(SignerSettings).key if os.environ.get("SIGNER_PUBLIC_KEY") else None
    sources = Sources(chain=load(ChainSettings), prover=load(ProverSettings), zkapp=zkapp,
                      api=api, database=database, signer=signer)

    async def work() -> Any:
        return await check_photo(sources, sha256_hex=sha256, image=image)

    report = run(work)
    for check in report.checks:
        mark = {True: "[green]✔[/]", False: "[red]✘[/]", None: "[dim]–[/]"}[check.ok]
        out.print(f"{mark} {check.name}: {check.detail}", highlight=False, soft_wrap=True)
    out.print("VERIFIED" if report.verified else "NOT VERIFIED",
              style="bold green" if report.verified else "bold red")
    raise typer.Exit(0 if report.verified else 1)


@app.command()
@console.command("status")
def status(
    sha256: Annotated[str | None, typer.Argument(
        help="Show one submission's timeline instead of the whole pipeline.",
        show_default=False)] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh in place until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    fee_payer: Annotated[str | None, typer.Option(
        "--fee-payer", envvar="FEE_PAYER_ADDRESS", show_default=False,
        help="Also show this Mina address's balance (from MINA_NODE_ENDPOINT).")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show the pipeline now, or one submission's timeline.

    Per status: waiting / running / retrying and the oldest age; rows each stage finished in
    the last hour; the last failures; the live workers (lease owners). Given a SHA256: that
    submission's state and timeline.
    """
    from touchgrass.operator import parse_sha256
    from touchgrass.operator.status import show
    from touchgrass.settings import ChainSettings

    database = database_settings(database_url)
    sha256_hex = parse_sha256(sha256) if sha256 is not None else None
    chain = load(ChainSettings) if fee_payer else None

    async def work() -> None:
        await show(database, out, sha256_hex=sha256_hex, as_json=as_json,
                   watch_every_s=interval if watch else None, fee_payer=fee_payer, chain=chain)

    run(work)


@app.command()
@console.command("resubmit")
def resubmit(
    sha256: Annotated[str, typer.Argument(help="The submission's image SHA-256 (64 hex).")],
    force: Annotated[bool, typer.Option(
        "--force", help="Also re-queue a complete submission (it will be published again).")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Re-queue a rejected or stuck submission with a fresh attempt budget.

    It goes to publishing when its proof is stored, else to proof generation. A complete
    submission needs --force; one awaiting review is left to the admin.
    """
    from touchgrass.operator import parse_sha256
    from touchgrass.operator.resubmit import resubmit as requeue

    database, sha256_hex = database_settings(database_url), parse_sha256(sha256)

    async def work() -> Any:
        return await requeue(database, sha256_hex, force=force)

    out.print(f"resubmitted {run(work).describe()}", highlight=False, soft_wrap=True)


