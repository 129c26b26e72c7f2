"""Commands for the clients of a deployment: signer keys, uploads, challenges (through a
running API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from touchgrass.cli import console
from touchgrass.cli.app import app
from touchgrass.cli.console import err, fail, out, run

keys_app = typer.Typer(help="Signer keys for the camera clients (and `touchgrass upload`).",
                       no_args_is_help=True, rich_markup_mode="markdown")
challenge_app = typer.Typer(help="Challenges, through a running API.", no_args_is_help=True,
                            rich_markup_mode="markdown")
app.add_typer(keys_app, name="keys")
app.add_typer(challenge_app, name="challenge")

CurveOption = Annotated[str, typer.Option(
    "--curve", envvar="SIGNER_CURVE", help="secp256k1 or secp256r1 (P-256).")]
ApiUrl = Annotated[str, typer.Option(
    "--api", envvar="TOUCHGRASS_API", help="Base URL of the API.")]


def _curve(value: str) -> Any:
    if value not in ("secp256k1", "secp256r1"):
        fail(f"--curve must be secp256k1 or secp256r1, not {value!r}", 2)
    return value


@keys_app.command("new")
@console.command("keys")
def keys_new(
    curve: CurveOption = "secp256k1",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make a signer key pair: the public key for the API, the private key for clients."""
    from touchgrass.signatures import generate_private_key

    private, public = generate_private_key(_curve(curve))
    if as_json:
        out.print_json(json.dumps({"curve": curve, "privateKey": private,
                                   "publicKey": str(public)}))
        return
    out.print(f"# signer key pair ({curve}); keep the private key secret\n"
              f"SIGNER_CURVE={curve}\n"
              f"SIGNER_PUBLIC_KEY={public}\n"
              f"TOUCHGRASS_SIGNER_KEY={private}", highlight=False, soft_wrap=True)


@app.command()
@console.command("upload")
def upload(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                          help="The photo to submit.")],
    chain: Annotated[str, typer.Option("--chain", help="Chain id to add the photo to.")],
    wallet: Annotated[str, typer.Option("--wallet", help="Mina address of the photographer.")],
    tagline: Annotated[str | None, typer.Option(help="Optional caption.")] = None,
    api_url: ApiUrl = "http://localhost:3000",
    signer_key: Annotated[str | None, typer.Option(
        "--signer-key", envvar="TOUCHGRASS_SIGNER_KEY", show_default=False,
        help="Private signer key (64 hex); default: $TOUCHGRASS_SIGNER_KEY.")] = None,
    curve: CurveOption = "secp256k1",
    content_type: Annotated[str | None, typer.Option(
        help="Declared type; default: guessed from the file name.")] = None,
) -> None:
    """Sign a photo's SHA-256 and upload it, printing the new submission (run again after a
    lost answer, it prints the submission the first run made)."""
    from touchgrass.client.http_client import upload_image

    if not signer_key:
        fail("no signer key: pass --signer-key or set TOUCHGRASS_SIGNER_KEY "
              "(`touchgrass keys new` makes one)", 2)

    async def work() -> Any:
        return await upload_image(api_url, image, chain_id=chain, wallet=wallet,
                                  signer_key=signer_key, curve=_curve(curve), tagline=tagline,
                                  content_type=content_type)

    answer = run(work)
    if not answer.ok:
        fail(f"upload refused ({answer.status}): {answer.error_message}", 1)
    if answer.status == 200:
        err.print("this same upload was received before: its submission follows")
    out.print_json(json.dumps(answer.body))


@challenge_app.command("create")
@console.command("challenge")
def challenge_create(
    title: Annotated[str, typer.Option(help="Challenge title.")],
    description: Annotated[str, typer.Option(help="What to photograph.")],
    start: Annotated[datetime | None, typer.Option(
        help="Start (ISO 8601, UTC when no zone); default: now.", show_default=False)] = None,
    days: Annotated[float, typer.Option(min=0.001, help="Length in days when --end is not given.")] = 7,
    end: Annotated[datetime | None, typer.Option(help="End (ISO 8601).", show_default=False)] = None,
    api_url: ApiUrl = "http://localhost:3000",
    admin_password: Annotated[str | None, typer.Option(
        envvar="ADMIN_PASSWORD", show_default=False, help="Default: $ADMIN_PASSWORD.")] = None,
) -> None:
    """Create a challenge through the admin API; its zkApp is then deployed by `publish`."""
    from touchgrass.client.http_client import create_challenge

    if not admin_password:
        fail("no admin password: pass --admin-password or set ADMIN_PASSWORD", 2)
    begin = (start or datetime.now(UTC)).replace(microsecond=0)
    begin = begin if begin.tzinfo else begin.replace(tzinfo=UTC)
    finish = end or begin + timedelta(days=days)
    finish = finish if finish.tzinfo else finish.replace(tzinfo=UTC)

    async def work() -> Any:
        return await create_challenge(api_url, admin_password=admin_password, title=title,
                                      description=description, start=begin, end=finish)

    answer = run(work)
    if not answer.ok:
        fail(f"challenge refused ({answer.status}): {answer.error_message}", 1)
    out.print_json(json.dumps(answer.body))


