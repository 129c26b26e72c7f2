"""The rows of docs/http-api.md "The existing clients" that the API answers (what the real web app and
admin dashboard need from a drop-in replacement): HEAD beside every GET, the old
`?status=processing` filter, uploads while the challenge's deploy is on its way, and a
`transactionId` on an in-flight photo. The curve told from the key is in
test_settings_and_logs.py, the transaction id's recording in test_publish_batches.py."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.support.api import WALLET, Api
from touchgrass.api.routes import ROUTES

ZKAPP = WALLET  # any well-formed address (the schema checks its shape)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(make_api) -> Api:
    return await make_api()


async def uploaded(api: Api) -> dict:
    response = await api.upload()
    assert response.status == 201, await response.text()
    return await response.json()


async def test_head_answers_on_every_get_route_as_get_does_with_no_body(api: Api) -> None:
    photo = await uploaded(api)
    values = {"id": photo["id"], "walletAddress": WALLET, "sha256": photo["sha256Hash"]}
    await api.client.post("/api/users", json={"walletAddress": WALLET})
    gets = [route for route in ROUTES if route.method == "GET"]
    assert len(gets) >= 10
    ids = {"challenges": api.challenge_id, "chains": api.chain_id}
    for route in gets:
        # a challenge's and a chain's own routes get their ids; the rest a submission's
        kind = route.path.split("/")[2] if route.path.startswith("/api/") else ""
        given = {**values, "id": ids.get(kind, values["id"])}
        path = re.sub(r"\{(\w+)\}", lambda m, given=given: given[m.group(1)], route.path)
        get = await api.client.get(path)
        head = await api.client.head(path)
        assert head.status == get.status, (route.path, head.status, get.status)
        assert await head.read() == b"", route.path
        assert head.headers.get("Content-Type") == get.headers.get("Content-Type"), route.path


async def test_status_processing_finds_both_in_flight_statuses(api: Api) -> None:
    generating, publishing, done = [await uploaded(api) for _ in range(3)]
    await api.pool.execute("UPDATE submissions SET status = 'proof_publishing', "
                           "proof_json = '{}' WHERE id = $1::text::uuid", publishing["id"])
    await api.pool.execute("UPDATE submissions SET status = 'complete' WHERE id = $1::text::uuid",
                           done["id"])
    answer = await api.client.get("/api/submissions", params={"status": "processing"})
    assert answer.status == 200
    assert {row["id"] for row in await answer.json()} == {generating["id"], publishing["id"]}
    exact = await api.client.get("/api/submissions", params={"status": "proof_publishing"})
    assert [row["id"] for row in await exact.json()] == [publishing["id"]]
    # an unknown status still matches nothing, as the old server answered
    assert await (await api.client.get("/api/submissions",
                                       params={"status": "grass"})).json() == []


async def test_a_challenge_whose_deploy_was_sent_takes_uploads(api: Api) -> None:
    """The old rule: uploadable once the deploy is sent. The photo is proven meanwhile; the
    publisher waits for the zkApp without using an attempt (test_publish_standin.py)."""
    challenge_id, chain_id = await api.make_challenge(deployed=False)
    await api.pool.execute("UPDATE challenges SET deployment_status = 'deploying', "
                           "zkapp_address = $2 WHERE id = $1::text::uuid", challenge_id, WALLET)
    response = await api.upload(chain_id=chain_id)
    assert response.status == 201, await response.text()
    assert (await response.json())["status"] == "proof_generation"


async def test_an_in_flight_photo_shows_its_transaction_id(api: Api) -> None:
    photo = await uploaded(api)
    await api.pool.execute("UPDATE submissions SET status = 'proof_publishing', "
                           "proof_json = '{}', transaction_id = '5Jsent', "
                           "transaction_hash = '5Jsent' WHERE id = $1::text::uuid", photo["id"])
    shown = await (await api.client.get(f"/api/submissions/{photo['id']}")).json()
    assert shown["status"] == "proof_publishing" and shown["transactionId"] == "5Jsent"


async def test_legacy_status_reports_processing_and_keeps_the_precise_one(make_api) -> None:
    """LEGACY_STATUS=true (opt-in): the web app's timeline knows `processing`, not the two
    in-flight statuses; `pipelineStatus` keeps the precise one. Off, nothing changes."""
    legacy = await make_api(legacy_status=True)
    photo = await uploaded(legacy)
    assert (photo["status"], photo["pipelineStatus"]) == ("processing", "proof_generation")
    await legacy.pool.execute("UPDATE submissions SET status = 'proof_publishing', "
                              "proof_json = '{}' WHERE id = $1::text::uuid", photo["id"])
    shown = await (await legacy.client.get(f"/api/submissions/{photo['id']}")).json()
    assert (shown["status"], shown["pipelineStatus"]) == ("processing", "proof_publishing")
    listed = await (await legacy.client.get("/api/submissions")).json()
    assert [(r["status"], r["pipelineStatus"]) for r in listed] == [
        ("processing", "proof_publishing")]
    await legacy.pool.execute("UPDATE submissions SET status = 'complete', proof_json = NULL "
                              "WHERE id = $1::text::uuid", photo["id"])
    done = await (await legacy.client.get(f"/api/submissions/{photo['id']}")).json()
    assert done["status"] == "complete" and "pipelineStatus" not in done

    precise = await make_api()
    plain = await uploaded(precise)
    assert plain["status"] == "proof_generation" and "pipelineStatus" not in plain


async def test_an_admin_resubmits_over_http_with_the_clis_rules(api: Api) -> None:
    """docs/http-api.md: no HTTP route to retry a photo. POST /api/submissions/:id/resubmit is the
    CLI's resubmit (admin only; `force` for a complete photo)."""
    from tests.support.api import ADMIN

    rejected, done, review = [await uploaded(api) for _ in range(3)]
    await api.pool.execute("UPDATE submissions SET status = 'rejected', attempts = 3, "
                           "failure_reason = 'prover crashed', rejected_at = now() "
                           "WHERE id = $1::text::uuid", rejected["id"])
    await api.pool.execute("UPDATE submissions SET status = 'complete', transaction_id = '5Jx', "
                           "transaction_hash = '5Jx', chain_status = 'final' "
                           "WHERE id = $1::text::uuid", done["id"])
    await api.pool.execute("UPDATE submissions SET status = 'awaiting_review' "
                           "WHERE id = $1::text::uuid", review["id"])

    def resubmit(photo: dict, **body: object):
        return api.client.post(f"/api/submissions/{photo['id']}/resubmit", json=body,
                               headers=ADMIN)

    assert (await api.client.post(f"/api/submissions/{rejected['id']}/resubmit")).status == 401
    again = await resubmit(rejected)
    assert again.status == 200
    shown = await again.json()
    assert (shown["status"], shown["retryCount"], shown.get("failureReason")) == (
        "proof_generation", 0, None)
    refused = await resubmit(done)
    assert refused.status == 409 and '"force": true' in (await refused.json())["error"]["message"]
    forced = await (await resubmit(done, force=True)).json()
    assert forced["status"] == "proof_generation" and "transactionId" not in forced
    assert (await resubmit(review)).status == 400
    assert (await resubmit(done, force="yes")).status == 400
    unknown = await api.client.post("/api/submissions/00000000-0000-0000-0000-000000000000/"
                                    "resubmit", headers=ADMIN)
    assert unknown.status == 404


