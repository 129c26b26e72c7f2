"""Submissions (`/api/submissions`): the upload path, reads, the image, admin review/delete."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from touchgrass import images, mina
from touchgrass.api import pages
from touchgrass.api.context import ApiContext, context, correlation_id
from touchgrass.api.http import json_body, path_uuid, respond_json
from touchgrass.api.upload import IMAGE_TYPES, UploadForm, read_upload
from touchgrass.errors import Conflict, InvalidInput, NeedsForce, NotFound, OperatorError
from touchgrass.images import image_key
from touchgrass.signatures import Signature
from touchgrass.statuses import IN_FLIGHT, PROCESSING, UPLOADABLE, SubmissionStatus
from touchgrass.store import chains, challenges, keyset, submissions

NOT_FOUND = "Submission not found"
IMAGE_CSP = "default-src 'none'; sandbox"
STATUSES = frozenset(SubmissionStatus)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
MAX_TAGLINE = 500


def _signature(fields: dict[str, str]) -> Signature:
    r, s = fields.get("signatureR", "").strip(), fields.get("signatureS", "").strip()
    if not r or not s:
        raise InvalidInput("Missing required signature components", "signature")
    r, s = r.removeprefix("0x"), s.removeprefix("0x")
    if not (_HEX.match(r) and _HEX.match(s)):
        raise InvalidInput("Invalid hex format in signature components", "signature")
    if len(r) != 64 or len(s) != 64:
        raise InvalidInput("Invalid signature component lengths", "signature")
    return Signature.from_hex(r, s)


async def _validate(ctx: ApiContext, form: UploadForm
                    ) -> tuple[Signature, dict[str, Any], dict[str, Any]]:
    """Checks 1-11 of the contract, in order, first failure wins; no side effects (check 12,
    the duplicate, needs the whole upload: `create_submission`)."""
    fields = form.fields
    if form.image is None:
        raise InvalidInput("No image file provided", "image")
    chain_raw = fields.get("chainId", "").strip()
    if not chain_raw:
        raise InvalidInput("chainId is required", "chainId")
    wallet = fields.get("walletAddress", "").strip()
    if not wallet:
        raise InvalidInput("walletAddress is required", "walletAddress")
    if not mina.is_valid_address(wallet):
        raise InvalidInput("Invalid wallet address format", "walletAddress")
    if not form.image:
        raise InvalidInput("Image buffer is empty", "image")
    signature = _signature(fields)
    tagline = fields.get("tagline", "").strip()
    if len(tagline) > MAX_TAGLINE:
        raise InvalidInput(f"tagline must be at most {MAX_TAGLINE} characters", "tagline")
    try:
        chain_id = uuid.UUID(chain_raw)
    except ValueError:
        raise NotFound("Chain not found") from None
    chain = await chains.get(ctx.pool, chain_id)
    challenge = await challenges.get(ctx.pool, chain["challenge_id"])
    now = datetime.now(UTC)
    if not challenge["start_time"] <= now < challenge["end_time"]:
        raise InvalidInput("Challenge is not currently active")
    # Sent is enough (the old server's rule; docs/http-api.md): the photo is proven meanwhile, and
    # the publisher waits for the zkApp without using an attempt. A deploy that is dropped is
    # sent again; one that fails for good leaves the photo to the publish expiry, with why.
    if challenge["deployment_status"] not in UPLOADABLE or not challenge["zkapp_address"]:
        raise InvalidInput("Challenge zkapp is not yet deployed. Please try again shortly.",
                           "challenge")
    assert form.sha256_hex is not None
    if not ctx.signer.verify(bytes.fromhex(form.sha256_hex), signature):
        raise InvalidInput("ECDSA signature does not match image hash", "signature")
    return signature, chain, challenge


async def create_submission(request: web.Request) -> web.Response:
    ctx = context(request)
    form = await read_upload(request, ctx.settings.upload_max_size)
    signature, chain, challenge = await _validate(ctx, form)
    assert form.image is not None and form.sha256_hex is not None
    new = submissions.NewSubmission(
        sha256_hex=form.sha256_hex,
        wallet_address=form.fields["walletAddress"].strip(),
        signature_json=signature.to_json(),
        challenge_id=challenge["id"],
        chain_id=chain["id"],
        storage_key=image_key(form.sha256_hex),
        tagline=form.fields.get("tagline", "").strip() or None,
        queued=ctx.settings.auto_approve,
        correlation_id=correlation_id(request),
        announce=ctx.settings.telegram_enabled,
    )
    # A retry of an upload that was committed but not answered gets its row back, with 200
    # rather than 201: nothing was created this time.
    earlier = await submissions.earlier_upload(ctx.pool, new)
    if earlier is None:
        try:
            row = await images.store_with_row(ctx.pool, ctx.storage, new, form.image,
                                              form.content_type or "application/octet-stream")
            return respond_json(_shown(request, row["json"]), status=201)
        except Conflict:  # the same bytes were committed meanwhile: maybe by this upload's twin
            if (earlier := await submissions.earlier_upload(ctx.pool, new)) is None:
                raise
    return respond_json(_shown(request, earlier), status=200)


def _list_filters(query: Mapping[str, str]) -> submissions.ListFilters | None:
    """The list's filters, or None when a value can match no row (an id that is not a UUID,
    an unknown status): the answer is then an empty list, as the old server gave. The old
    API's `processing` finds both in-flight statuses."""
    ids: dict[str, uuid.UUID] = {}
    for name in ("chainId", "challengeId"):
        if raw := query.get(name):
            try:
                ids[name] = uuid.UUID(raw)
            except ValueError:
                return None
    status = query.get("status") or None
    in_flight = status == PROCESSING
    if in_flight:
        status = None
    elif status is not None and status not in STATUSES:
        return None
    return submissions.ListFilters(wallet_address=query.get("walletAddress") or None,
                                   chain_id=ids.get("chainId"),
                                   challenge_id=ids.get("challengeId"), status=status,
                                   in_flight=in_flight)


