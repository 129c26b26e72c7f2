"""Users, challenges, chains, likes and the meta routes, against the contract."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.api import ADMIN, OTHER_WALLET, WALLET, Api

pytestmark = pytest.mark.anyio

UNKNOWN = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
async def api(make_api) -> Api:
    return await make_api()


async def error_of(response) -> dict:
    return (await response.json())["error"]


# ---------------------------------------------------------------- users


async def test_users_find_or_create(api: Api) -> None:
    created = await api.client.post("/api/users", json={"walletAddress": OTHER_WALLET})
    assert created.status == 201
    first = await created.json()
    again = await api.client.post("/api/users", json={"walletAddress": OTHER_WALLET})
    assert again.status == 200 and (await again.json())["createdAt"] == first["createdAt"]
    got = await api.client.get(f"/api/users/{OTHER_WALLET}")
    assert got.status == 200 and await got.json() == first


async def test_users_refusals(api: Api) -> None:
    missing = await api.client.post("/api/users", json={})
    assert missing.status == 400
    assert await error_of(missing) == {"message": "walletAddress is required",
                                       "field": "walletAddress"}
    invalid = await api.client.post("/api/users", json={"walletAddress": "B62qnope"})
    assert invalid.status == 400
    assert await error_of(invalid) == {"message": "Invalid wallet address format",
                                       "field": "walletAddress"}
    broken = await api.client.post("/api/users", data=b"{oops",
                                   headers={"Content-Type": "application/json"})
    assert broken.status == 400 and await error_of(broken) == {"message": "Invalid JSON body"}
    for address in (OTHER_WALLET, "not-an-address"):
        unknown = await api.client.get(f"/api/users/{address}")
        assert unknown.status == 404 and await error_of(unknown) == {"message": "User not found"}
    assert await api.pool.fetchval("SELECT count(*) FROM users") == 0


async def test_twenty_concurrent_first_posts_for_one_wallet(api: Api) -> None:
    responses = await asyncio.gather(*(
        api.client.post("/api/users", json={"walletAddress": WALLET}) for _ in range(20)))
    assert sorted(r.status for r in responses) == [200] * 19 + [201]
    assert await api.pool.fetchval("SELECT count(*) FROM users") == 1


async def test_delete_user_cascades(api: Api) -> None:
    created = await (await api.upload()).json()
    await api.client.post(f"/api/submissions/{created['id']}/likes",
                          json={"walletAddress": WALLET})
    refused = await api.client.delete(f"/api/users/{WALLET}")
    assert refused.status == 401 and "WWW-Authenticate" in refused.headers
    wrong = await api.client.delete(f"/api/users/{WALLET}",
                                    headers={"Authorization": "Basic YWRtaW46bm9wZQ=="})
    assert wrong.status == 401
    assert (await api.client.delete(f"/api/users/{WALLET}", headers=ADMIN)).status == 204
    assert await api.pool.fetchval("SELECT count(*) FROM submissions") == 0
    assert await api.pool.fetchval("SELECT count(*) FROM likes") == 0
    assert not await api.storage.exists(created["storageKey"])
    again = await api.client.delete(f"/api/users/{WALLET}", headers=ADMIN)
    assert again.status == 404 and await error_of(again) == {"message": "User not found"}


# ---------------------------------------------------------------- challenges


CHALLENGE = {"title": "Grass", "description": "Touch it", "startTime": "2026-01-01T00:00:00Z",
             "endTime": "2030-01-01T00:00:00.000Z"}


async def test_create_challenge_with_its_default_chain(api: Api) -> None:
    response = await api.client.post("/api/challenges", json=CHALLENGE, headers=ADMIN)
    body = await response.json()
    assert response.status == 201, body
    assert body["participantCount"] == 0 and body["chainCount"] == 1
    assert body["deploymentStatus"] == "pending_deployment" and "zkAppAddress" not in body
    assert body["startTime"] == "2026-01-01T00:00:00.000Z"
    chains = await (await api.client.get("/api/chains", params={"challengeId": body["id"]})).json()
    assert [(c["name"], c["length"]) for c in chains] == [("Default", 0)]


async def test_create_challenge_needs_admin_and_writes_nothing(api: Api) -> None:
    before = await api.snapshot()
    response = await api.client.post("/api/challenges", json=CHALLENGE)
    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    assert await error_of(response) == {"message": "Authentication required"}
    assert await api.snapshot() == before


@pytest.mark.parametrize("change, message, field", [
    ({"title": None}, "title is required", "title"),
    ({"title": "  "}, "title is required", "title"),
    ({"description": None}, "description is required", "description"),
    ({"startTime": None}, "startTime is required", "startTime"),
    ({"endTime": None}, "endTime is required", "endTime"),
    ({"startTime": "yesterday"}, "startTime must be a valid date", "startTime"),
    ({"endTime": "2030-13-45"}, "endTime must be a valid date", "endTime"),
    ({"endTime": "2026-01-01T00:00:00Z"}, "endTime must be after startTime", "endTime"),
    ({"endTime": "2025-01-01T00:00:00Z"}, "endTime must be after startTime", "endTime"),
])
async def test_create_challenge_checks_in_order(api: Api, change, message, field) -> None:
    before = await api.snapshot()
    body = {k: v for k, v in {**CHALLENGE, **change}.items() if v is not None}
    response = await api.client.post("/api/challenges", json=body, headers=ADMIN)
    assert response.status == 400
    assert await error_of(response) == {"message": message, "field": field}
    assert await api.snapshot() == before


async def test_title_is_checked_before_the_rest(api: Api) -> None:
    response = await api.client.post("/api/challenges", json={}, headers=ADMIN)
    assert (await error_of(response))["message"] == "title is required"


async def test_list_get_active_and_delete(api: Api) -> None:
    future_id, _ = await api.make_challenge(starts="+1 day", ends="+2 days")
    past_id, _ = await api.make_challenge(starts="-3 days", ends="-2 days")
    listed = [c["id"] for c in await (await api.client.get("/api/challenges")).json()]
    assert listed == [future_id, api.challenge_id, past_id]  # startTime descending
    active = [c["id"] for c in await (await api.client.get("/api/challenges/active")).json()]
    assert active == [api.challenge_id]
    got = await (await api.client.get(f"/api/challenges/{api.challenge_id}")).json()
    assert got["zkAppAddress"] == WALLET and got["deploymentStatus"] == "active"
    for missing in (UNKNOWN, "nope"):
        response = await api.client.get(f"/api/challenges/{missing}")
        assert response.status == 404
        assert await error_of(response) == {"message": "Challenge not found"}
    created = await (await api.upload()).json()
    assert (await api.client.delete(f"/api/challenges/{api.challenge_id}")).status == 401
    deleted = await api.client.delete(f"/api/challenges/{api.challenge_id}", headers=ADMIN)
    assert deleted.status == 204
    assert await api.pool.fetchval("SELECT count(*) FROM submissions") == 0
    assert not await api.storage.exists(created["storageKey"])
    again = await api.client.delete(f"/api/challenges/{api.challenge_id}", headers=ADMIN)
    assert again.status == 404


# ---------------------------------------------------------------- chains


async def test_chains(api: Api) -> None:
    other_challenge, other_chain = await api.make_challenge()
    everything = await (await api.client.get("/api/chains")).json()
    assert [c["id"] for c in everything] == [api.chain_id, other_chain]  # oldest first
    filtered = await (await api.client.get("/api/chains",
                                           params={"challengeId": other_challenge})).json()
    assert [c["id"] for c in filtered] == [other_chain]
    for unknown in (UNKNOWN, "nope"):
        assert await (await api.client.get("/api/chains", params={"challengeId": unknown})).json() == []
    one = await (await api.client.get(f"/api/chains/{api.chain_id}")).json()
    assert set(one) == {"id", "name", "challengeId", "length", "createdAt", "lastActivityAt",
                        "updatedAt"}
    for missing in (UNKNOWN, "nope"):
        response = await api.client.get(f"/api/chains/{missing}")
        assert response.status == 404 and await error_of(response) == {"message": "Chain not found"}


# ---------------------------------------------------------------- likes


async def test_likes(api: Api) -> None:
    created = await (await api.upload()).json()
    base = f"/api/submissions/{created['id']}/likes"
    first = await api.client.post(base, json={"walletAddress": OTHER_WALLET})
    assert first.status == 201
    like = await first.json()
    assert like["submissionId"] == created["id"] and like["walletAddress"] == OTHER_WALLET
    duplicate = await api.client.post(base, json={"walletAddress": OTHER_WALLET})
    assert duplicate.status == 409
    assert await error_of(duplicate) == {"message": "You have already liked this submission"}
    await api.client.post(base, json={"walletAddress": WALLET})
    listed = await (await api.client.get(base)).json()
    assert [like["walletAddress"] for like in listed] == [WALLET, OTHER_WALLET]  # newest first
    count = await (await api.client.get(f"{base}/count")).json()
    assert count == {"submissionId": created["id"], "count": 2}
    removed = await api.client.delete(f"{base}/{OTHER_WALLET}")
    assert removed.status == 200 and await removed.json() == {"success": True}
    missing = await api.client.delete(f"{base}/{OTHER_WALLET}")
    assert missing.status == 404 and await error_of(missing) == {"message": "Like not found"}


async def test_like_refusals_write_nothing(api: Api) -> None:
    created = await (await api.upload()).json()
    before = await api.snapshot()
    base = f"/api/submissions/{created['id']}/likes"
    missing = await api.client.post(base, json={})
    assert missing.status == 400 and await error_of(missing) == {
        "message": "walletAddress is required", "field": "walletAddress"}
    invalid = await api.client.post(base, json={"walletAddress": "B62qbad"})
    assert invalid.status == 400 and await error_of(invalid) == {
        "message": "Invalid wallet address format", "field": "walletAddress"}
    for unknown in (UNKNOWN, "nope"):
        for method, path, kwargs in (
            ("post", f"/api/submissions/{unknown}/likes", {"json": {"walletAddress": OTHER_WALLET}}),
            ("get", f"/api/submissions/{unknown}/likes", {}),
            ("get", f"/api/submissions/{unknown}/likes/count", {}),
        ):
            response = await getattr(api.client, method)(path, **kwargs)
            assert response.status == 404, path
            assert await error_of(response) == {"message": "Submission not found"}
    assert await api.snapshot() == before


# ---------------------------------------------------------------- meta and global behaviour


async def test_health_and_version(api: Api) -> None:
    health = await api.client.get("/health")
    body = await health.json()
    assert health.status == 200 and body["status"] == "healthy"
    assert body["environment"] == "production" and body["uptime"] >= 0
    assert body["timestamp"].endswith("Z")
    version = await (await api.client.get("/api/version")).json()
    assert version == {"version": version["version"], "api": "TouchGrass API",
                       "zkApp": "not configured"}


async def test_health_reports_a_broken_storage(make_api, tmp_path) -> None:
    api = await make_api()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    api.storage.root = blocker / "storage"  # type: ignore[attr-defined]
    response = await api.client.get("/health")
    body = await response.json()
    assert response.status == 503 and body["status"] == "unhealthy"
    assert body["checks"]["database"] == "ok" and body["checks"]["storage"].startswith("error")


async def test_unknown_routes_answer_like_the_old_server(api: Api) -> None:
    response = await api.client.get("/api/nothing/here")
    assert response.status == 404
    assert await response.json() == {"error": {"code": "NOT_FOUND",
                                               "message": "Cannot GET /api/nothing/here"}}
    wrong_method = await api.client.put("/api/users")
    assert wrong_method.status == 404
    assert (await wrong_method.json())["error"]["message"] == "Cannot PUT /api/users"


async def test_security_headers_correlation_and_cors(api: Api) -> None:
    response = await api.client.get("/api/challenges", headers={"Origin": "https://x.example"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "Referrer-Policy" in response.headers and "X-Frame-Options" in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    uuid.UUID(response.headers["X-Correlation-Id"])  # a fresh one when none was sent
    echoed = await api.client.get("/health", headers={"X-Correlation-Id": "abc-123"})
    assert echoed.headers["X-Correlation-Id"] == "abc-123"
    preflight = await api.client.options("/api/submissions", headers={
        "Origin": "https://x.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status == 204
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    assert "X-Correlation-Id" in preflight.headers["Access-Control-Allow-Headers"]


async def test_cors_origin_list(make_api) -> None:
    api = await make_api(cors_origin="https://app.example, https://admin.example")
    allowed = await api.client.get("/health", headers={"Origin": "https://admin.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://admin.example"
    other = await api.client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_openapi_documents_every_registered_route(api: Api) -> None:
    document = await (await api.client.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    registered = {(route.method.lower(), route.resource.canonical)
                  for route in api.client.app.router.routes() if route.method != "HEAD"}
    documented = {(method, path) for path, operations in document["paths"].items()
                  for method in operations}
    assert registered == documented
    upload = document["paths"]["/api/submissions"]["post"]
    assert set(upload["responses"]) == {"200", "201", "400", "404", "408", "409", "413", "415", "503"}
    assert "Retry-After" in upload["responses"]["503"]["headers"]
    assert upload["requestBody"]["content"]["multipart/form-data"]["encoding"]["image"][
        "contentType"].count("image/") == 11
    assert document["paths"]["/api/challenges"]["post"]["security"] == [{"adminBasic": []}]
    page = await api.client.get("/api-docs")
    text = await page.text()
    assert page.status == 200 and "/api/submissions/{id}/likes" in text


async def test_internal_errors_never_leak(api: Api, monkeypatch) -> None:
    from touchgrass.store import challenges

    async def boom(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(challenges, "page", boom)
    response = await api.client.get("/api/challenges")
    assert response.status == 500
    assert await response.text() == '{"error":{"message":"Internal server error"}}'


async def test_a_json_body_over_the_limit_is_413(api: Api) -> None:
    response = await api.client.post("/api/users", data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                     headers={"Content-Type": "application/json"})
    assert response.status == 413


# ---------------------------------------------------------------- deletes racing uploads

@pytest.mark.parametrize("deleted", ["challenge", "user"])
async def test_a_delete_racing_an_upload_leaves_no_image_behind(api: Api, deleted: str) -> None:
    """The delete begins while an upload holds its transaction open; the upload commits, the
    delete's cascade takes its row too (the cascade reads the newest data). That row's image
    must become pending with the rest, and go: before, the delete collected keys with its
    own snapshot, and such images stayed in storage for good."""
    import hashlib
    from uuid import UUID

    from touchgrass import images
    from touchgrass.images import image_key
    from touchgrass.store import challenges, submissions, users

    image = uuid.uuid4().bytes * 64
    sha = hashlib.sha256(image).hexdigest()
    key = image_key(sha)
    await api.storage.put(key, image, "image/png")
    await users.find_or_create(api.pool, WALLET)  # the user exists before the race
    async with api.pool.acquire() as uploader:
        upload = uploader.transaction()
        await upload.start()
        await submissions.create(uploader, submissions.NewSubmission(
            sha256_hex=sha, wallet_address=WALLET, signature_json='{"r": "1", "s": "2"}',
            challenge_id=UUID(api.challenge_id), chain_id=UUID(api.chain_id), storage_key=key,
            tagline=None, queued=True, correlation_id=None))
        deleting = asyncio.create_task(
            challenges.delete(api.pool, UUID(api.challenge_id)) if deleted == "challenge"
            else users.delete(api.pool, WALLET))
        await asyncio.sleep(0.5)
        assert not deleting.done()  # it waits for the upload's locks
        await upload.commit()
    pending = await asyncio.wait_for(deleting, 10)
    assert key in {entry.storage_key for entry in pending}
    await images.release(api.pool, api.storage, pending)
    assert not await api.storage.exists(key)
    assert await api.pool.fetchval("SELECT count(*) FROM submissions") == 0
    assert await api.pool.fetchval("SELECT count(*) FROM pending_images") == 0


async def delete_soon(api: Api, target: str) -> int:
    await asyncio.sleep(0.01)  # amid the uploads
    return (await api.client.delete(target, headers=ADMIN)).status


async def test_an_upload_takes_the_challenge_before_the_chain_as_a_challenge_delete_does(
        api: Api) -> None:
    """A challenge delete locks the challenge, then (by cascade) its chains. An upload once
    locked the chain first and then the challenge: with both in flight, Postgres found a
    deadlock and one of them failed (a 500). Here a transaction stands in for the delete: it
    holds the challenge while the upload starts, then takes the chain."""
    async with api.pool.acquire() as delete, delete.transaction():
        await delete.execute("SELECT 1 FROM challenges WHERE id = $1::text::uuid FOR UPDATE",
                             api.challenge_id)
        upload = asyncio.ensure_future(api.upload())
        await asyncio.sleep(0.5)  # the upload is waiting for a lock
        assert not upload.done()
        await delete.execute("SET LOCAL lock_timeout = '3s'")
        await delete.execute("SELECT 1 FROM chains WHERE id = $1::text::uuid FOR UPDATE",
                             api.chain_id)  # would wait on the upload's chain lock: deadlock
    assert (await upload).status == 201


@pytest.mark.parametrize("deleted", ["challenge", "user"])
async def test_twelve_rounds_of_deletes_racing_twelve_uploads(api: Api, deleted: str) -> None:
    """The bounded rerun: each round, twelve uploads and a delete of their challenge (or of
    their user) at once. No answer is a 500, and after one sweep every stored image has its
    row (the race once left 36 images without one, and a challenge delete could deadlock)."""
    from tests.support.api import stored_keys
    from touchgrass import images

    answers: list[int] = []
    for _ in range(12):
        api.challenge_id, api.chain_id = await api.make_challenge()
        uploads = [api.upload(uuid.uuid4().bytes * 16) for _ in range(12)]
        target = (f"/api/challenges/{api.challenge_id}" if deleted == "challenge"
                  else f"/api/users/{WALLET}")

        results = await asyncio.gather(*uploads, delete_soon(api, target))
        answers += [r if isinstance(r, int) else r.status for r in results]
    assert 500 not in answers and 503 not in answers, answers
    await images.sweep(api.pool, api.storage, older_than_s=0)
    rows = {row["storage_key"] for row in await api.pool.fetch(
        "SELECT storage_key FROM submissions")}
    assert await stored_keys(api.storage) <= rows
    assert await api.pool.fetchval("SELECT count(*) FROM pending_images") == 0


async def test_metrics_can_be_kept_off_the_public_port(make_api, monkeypatch) -> None:
    """API_METRICS: public (as before), off, or a port of its own (then 404 here too)."""
    from touchgrass.errors import ConfigError
    from touchgrass.settings import ApiSettings, load

    public = await make_api()
    assert (await public.client.get("/metrics")).status == 200
    for place in ("off", "9464"):
        kept = await make_api(api_metrics=place)
        response = await kept.client.get("/metrics")
        assert response.status == 404
        assert (await response.json())["error"]["message"] == "Cannot GET /metrics"
    assert ApiSettings(admin_password="x" * 16, api_metrics="9464").metrics_port == 9464
    monkeypatch.setenv("API_METRICS", "sometimes")
    with pytest.raises(ConfigError, match="API_METRICS is invalid: must be public, off or"):
        load(ApiSettings, admin_password="x" * 16)