async def test_a_public_receipt_appears_once_published_and_says_where_the_record_is(
        api: Api) -> None:
    """Issue 12: GET /api/receipts/:sha256 and /api/submissions/:id/receipt, no auth; a
    clear 404 before publishing; what a verifier needs to find and check the record."""
    photo = await uploaded(api)
    for path in (f"/api/receipts/{photo['sha256Hash']}", f"/api/submissions/{photo['id']}/receipt"):
        early = await api.client.get(path)
        assert early.status == 404
        assert "No receipt yet: the photo is proof_generation" in (await early.json())["error"]["message"]
    await api.pool.execute(
        "UPDATE submissions SET status = 'complete', transaction_hash = '5Jtx', "
        "transaction_id = '5Jtx', chain_status = 'included', chain_included_height = 42, "
        "receipt_zkapp_address = $2, published_at = now(), batch_position = 3, batch_size = 7 "
        "WHERE id = $1::text::uuid", photo["id"], ZKAPP)
    answers = [await (await api.client.get(path)).json() for path in (
        f"/api/receipts/{photo['sha256Hash'].upper()}", f"/api/submissions/{photo['id']}/receipt")]
    assert answers[0] == answers[1]
    receipt = answers[0]
    assert receipt["kind"] == "action" and receipt["zkAppAddress"] == ZKAPP
    assert (receipt["transactionHash"], receipt["blockHeight"], receipt["chainStatus"]) == \
        ("5Jtx", 42, "included")
    assert receipt["batch"] == {"position": 3, "size": 7}  # the command it shares with 6 others
    digest = bytes.fromhex(photo["sha256Hash"])
    assert receipt["record"][1:3] == [str(int.from_bytes(digest[:16], "big")),
                                      str(int.from_bytes(digest[16:], "big"))]
    assert receipt["record"][0] == str(uuid.UUID(photo["chainId"]).int)
    assert receipt["signer"] == {"curve": api.signer.curve, "x": f"{api.signer.x:064x}",
                                 "y": f"{api.signer.y:064x}"}
    assert receipt["verify"] == f"touchgrass verify {photo['sha256Hash']} --zkapp {ZKAPP}"
    bad = await api.client.get("/api/receipts/not-a-digest")
    assert bad.status == 400
    document = await (await api.client.get("/api/openapi.json")).json()
    assert {"/api/receipts/{sha256}", "/api/submissions/{id}/receipt"} <= set(document["paths"])
    assert "security" not in document["paths"]["/api/receipts/{sha256}"]["get"]