# The in-flight statuses as they appear in a submission's JSON text (Postgres writes it;
# a free-text field is escaped by to_json, so its quotes are never bare and cannot match).
_IN_FLIGHT_TEXT = {f',"status":"{status}"': f',"status":"{PROCESSING}","pipelineStatus":"{status}"'
                   for status in IN_FLIGHT}


def _for_old_clients(text: str) -> str:
    """LEGACY_STATUS: an in-flight photo's status as the old API said it (`processing`), the
    precise one kept in `pipelineStatus`."""
    for precise, old in _IN_FLIGHT_TEXT.items():
        if precise in text:
            return text.replace(precise, old, 1)
    return text


def _shown(request: web.Request, text: str) -> str:
    return _for_old_clients(text) if context(request).settings.legacy_status else text


async def list_submissions(request: web.Request) -> web.StreamResponse:
    pool = context(request).pool
    legacy = context(request).settings.legacy_status
    filters = _list_filters(request.query)
    if filters is None:
        return await pages.respond_list(request, pages.nothing)

    async def fetch(after: keyset.Key | None, limit: int) -> list[tuple[keyset.Key, str]]:
        rows = await submissions.page(pool, filters, after=after, limit=limit)
        return [(key, _for_old_clients(text)) for key, text in rows] if legacy else rows

    async def page_end(after: keyset.Key | None, limit: int) -> keyset.Key | None:
        return await submissions.page_end(pool, filters, after=after, limit=limit)

    return await pages.respond_list(request, fetch, page_end)


async def get_submission(request: web.Request) -> web.Response:
    submission_id = path_uuid(request, "id", NOT_FOUND)
    row = await submissions.get(context(request).pool, submission_id)
    return respond_json(_shown(request, row["json"]))


