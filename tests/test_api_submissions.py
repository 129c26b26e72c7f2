"""POST /api/submissions: every status code and message of the contract, each refusal leaving
nothing behind; then the success path, concurrency, reads, the image, review and delete."""

from __future__ import annotations

import asyncio
import hashlib
import json

import asyncpg
import pytest

from tests.support.api import ADMIN, OTHER_WALLET, WALLET, Api, high_s, image_bytes
from touchgrass import mina
from touchgrass.signatures import Signature, sign

pytestmark = pytest.mark.anyio


async def refused(api: Api, response, status: int, message: str, field: str | None) -> None:
    """The answer is exactly the contract's, and nothing was written anywhere."""
    body = await response.json()
    assert response.status == status, body
    expected = {"message": message, **({"field": field} if field else {})}
    assert body == {"error": expected}


@pytest.fixture
async def api(make_api) -> Api:
    api = await make_api()
    await api.remember()
    return api


# ---------------------------------------------------------------- checks 1-12, in order

async def test_no_file(api: Api) -> None:
    await refused(api, await api.upload(omit=("image",)), 400, "No image file provided", "image")
    await api.assert_untouched()


async def test_not_multipart_at_all(api: Api) -> None:
    response = await api.client.post("/api/submissions", json={"chainId": api.chain_id})
    await refused(api, response, 400, "No image file provided", "image")
    await api.assert_untouched()


async def test_no_chain_id(api: Api) -> None:
    await refused(api, await api.upload(omit=("chainId",)), 400, "chainId is required", "chainId")
    await api.assert_untouched()


async def test_no_wallet(api: Api) -> None:
    await refused(api, await api.upload(omit=("walletAddress",)), 400,
                  "walletAddress is required", "walletAddress")
    await api.assert_untouched()


@pytest.mark.parametrize("wallet", ["B62qnotanaddress", WALLET[:-1] + "x", "0x1234"])
async def test_invalid_wallet(api: Api, wallet: str) -> None:
    await refused(api, await api.upload(wallet=wallet), 400, "Invalid wallet address format",
                  "walletAddress")
    await api.assert_untouched()


async def test_empty_file(api: Api) -> None:
    await refused(api, await api.upload(b""), 400, "Image buffer is empty", "image")
    await api.assert_untouched()


@pytest.mark.parametrize("omit", ["signatureR", "signatureS"])
async def test_missing_signature_component(api: Api, omit: str) -> None:
    await refused(api, await api.upload(omit=(omit,)), 400,
                  "Missing required signature components", "signature")
    await api.assert_untouched()


async def test_signature_not_hex(api: Api) -> None:
    await refused(api, await api.upload(override={"signatureR": "zz" * 32}), 400,
                  "Invalid hex format in signature components", "signature")
    await api.assert_untouched()


@pytest.mark.parametrize("value", ["ab" * 31, "ab" * 33])
async def test_signature_wrong_length(api: Api, value: str) -> None:
    await refused(api, await api.upload(override={"signatureS": value}), 400,
                  "Invalid signature component lengths", "signature")
    await api.assert_untouched()


