"""Operator commands: prove, verify-proof, verify, status, resubmit."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from touchgrass.cli import console
from touchgrass.cli.app import DatabaseUrl, app, database_settings
from touchgrass.cli.console import err, out, run
from touchgrass.settings import ProverSettings, load


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


TrustFile = Annotated[str | None, typer.Option(
    "--trust", envvar="TRUST_FILE", show_default=False,
    help="The operator's trust file, a path or an https:// URL (`touchgrass trust` writes "
    "one): its signer keys, its Mina address and optionally its zkApps. With --operator, it "
    "must be signed by that operator.")]
SignerOption = Annotated[str | None, typer.Option(
    "--signer", envvar="SIGNER_PUBLIC_KEY", show_default=False,
    help="A trusted signer key, x,y (64 hex each); its curve from SIGNER_CURVE.")]
OperatorOption = Annotated[str | None, typer.Option(
    "--operator", envvar="OPERATOR_PUBLIC_KEY", show_default=False,
    help="The trusted operator's Mina address (B62...), the admin of its zkApps.")]


def _trusted_signer(signer: str | None) -> Any:
    """--signer / SIGNER_PUBLIC_KEY as a key on SIGNER_CURVE (or the curve it is on)."""
    if signer is None:
        return None
    from touchgrass.settings import CurveSettings
    from touchgrass.signatures import SignerKey

    os.environ["SIGNER_PUBLIC_KEY"] = signer  # validated (and its curve told) by the settings
    return SignerKey.parse(signer, load(CurveSettings).curve)


@app.command("verify-proof")
@console.command("verify")
def verify_proof(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A proof from `touchgrass prove` (or a bare "
                                              "o1js proof JSON, as stored in proof_json).")],
    image: Annotated[Path | None, typer.Option(
        "--image", help="Check that the proof is about this photo's SHA-256 (else the "
        "file's sha256).", show_default=False)] = None,
    trust: TrustFile = None,
    signer: SignerOption = None,
) -> None:
    """Verify a proof of a photo's signature; exit 0 only when it holds for a trusted signer
    and a known photo, 1 otherwise (with the reason).

    The proof must be about a SHA-256 (--image, or the file's) and its signer must be a
    trusted key (--signer / SIGNER_PUBLIC_KEY, or --trust): a proof made with anyone's key
    proves nothing about a photo from a TouchGrass camera. Checked against the verification
    key this version of touchgrass stores (no compile: ~7 s here).
    """
    from touchgrass.errors import ConfigError
    from touchgrass.operator import proofs
    from touchgrass.operator.trust import TrustAnchors, read_trust

    document = proofs.read_proof_file(file, image)
    settings = load(ProverSettings)

    async def anchors(location: str) -> TrustAnchors:
        return await read_trust(location)

    trusted = run(functools.partial(anchors, trust)).signers if trust else \
        tuple(key for key in [_trusted_signer(signer)] if key is not None)
    if not trusted:
        raise ConfigError("say which signer you trust: --signer x,y (SIGNER_PUBLIC_KEY) or "
                          "--trust FILE")
    key = document.signer or trusted[0]
    if key not in trusted:
        out.print(f"INVALID: the proof's signer ({key.curve} {key}) is not a trusted key",
                  highlight=False)
        raise typer.Exit(1)

    async def work() -> Any:
        return await proofs.verify_proof_file(settings, document, key)

    verdict = run(work)
    if not verdict.valid:
        out.print(f"INVALID: {verdict.reason}", highlight=False)
        raise typer.Exit(1)
    if document.digest is None:
        out.print("VALIDITY ONLY: the proof verifies, but it names no photo: give --image "
                  "(or a proof file with its sha256) to tie it to one", highlight=False)
        raise typer.Exit(1)
    out.print(f"valid: the proof verifies for SHA-256 {document.digest.hex()}, signed by the "
              f"trusted {key.curve} key", highlight=False)


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
    trust: TrustFile = None,
    signer: SignerOption = None,
    operator: OperatorOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Check a photo against the chain: one verdict per check, exit 0 only when all hold.

    Whom you trust comes first: --trust FILE (the operator's trust file), or --signer and
    --operator. The record is read from MINA_NODE_ENDPOINT and ARCHIVE_NODE_ENDPOINT and
    checked there: the zkApp runs the contract this version builds (which verified the proof),
    the operator administers it with the contract's permissions, it recorded this digest
    through the contract's proof, the records from that one on hash to an action state the
    node holds, and the signer is trusted. Where to look comes from --zkapp, --api or
    DATABASE_URL (the first given); with DATABASE_URL the stored signature and proof are
    checked too. After `touchgrass dev`, a running dev instance's settings are used when these
    are unset.
    """
    from touchgrass.operator import parse_sha256
    from touchgrass.operator.receipts import ArchiveReading
    from touchgrass.operator.trust import resolve_anchors
    from touchgrass.operator.verify import Sources, check_photo
    from touchgrass.settings import ChainSettings, MonitorSettings, ProverSettings

    path = Path(target)
    image = path.read_bytes() if path.is_file() else None
    sha256 = hashlib.sha256(image).hexdigest() if image is not None else parse_sha256(target)
    database = database_settings(database_url) if database_url or os.environ.get("DATABASE_URL") \
        else None
    chain, prover = load(ChainSettings), load(ProverSettings)
    trusted_signer = _trusted_signer(signer)
    reading = ArchiveReading(window=load(MonitorSettings).archive_block_range)

    async def work() -> Any:
        fee_payer = chain.fee_payer_private_key
        anchors = await resolve_anchors(
            trust=trust, operator=operator, signer=trusted_signer, prover=prover,
            fee_payer_key=fee_payer.get_secret_value() if fee_payer else None)
        sources = Sources(chain=chain, prover=prover, anchors=anchors, zkapp=zkapp, api=api,
                          database=database, reading=reading)
        return await check_photo(sources, sha256_hex=sha256, image=image)

    report = run(work)
    for check in report.checks:
        mark = {True: "[green]✔[/]", False: "[red]✘[/]", None: "[dim]–[/]"}[check.ok]
        out.print(f"{mark} {check.name}: {check.detail}", highlight=False, soft_wrap=True)
    if report.verified:
        out.print(f"VERIFIED{' (PENDING: its block is not final yet)' if report.pending else ''}"
                  f": {report.summary}", style="bold green", highlight=False, soft_wrap=True)
    else:
        out.print("NOT VERIFIED", style="bold red")
    raise typer.Exit(0 if report.verified else 1)


@app.command("trust")
@console.command("trust")
def trust_file(
    zkapps: Annotated[list[str] | None, typer.Option(
        "--zkapp", show_default=False,
        help="A zkApp of yours to list (repeat it); listed, only these count.")] = None,
    from_database: Annotated[bool, typer.Option(
        "--from-database", help="List every zkApp that holds or takes your receipts "
        "(DATABASE_URL): each challenge's, and the earlier ones of redeployed challenges.")] =
        False,
    signed: Annotated[bool, typer.Option(
        "--sign", help="Sign it with FEE_PAYER_PRIVATE_KEY (the operator's key), so a "
        "verifier that pinned only your address can fetch it from anywhere.")] = False,
    operator: OperatorOption = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print your trust file: what verifiers should pin to check your photos.

    It names your signer key (SIGNER_PUBLIC_KEY), your operator address (OPERATOR_PUBLIC_KEY,
    or the one FEE_PAYER_PRIVATE_KEY derives) and, with --zkapp or --from-database, your
    zkApps. Publish it where your users get your app (your site, over HTTPS); they run
    `touchgrass verify PHOTO --trust URL` (adding `--operator ADDRESS` when they pinned your
    address, which needs --sign). List your zkApps, and publish the list again after each new
    challenge: a listed file is what shuts out look-alike zkApps (docs/receipts.md).
    """
    import json

    from touchgrass.errors import ConfigError
    from touchgrass.operator.trust import TrustAnchors, resolve_anchors, sign
    from touchgrass.settings import ChainSettings, SignerSettings

    chain, prover, signer = load(ChainSettings), load(ProverSettings), load(SignerSettings).key
    database = database_settings(database_url) if from_database else None

    async def work() -> TrustAnchors:
        fee_payer = chain.fee_payer_private_key
        key = fee_payer.get_secret_value() if fee_payer else None
        anchors = await resolve_anchors(trust=None, operator=operator, signer=signer,
                                        prover=prover, fee_payer_key=key)
        listed = set(zkapps or ())
        if database is not None:
            from touchgrass import db
            from touchgrass.store import challenges

            pool = await db.create_pool(database.asyncpg_dsn, size=1,
                                        application_name="touchgrass-trust")
            try:
                listed |= set(await challenges.zkapp_addresses(pool))
            finally:
                await pool.close()
        anchors = TrustAnchors(anchors.signers, anchors.operator,
                               frozenset(listed) if zkapps or database else None)
        if not signed:
            return anchors
        if key is None:
            raise ConfigError("--sign needs FEE_PAYER_PRIVATE_KEY, the operator's key")
        return await sign(anchors, key, prover)

    out.print_json(json.dumps(run(work).as_json()))


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


