"""Public receipts (`/api/receipts/:sha256`, `/api/submissions/:id/receipt`), no auth.

Where a photo's record is on chain and what it holds, for anyone to check with a Mina node
and an archive (`touchgrass verify`, docs/receipts.md). A pointer: a verifier checks all of
it against the chain and trusts none of it.
"""

from __future__ import annotations

import re

from aiohttp import web

from touchgrass.api.context import context
from touchgrass.api.http import path_uuid, respond
from touchgrass.api.representations import receipt
from touchgrass.errors import InvalidInput, NotFound
from touchgrass.store import receipts

NOT_FOUND = "Submission not found"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


async def receipt_by_sha256(request: web.Request) -> web.Response:
    sha256_hex = request.match_info["sha256"]
    if not _SHA256.match(sha256_hex):
        raise InvalidInput("sha256 must be 64 hex characters", "sha256")
    return await _answer(request, await receipts.receipt(context(request).pool,
                                                             sha256_hex=sha256_hex))


async def receipt_by_submission(request: web.Request) -> web.Response:
    submission_id = path_uuid(request, "id", NOT_FOUND)
    return await _answer(request, await receipts.receipt(context(request).pool,
                                                             submission_id=submission_id))


async def _answer(request: web.Request, row: receipts.ReceiptRow) -> web.Response:
    if not row.published:
        raise NotFound(f"No receipt yet: the photo is {row.status} (a receipt exists once it "
                       "is published)")
    return respond(receipt(row, context(request).signer))