@pytest.mark.parametrize("chain_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
async def test_unknown_chain(api: Api, chain_id: str) -> None:
    await refused(api, await api.upload(chain_id=chain_id), 404, "Chain not found", None)
    await api.assert_untouched()


@pytest.mark.parametrize("starts, ends", [("+1 hour", "+1 day"), ("-2 days", "-1 day")])
async def test_challenge_not_active(api: Api, starts: str, ends: str) -> None:
    _, chain_id = await api.make_challenge(starts=starts, ends=ends)
    await api.remember()
    await refused(api, await api.upload(chain_id=chain_id), 400,
                  "Challenge is not currently active", None)
    await api.assert_untouched()


async def test_challenge_zkapp_not_deployed(api: Api) -> None:
    _, chain_id = await api.make_challenge(deployed=False)
    await api.remember()
    await refused(api, await api.upload(chain_id=chain_id), 400,
                  "Challenge zkapp is not yet deployed. Please try again shortly.", "challenge")
    await api.assert_untouched()


async def test_signature_of_another_image(api: Api) -> None:
    other = sign(api.private_key, hashlib.sha256(b"another image").digest(), "secp256k1")
    await refused(api, await api.upload(signature=other), 400,
                  "ECDSA signature does not match image hash", "signature")
    await api.assert_untouched()


@pytest.mark.parametrize("signature", [Signature(0, 0), Signature(0, 1), Signature(1, 0)])
async def test_zero_signature_components(api: Api, signature: Signature) -> None:
    await refused(api, await api.upload(signature=signature), 400,
                  "ECDSA signature does not match image hash", "signature")
    await api.assert_untouched()


async def test_duplicate_leaves_the_original_untouched(api: Api) -> None:
    image = image_bytes()
    first = await api.upload(image)
    assert first.status == 201
    original = await api.pool.fetchrow("SELECT * FROM submissions")
    stored = await api.storage.get(f"images/{hashlib.sha256(image).hexdigest()}")
    await api.remember()
    await refused(api, await api.upload(image, wallet=OTHER_WALLET), 409,
                  "Image already submitted", None)
    await api.assert_untouched()
    assert await api.pool.fetchrow("SELECT * FROM submissions") == original
    assert await api.storage.get(f"images/{hashlib.sha256(image).hexdigest()}") == stored


async def test_too_large(make_api) -> None:
    api = await make_api(upload_max_size=1024)
    before = await api.snapshot()
    response = await api.upload(image_bytes(1025))
    assert response.status == 413
    assert await response.json() == {"error": {"message": "Image too large", "field": "image"}}
    assert await api.snapshot() == before
    assert (await api.upload(image_bytes(1024))).status == 201  # the cap itself is allowed


async def test_not_an_image(api: Api) -> None:
    await refused(api, await api.upload(content_type="application/pdf"), 415,
                  "Only image files are allowed", "image")
    await api.assert_untouched()


async def test_file_under_another_field_name(api: Api) -> None:
    response = await api.upload(image_field="photo")
    assert response.status == 400
    assert (await response.json())["error"]["message"] == "Unexpected field"
    await api.assert_untouched()


# ---------------------------------------------------------------- success


async def test_upload_queues_the_proof(api: Api) -> None:
    image = image_bytes()
    sha = hashlib.sha256(image).hexdigest()
    response = await api.client.post(
        "/api/submissions", data=api.signed_form(image, override={"tagline": "  grass!  "}),
        headers={"X-Correlation-Id": "corr-test-1"})
    body = await response.json()
    assert response.status == 201, body
    assert response.headers["X-Correlation-Id"] == "corr-test-1"
    assert body["sha256Hash"] == sha and body["status"] == "proof_generation"
    assert body["retryCount"] == 0 and body["challengeVerified"] is True
    assert body["likeCount"] == 0 and body["chainPosition"] == 1
    assert body["storageKey"] == f"images/{sha}" and body["tagline"] == "grass!"
    assert body["walletAddress"] == WALLET and body["chainId"] == api.chain_id
    assert json.loads(body["signature"]).keys() == {"r", "s"}
    assert "transactionId" not in body and "failureReason" not in body  # omitted, not null
    assert body["createdAt"].endswith("Z") and len(body["createdAt"]) == 24
    row = await api.pool.fetchrow("SELECT correlation_id, queued_at, run_at <= now() AS ready "
                                  "FROM submissions")
    assert row["correlation_id"] == "corr-test-1" and row["queued_at"] and row["ready"]
    assert await api.storage.get(f"images/{sha}") == image
    assert (await api.storage.stat(f"images/{sha}")).content_type == "image/png"
    counts = await api.pool.fetchrow(
        "SELECT (SELECT participant_count FROM challenges WHERE id = $1::text::uuid) AS participants,"
        "       (SELECT length FROM chains WHERE id = $2::text::uuid) AS length,"
        "       (SELECT count(*) FROM users) AS users", api.challenge_id, api.chain_id)
    assert dict(counts) == {"participants": 1, "length": 1, "users": 1}


async def test_upload_notifies_the_generate_role(api: Api, database_url: str) -> None:
    got: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener("touchgrass_generate", lambda *a: got.put_nowait(a[2]))
    try:
        assert (await api.upload()).status == 201
        assert await asyncio.wait_for(got.get(), 5) == "touchgrass_generate"
    finally:
        await listener.close()


async def test_high_s_signatures_are_accepted(api: Api) -> None:
    image = image_bytes()
    signature = high_s(sign(api.private_key, hashlib.sha256(image).digest(), "secp256k1"),
                       "secp256k1")
    assert (await api.upload(image, signature=signature)).status == 201


@pytest.mark.parametrize("curve", ["secp256r1"])
async def test_p256_signatures_with_signer_curve_secp256r1(make_api, curve: str) -> None:
    api = await make_api(curve=curve)
    image = image_bytes()
    low = sign(api.private_key, hashlib.sha256(image).digest(), curve)
    assert (await api.upload(image, signature=low)).status == 201
    image2 = image_bytes()
    high = high_s(sign(api.private_key, hashlib.sha256(image2).digest(), curve), curve)
    assert (await api.upload(image2, signature=high)).status == 201


async def test_auto_approve_off_waits_for_review(make_api) -> None:
    api = await make_api(auto_approve=False)
    body = await (await api.upload()).json()
    assert body["status"] == "awaiting_review" and body["challengeVerified"] is False


async def test_twenty_concurrent_uploads_get_positions_one_to_twenty(api: Api) -> None:
    responses = await asyncio.gather(*(api.upload() for _ in range(20)))
    bodies = [await r.json() for r in responses]
    assert [r.status for r in responses] == [201] * 20, bodies
    assert sorted(b["chainPosition"] for b in bodies) == list(range(1, 21))
    assert await api.pool.fetchval("SELECT length FROM chains WHERE id = $1::text::uuid",
                                   api.chain_id) == 20


async def test_the_same_image_twice_at_once_stores_one_row(api: Api) -> None:
    image = image_bytes()
    responses = await asyncio.gather(api.upload(image), api.upload(image, wallet=OTHER_WALLET))
    assert sorted(r.status for r in responses) == [201, 409]
    assert await api.pool.fetchval("SELECT count(*) FROM submissions") == 1
    assert await api.storage.exists(f"images/{hashlib.sha256(image).hexdigest()}")


async def test_the_same_upload_twice_at_once_answers_both_with_one_row(api: Api) -> None:
    image = image_bytes()
    responses = await asyncio.gather(api.upload(image), api.upload(image))
    assert sorted(r.status for r in responses) == [200, 201]
    assert len({(await r.json())["id"] for r in responses}) == 1
    assert await api.pool.fetchval("SELECT count(*) FROM submissions") == 1


async def test_a_retried_upload_gets_its_row_back_and_writes_nothing(api: Api) -> None:
    """An upload can commit and still be answered 503 (the database hung after the commit):
    the client's retry, the same form again, gets the row it made, not a 409."""
    image = image_bytes()
    first = await api.upload(image, override={"tagline": "hi"})
    assert first.status == 201
    created = await first.json()
    await api.remember()
    retried = await api.upload(image, override={"tagline": "hi"})
    assert retried.status == 200
    assert await retried.json() == created
    await api.assert_untouched()
    # The same bytes in any other upload are a duplicate, as before.
    await refused(api, await api.upload(image, override={"tagline": "another"}), 409,
                  "Image already submitted", None)
    await refused(api, await api.upload(image), 409, "Image already submitted", None)
    await api.assert_untouched()


async def test_a_failed_insert_leaves_no_object(api: Api, monkeypatch) -> None:
    from touchgrass.store import submissions

    async def broken(*args, **kwargs):
        raise asyncpg.PostgresError("database went away (test)")

    monkeypatch.setattr(submissions, "create", broken)
    response = await api.upload()
    assert response.status == 500
    assert await response.json() == {"error": {"message": "Internal server error"}}
    await api.assert_untouched()


# ---------------------------------------------------------------- reads


async def test_list_filters_and_order(api: Api) -> None:
    first = await (await api.upload()).json()
    second = await (await api.upload(wallet=OTHER_WALLET)).json()
    listed = await (await api.client.get("/api/submissions")).json()
    assert [s["id"] for s in listed] == [second["id"], first["id"]]  # newest first
    by_wallet = await (await api.client.get("/api/submissions",
                                            params={"walletAddress": OTHER_WALLET})).json()
    assert [s["id"] for s in by_wallet] == [second["id"]]
    combined = await (await api.client.get("/api/submissions", params={
        "chainId": api.chain_id, "challengeId": api.challenge_id,
        "status": "proof_generation"})).json()
    assert len(combined) == 2
    assert await (await api.client.get("/api/submissions", params={"status": "complete"})).json() == []
    assert await (await api.client.get("/api/submissions", params={"chainId": "bad"})).json() == []


async def test_get_one_with_a_live_like_count(api: Api) -> None:
    created = await (await api.upload()).json()
    await api.client.post(f"/api/submissions/{created['id']}/likes",
                          json={"walletAddress": OTHER_WALLET})
    got = await (await api.client.get(f"/api/submissions/{created['id']}")).json()
    assert got["likeCount"] == 1 and got["id"] == created["id"]
    for missing in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = await api.client.get(f"/api/submissions/{missing}")
        assert response.status == 404
        assert await response.json() == {"error": {"message": "Submission not found"}}


async def test_the_image_with_etag_and_304(api: Api) -> None:
    image = image_bytes(5000)
    created = await (await api.upload(image, content_type="image/webp")).json()
    response = await api.client.get(f"/api/submissions/{created['id']}/image")
    assert response.status == 200 and await response.read() == image
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["ETag"] == f'"{created["sha256Hash"]}"'
    cached = await api.client.get(f"/api/submissions/{created['id']}/image",
                                  headers={"If-None-Match": response.headers["ETag"]})
    assert cached.status == 304 and await cached.read() == b""


async def test_image_missing_from_storage(api: Api) -> None:
    created = await (await api.upload()).json()
    await api.storage.delete(created["storageKey"])
    response = await api.client.get(f"/api/submissions/{created['id']}/image")
    assert response.status == 404
    assert await response.json() == {"error": {"message": "Image not found"}}
    unknown = await api.client.get("/api/submissions/nope/image")
    assert (await unknown.json())["error"]["message"] == "Submission not found"


# ---------------------------------------------------------------- review and delete


async def test_review_needs_admin(make_api) -> None:
    api = await make_api(auto_approve=False)
    created = await (await api.upload()).json()
    response = await api.client.patch(f"/api/submissions/{created['id']}",
                                      json={"challengeVerified": True})
    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    assert await api.pool.fetchval("SELECT status FROM submissions") == "awaiting_review"


async def test_review_approve_and_reject(make_api) -> None:
    api = await make_api(auto_approve=False)
    first = await (await api.upload()).json()
    second = await (await api.upload()).json()
    approved = await api.client.patch(f"/api/submissions/{first['id']}", headers=ADMIN,
                                      json={"challengeVerified": True})
    body = await approved.json()
    assert approved.status == 200 and body["status"] == "proof_generation"
    assert body["challengeVerified"] is True
    rejected = await (await api.client.patch(f"/api/submissions/{second['id']}", headers=ADMIN,
                                             json={"challengeVerified": False})).json()
    assert rejected["status"] == "rejected"
    assert rejected["failureReason"] == "Image does not satisfy challenge criteria"
    again = await api.client.patch(f"/api/submissions/{first['id']}", headers=ADMIN,
                                   json={"challengeVerified": True})
    assert again.status == 400
    assert await again.json() == {"error": {
        "message": "Submission cannot be reviewed in status: proof_generation", "field": "status"}}


async def test_with_legacy_status_a_review_refusal_says_processing(make_api) -> None:
    api = await make_api(auto_approve=False, legacy_status=True)
    first = await (await api.upload()).json()
    approve = {"challengeVerified": True}
    assert (await api.client.patch(f"/api/submissions/{first['id']}", headers=ADMIN,
                                   json=approve)).status == 200
    again = await api.client.patch(f"/api/submissions/{first['id']}", headers=ADMIN, json=approve)
    assert await again.json() == {"error": {
        "message": "Submission cannot be reviewed in status: processing", "field": "status"}}


@pytest.mark.parametrize("body", [{}, {"challengeVerified": "yes"}, {"challengeVerified": 1}])
async def test_review_needs_a_boolean(api: Api, body: dict) -> None:
    created = await (await api.upload()).json()
    response = await api.client.patch(f"/api/submissions/{created['id']}", headers=ADMIN, json=body)
    assert response.status == 400
    assert await response.json() == {"error": {"message": "challengeVerified is required",
                                               "field": "challengeVerified"}}


async def test_review_unknown_and_malformed_json(api: Api) -> None:
    unknown = await api.client.patch("/api/submissions/00000000-0000-0000-0000-000000000000",
                                     headers=ADMIN, json={"challengeVerified": True})
    assert unknown.status == 404
    created = await (await api.upload()).json()
    broken = await api.client.patch(f"/api/submissions/{created['id']}", data=b"{not json",
                                    headers={**ADMIN, "Content-Type": "application/json"})
    assert broken.status == 400
    assert await broken.json() == {"error": {"message": "Invalid JSON body"}}


async def test_delete_removes_row_likes_and_image(api: Api) -> None:
    created = await (await api.upload()).json()
    await api.client.post(f"/api/submissions/{created['id']}/likes",
                          json={"walletAddress": OTHER_WALLET})
    assert (await api.client.delete(f"/api/submissions/{created['id']}")).status == 401
    assert (await api.client.delete(f"/api/submissions/{created['id']}", headers=ADMIN)).status == 204
    assert await api.pool.fetchval("SELECT count(*) FROM submissions") == 0
    assert await api.pool.fetchval("SELECT count(*) FROM likes") == 0
    assert not await api.storage.exists(created["storageKey"])
    gone = await api.client.delete(f"/api/submissions/{created['id']}", headers=ADMIN)
    assert gone.status == 404


def test_the_test_wallets_are_valid() -> None:
    assert mina.is_valid_address(WALLET) and mina.is_valid_address(OTHER_WALLET)