async def get_image(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    row = await submissions.get(ctx.pool, path_uuid(request, "id", NOT_FOUND))
    key = row["storage_key"] or image_key(row["sha256_hash"])
    info = await ctx.storage.stat(key)
    if info is None:
        raise NotFound("Image not found")
    etag = f'"{row["sha256_hash"]}"'
    # An image is never a document: even a stored type that could carry script (an SVG
    # from before uploads were limited to raster types) cannot run or load anything.
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600",
               "Content-Security-Policy": IMAGE_CSP}
    wanted = {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}
    if wanted & {etag, row["sha256_hash"], "*"}:
        return web.Response(status=304, headers=headers)
    response = web.StreamResponse(headers={**headers, "Content-Length": str(info.size)})
    stored_type = (info.content_type or "image/jpeg").lower()
    response.content_type = stored_type if stored_type in IMAGE_TYPES else "application/octet-stream"
    await response.prepare(request)
    if request.method != "HEAD":  # HEAD: the headers only, the image is not read
        await _send_image(request, response, ctx.storage.stream(key),
                          ctx.settings.image_write_timeout_s)
    await response.write_eof()
    return response


async def _send_image(request: web.Request, response: web.StreamResponse,
                      chunks: AsyncIterator[bytes], write_timeout_s: float) -> None:
    """The image, chunk by chunk, each written within `write_timeout_s`: while a client
    reads, its response holds a storage connection, so a client too slow to take the next
    chunk in time is cut off (the connection closed, logged as a client that went away)."""
    try:
        async for chunk in chunks:
            async with asyncio.timeout(write_timeout_s):
                await response.write(chunk)
    except TimeoutError:
        if request.transport is not None:
            request.transport.close()
        raise ConnectionResetError("the client read the image too slowly") from None
    finally:
        close = getattr(chunks, "aclose", None)  # the storage connection, freed now
        if close is not None:
            await close()


async def review_submission(request: web.Request) -> web.Response:
    submission_id = path_uuid(request, "id", NOT_FOUND)
    body = await json_body(request)
    verified = body.get("challengeVerified")
    if not isinstance(verified, bool):
        raise InvalidInput("challengeVerified is required", "challengeVerified")
    reason = body.get("failureReason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput("failureReason must be a string", "failureReason")
    try:
        row = await submissions.review(context(request).pool, submission_id, approve=verified,
                                       reason=reason)
    except InvalidInput as refused:
        if not context(request).settings.legacy_status:
            raise
        # The old server named every in-flight status "processing", in refusals too.
        message = refused.message
        for status in IN_FLIGHT:
            message = message.replace(f": {status}", f": {PROCESSING}")
        raise InvalidInput(message, refused.field) from None
    return respond_json(_shown(request, row["json"]))


async def resubmit_submission(request: web.Request) -> web.Response:
    """`touchgrass resubmit` for the admin dashboard: a fresh attempt budget in the stage that
    can make progress (publishing when a proof or proven transaction is kept); `force` is
    needed, and publishes again, for a photo already complete."""
    pool = context(request).pool
    submission_id = path_uuid(request, "id", NOT_FOUND)
    force = (await json_body(request)).get("force", False)
    if not isinstance(force, bool):
        raise InvalidInput("force must be a boolean", "force")
    sha256_hex = (await submissions.get(pool, submission_id))["sha256_hash"]
    try:
        await submissions.resubmit(pool, sha256_hex, force=force)
    except NeedsForce:
        raise Conflict('Submission is complete (already published); resubmitting publishes it '
                       'again: send {"force": true} if that is what you want') from None
    except OperatorError:  # awaiting review: PATCH decides, not a retry
        raise InvalidInput("Submission is awaiting review; approve or reject it with PATCH "
                           "instead", "status") from None
    return respond_json(_shown(request, (await submissions.get(pool, submission_id))["json"]))


async def delete_submission(request: web.Request) -> web.Response:
    ctx = context(request)
    pending = await submissions.delete(ctx.pool, path_uuid(request, "id", NOT_FOUND))
    await images.release(ctx.pool, ctx.storage, pending)
    return web.Response(status=204)

