"""Every route of the API in one table, which both registers the routes and generates the
OpenAPI document, so the two cannot drift apart."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from touchgrass import __version__
from touchgrass.api import pages
from touchgrass.api.context import context
from touchgrass.api.handlers import chains, challenges, likes, meta, receipts, submissions, users
from touchgrass.api.handlers.challenges import MAX_TITLE
from touchgrass.api.handlers.submissions import MAX_TAGLINE
from touchgrass.api.http import require_admin
from touchgrass.api.upload import IMAGE_TYPES
from touchgrass.statuses import (
    PROCESSING,
    ChainStatus,
    DeploymentStatus,
    ReceiptKind,
    SubmissionStatus,
)

__all__ = ["ROUTES", "Route", "add_routes", "openapi_document"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    responses: dict[int, str]  # status -> schema name ("" for no body)
    admin: bool = False
    body: str | None = None  # schema name, or "multipart" for the upload
    query: tuple[str, ...] = ()
    paged: bool = False  # a list: `?limit=&after=`, the next page in a Link header


E = "Error"
ROUTES: list[Route] = [
    Route("GET", "/health", meta.health, "Liveness and dependencies (database, storage)", "meta",
          {200: "Health", 503: "Health"}),
    Route("GET", "/api/version", meta.version, "API version", "meta", {200: "Version"}),
    Route("GET", "/metrics", meta.metrics_text, "Prometheus metrics (text exposition format)",
          "meta", {200: ""}),
    Route("GET", "/api/openapi.json", meta.openapi_json, "This document", "meta", {200: ""}),
    Route("GET", "/api-docs", meta.api_docs, "Readable API documentation", "meta", {200: ""}),
    # users
    Route("GET", "/api/users/{walletAddress}", users.get_user, "Get a user", "users",
          {200: "User", 404: E}),
    Route("POST", "/api/users", users.create_user, "Find or create a user (201 new, 200 existing)",
          "users", {200: "User", 201: "User", 400: E}, body="WalletBody"),
    Route("DELETE", "/api/users/{walletAddress}", users.delete_user,
          "Delete a user, their submissions and likes", "users", {204: "", 401: E, 404: E},
          admin=True),
    # challenges (/active before /{id})
    Route("GET", "/api/challenges/active", challenges.list_active,
          "Challenges open now, newest start first", "challenges", {200: "Challenge[]", 400: E},
          paged=True),
    Route("GET", "/api/challenges/{id}", challenges.get_challenge, "Get a challenge",
          "challenges", {200: "Challenge", 404: E}),
    Route("GET", "/api/challenges", challenges.list_challenges,
          "All challenges, newest start first", "challenges", {200: "Challenge[]", 400: E},
          paged=True),
    Route("POST", "/api/challenges", challenges.create_challenge,
          "Create a challenge and its Default chain; its zkApp is deployed by `publish`",
          "challenges", {201: "Challenge", 400: E, 401: E}, admin=True, body="ChallengeBody"),
    Route("DELETE", "/api/challenges/{id}", challenges.delete_challenge,
          "Delete a challenge with its chains, submissions and likes", "challenges",
          {204: "", 401: E, 404: E}, admin=True),
    # chains
    Route("GET", "/api/chains", chains.list_chains, "Chains, oldest first", "chains",
          {200: "Chain[]", 400: E}, query=("challengeId",), paged=True),
    Route("GET", "/api/chains/{id}", chains.get_chain, "Get a chain", "chains",
          {200: "Chain", 404: E}),
    # submissions
    Route("POST", "/api/submissions", submissions.create_submission,
          "Upload a signed photo; queues its proof", "submissions",
          {200: "Submission", 201: "Submission", 400: E, 404: E, 409: E, 413: E, 415: E},
          body="multipart"),
    Route("GET", "/api/submissions", submissions.list_submissions,
          "Submissions, newest first, exact-match filters", "submissions",
          {200: "Submission[]", 400: E}, query=("walletAddress", "chainId", "challengeId", "status"),
          paged=True),
    Route("GET", "/api/submissions/{id}", submissions.get_submission, "Get a submission",
          "submissions", {200: "Submission", 404: E}),
    Route("GET", "/api/submissions/{id}/image", submissions.get_image,
          "The stored image (ETag = sha256; If-None-Match answers 304)", "submissions",
          {200: "", 304: "", 404: E}),
    Route("GET", "/api/submissions/{id}/receipt", receipts.receipt_by_submission,
          "The photo's public receipt: where its record is on chain (no auth); 404 before "
          "it is published", "receipts", {200: "Receipt", 404: E}),
    Route("GET", "/api/receipts/{sha256}", receipts.receipt_by_sha256,
          "The public receipt of the photo with this SHA-256 (no auth); check it with "
          "`touchgrass verify`", "receipts", {200: "Receipt", 404: E}),
    Route("PATCH", "/api/submissions/{id}", submissions.review_submission,
          "Review a submission awaiting review (approve queues its proof)", "submissions",
          {200: "Submission", 400: E, 401: E, 404: E}, admin=True, body="ReviewBody"),
    Route("POST", "/api/submissions/{id}/resubmit", submissions.resubmit_submission,
          "Retry a submission as `touchgrass resubmit` does: a fresh attempt budget in the "
          "stage that can make progress; `force` publishes a complete one again",
          "submissions", {200: "Submission", 400: E, 401: E, 404: E, 409: E}, admin=True,
          body="ResubmitBody"),
    Route("DELETE", "/api/submissions/{id}", submissions.delete_submission,
          "Delete a submission, its likes and image; stops its pipeline work", "submissions",
          {204: "", 401: E, 404: E}, admin=True),
    # likes
    Route("POST", "/api/submissions/{id}/likes", likes.create_like, "Like a submission",
          "likes", {201: "Like", 400: E, 404: E, 409: E}, body="WalletBody"),
    Route("GET", "/api/submissions/{id}/likes/count", likes.like_count, "Count likes", "likes",
          {200: "LikeCount", 404: E}),
    Route("GET", "/api/submissions/{id}/likes", likes.list_likes, "Likes, newest first",
          "likes", {200: "Like[]", 400: E, 404: E}, paged=True),
    Route("DELETE", "/api/submissions/{id}/likes/{walletAddress}", likes.delete_like,
          "Remove a like", "likes", {200: "Success", 404: E}),
]


def _admin_only(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        require_admin(request, context(request).settings.admin_password.get_secret_value())
        return await handler(request)

    return guarded


def add_routes(app: web.Application) -> None:
    """Every route, and HEAD beside every GET (link-preview crawlers and caches probe with
    it; the old server answered it): the same handler, aiohttp sends no body."""
    for route in ROUTES:
        handler = _admin_only(route.handler) if route.admin else route.handler
        app.router.add_route(route.method, route.path, handler)
        if route.method == "GET":
            app.router.add_route("HEAD", route.path, handler)


# ---------------------------------------------------------------- OpenAPI

_DATE = {"type": "string", "format": "date-time", "example": "2025-01-01T00:00:00.000Z"}
_UUID = {"type": "string", "format": "uuid"}
_WALLET = {"type": "string", "description": "Mina public key, B62q... (55 characters)",
           "pattern": "^B62[1-9A-HJ-NP-Za-km-z]{52}$", "minLength": 55, "maxLength": 55}
_HEX64 = {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$"}
_STATUSES = [str(status) for status in SubmissionStatus]
# What each path and query parameter is; anything else is a plain string.
_PARAMETERS: dict[str, dict[str, Any]] = {
    "id": _UUID, "walletAddress": _WALLET, "chainId": _UUID, "challengeId": _UUID,
    "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
    "status": {"type": "string", "enum": [*_STATUSES, PROCESSING],
               "description": f"`{PROCESSING}` (the old API's word) finds both in-flight "
                              "statuses, proof_generation and proof_publishing"},
}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    # OpenAPI 3.0 (JSON Schema draft 4) wants `required` non-empty when present
    return {"type": "object", "properties": properties, **({"required": required} if required
                                                           else {})}


_SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": _object({"message": {"type": "string"},
                                        "field": {"type": "string"},
                                        "code": {"type": "string"}}, ["message"])}, ["error"]),
    "User": _object({"walletAddress": _WALLET, "createdAt": _DATE, "updatedAt": _DATE},
                    ["walletAddress", "createdAt", "updatedAt"]),
    "Challenge": _object({
        "id": _UUID, "title": {"type": "string", "maxLength": MAX_TITLE},
        "description": {"type": "string"},
        "startTime": _DATE, "endTime": _DATE, "participantCount": {"type": "integer"},
        "chainCount": {"type": "integer"}, "zkAppAddress": _WALLET,
        "deploymentStatus": {"type": "string", "enum": [str(s) for s in DeploymentStatus]},
        "transactionId": {"type": "string"}, "failureReason": {"type": "string"},
        "createdAt": _DATE, "updatedAt": _DATE,
    }, ["id", "title", "description", "startTime", "endTime", "participantCount", "chainCount",
        "deploymentStatus", "createdAt", "updatedAt"]),
    "Chain": _object({"id": _UUID, "name": {"type": "string"}, "challengeId": _UUID,
                      "length": {"type": "integer"}, "createdAt": _DATE,
                      "lastActivityAt": _DATE, "updatedAt": _DATE},
                     ["id", "name", "challengeId", "length", "createdAt", "lastActivityAt",
                      "updatedAt"]),
    "Submission": _object({
        "id": _UUID, "sha256Hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "walletAddress": _WALLET,
        "signature": {"type": "string", "description": 'JSON string {"r":"<64 hex>","s":"<64 hex>"}'},
        "challengeId": _UUID, "chainId": _UUID, "storageKey": {"type": "string"},
        "tagline": {"type": "string", "maxLength": MAX_TAGLINE},
        "chainPosition": {"type": "integer"}, "likeCount": {"type": "integer"},
        "status": {"type": "string", "enum": [*_STATUSES, PROCESSING],
                   "description": f"`{PROCESSING}` only with LEGACY_STATUS=true, for an "
                                  "in-flight photo (then see pipelineStatus)"},
        "pipelineStatus": {"type": "string", "enum": _STATUSES,
                           "description": "With LEGACY_STATUS=true: the precise status of an "
                                          "in-flight photo"},
        "transactionId": {"type": "string"},
        "transactionSubmittedBlockHeight": {"type": "integer"},
        "failureReason": {"type": "string"}, "retryCount": {"type": "integer"},
        "challengeVerified": {"type": "boolean"}, "tokenOwnerAddress": _WALLET,
        "chainStatus": {"type": "string", "enum": [str(status) for status in ChainStatus]},
        "createdAt": _DATE, "updatedAt": _DATE,
    }, ["id", "sha256Hash", "walletAddress", "signature", "challengeId", "chainId",
        "storageKey", "chainPosition", "likeCount", "status", "retryCount", "challengeVerified",
        "createdAt", "updatedAt"]),
    "Receipt": _object({
        "submissionId": _UUID, "sha256Hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "kind": {"type": "string", "enum": [str(kind) for kind in ReceiptKind],
                 "description": "`action`: an action of the zkApp (archive nodes index it); "
                                "`token_account`: a token account's app state (before actions)"},
        "zkAppAddress": _WALLET,
        "transactionHash": {"type": "string"}, "blockHeight": {"type": "integer"},
        "batch": _object({"position": {"type": "integer", "minimum": 1},
                          "size": {"type": "integer", "minimum": 1}}, ["position", "size"])
        | {"description": "Photos share one command (transactionHash): this photo's place "
                          "among its photos, and how many it carries"},
        "chainStatus": {"type": "string", "enum": [str(status) for status in ChainStatus]},
        "publishedAt": _DATE, "chainId": _UUID,
        "signer": _object({"curve": {"type": "string", "enum": ["secp256k1", "secp256r1"]},
                           "x": _HEX64, "y": _HEX64}, ["curve", "x", "y"]),
        "record": {"type": "array", "minItems": 7, "maxItems": 7,
                   "items": {"type": "string", "pattern": "^[0-9]+$"},
                   "description": "The seven fields recorded: chain id, digest high/low 128 "
                                  "bits, signer x high/low, y high/low (decimal)"},
        "verificationKeyHashes": {"type": "array", "items": {"type": "string"},
                                  "description": "The zkApp verification key hashes of our "
                                                 "contract builds for this curve and kind"},
        "tokenOwnerAddress": _WALLET, "tokenId": {"type": "string"},
        "verify": {"type": "string", "description": "The command that checks it"},
    }, ["submissionId", "sha256Hash", "kind", "zkAppAddress", "chainId", "signer", "record",
        "verificationKeyHashes", "verify"]),
    "Like": _object({"id": _UUID, "submissionId": _UUID, "walletAddress": _WALLET,
                     "createdAt": _DATE, "updatedAt": _DATE},
                    ["id", "submissionId", "walletAddress", "createdAt", "updatedAt"]),
    "LikeCount": _object({"submissionId": _UUID, "count": {"type": "integer"}},
                         ["submissionId", "count"]),
    "Success": _object({"success": {"type": "boolean"}}, ["success"]),
    "Health": _object({"status": {"type": "string", "enum": ["healthy", "unhealthy"]},
                       "timestamp": _DATE, "uptime": {"type": "number"},
                       "environment": {"type": "string"},
                       "checks": {"type": "object", "additionalProperties": {"type": "string"}}},
                      ["status"]),
    "Version": _object({"version": {"type": "string"}, "api": {"type": "string"},
                        "zkApp": {"type": "string"}}, ["version", "api", "zkApp"]),
    "WalletBody": _object({"walletAddress": _WALLET}, ["walletAddress"]),
    "ChallengeBody": _object({"title": {"type": "string", "minLength": 1,
                                        "maxLength": MAX_TITLE},
                              "description": {"type": "string", "minLength": 1},
                              "startTime": _DATE, "endTime": _DATE},
                             ["title", "description", "startTime", "endTime"]),
    "ResubmitBody": _object({"force": {"type": "boolean", "default": False}}, []),
    "ReviewBody": _object({"challengeVerified": {"type": "boolean"},
                           "failureReason": {"type": "string"}}, ["challengeVerified"]),
    "Upload": _object({
        "image": {"type": "string", "format": "binary",
                  "description": f"A raster image ({', '.join(sorted(IMAGE_TYPES))}), at most "
                                 "UPLOAD_MAX_SIZE bytes (default 10 MiB)"},
        "chainId": _UUID, "walletAddress": _WALLET,
        "signatureR": _HEX64, "signatureS": _HEX64,
        "tagline": {"type": "string", "maxLength": MAX_TAGLINE},
    }, ["image", "chainId", "walletAddress", "signatureR", "signatureS"]),
}

_REASONS = {200: "OK", 201: "Created", 204: "No content", 304: "Not modified",
            400: "Invalid input", 401: "Admin authentication required", 404: "Not found",
            408: "The request body stopped arriving", 409: "Already exists", 413: "Too large",
            415: "Not an image",
            503: "The database or the image storage is down (Retry-After says when to retry)"}
# Any request can be malformed (text no field may hold, a broken body); any answer that needs
# the database can find it down.
_ALWAYS = {400: E}
_NEEDS_DATABASE = {503: E}
_HAS_BODY = {408: E, 413: E}
_STATIC = {"/api/version", "/api/openapi.json", "/api-docs"}


def _schema_ref(name: str) -> dict[str, Any]:
    if name.endswith("[]"):
        return {"type": "array", "items": _schema_ref(name[:-2])}
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": route.handler.__name__,
        "responses": {
            str(status): _response(status, schema, route)
            for status, schema in sorted(_responses(route).items())
        },
    }
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": _PARAMETERS.get(name, {"type": "string"})}
                  for name in _path_parameters(route.path)]
    parameters += [{"name": name, "in": "query", "required": False,
                    "schema": _PARAMETERS.get(name, {"type": "string"})} for name in route.query]
    if route.paged:
        parameters += _PAGE_PARAMETERS
        operation["responses"]["200"]["headers"] = {"Link": {
            "description": 'The next page, `<?...&after=CURSOR>; rel="next"` (relative to this '
                           "URL); only with `limit`, and only when there is a next page",
            "schema": {"type": "string"}}}
    if parameters:
        operation["parameters"] = parameters
    if route.body == "multipart":
        operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {
            "schema": _schema_ref("Upload"),
            "encoding": {"image": {"contentType": ", ".join(sorted(IMAGE_TYPES))}}}}}
    elif route.body:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _schema_ref(route.body)}}}
    if route.admin:
        operation["security"] = [{"adminBasic": []}]
    return operation


_PAGE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "limit", "in": "query", "required": False,
     "description": "A page of at most this many items; without it, the whole list (streamed)",
     "schema": {"type": "integer", "minimum": 1, "maximum": pages.MAX_LIMIT}},
    {"name": "after", "in": "query", "required": False,
     "description": "The cursor of the next page, from the Link header of the previous one",
     "schema": {"type": "string", "pattern": pages.CURSOR_PATTERN}},
]


def _responses(route: Route) -> dict[int, str]:
    responses = {**_ALWAYS, **route.responses}
    if route.path not in _STATIC:
        responses = {**_NEEDS_DATABASE, **responses}
    if route.body:
        responses = {**_HAS_BODY, **responses}
    return responses


def _response(status: int, schema: str, route: Route) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _REASONS.get(status, "")}
    if schema:
        response["content"] = {"application/json": {"schema": _schema_ref(schema)}}
    if status == 503 and route.path != "/health":
        response["headers"] = {"Retry-After": {"description": "Seconds to wait",
                                               "schema": {"type": "string"}}}
    return response


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.0.3",
        "info": {"title": "TouchGrass API", "version": __version__,
                 "description": "Photos signed by the TouchGrass camera client, proven with "
                                "o1js and recorded on Mina."},
        "paths": paths,
        "components": {"schemas": _SCHEMAS,
                       "securitySchemes": {"adminBasic": {"type": "http", "scheme": "basic"}}},
    }
