"""Hostile and broken input: each answer a clear 4xx with the usual error body, nothing written,
no connection held; images that cannot carry script; rows and images that stay in step."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time

import pytest

from tests.support.api import ADMIN, WALLET, Api, image_bytes
from touchgrass import images
from touchgrass.api import server as api_server
from touchgrass.errors import ConfigError
from touchgrass.images import image_key
from touchgrass.images import sync as image_sync
from touchgrass.settings import ApiSettings, DatabaseSettings, load
from touchgrass.signatures import sign
from touchgrass.store import submissions as submission_store

pytestmark = pytest.mark.anyio

ZERO_ID = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
async def api(make_api) -> Api:
    api = await make_api()
    await api.remember()
    return api


async def error_of(response, status: int) -> dict:
    body = await response.json()
    assert response.status == status, body
    assert set(body) == {"error"} and body["error"]["message"]
    return body["error"]


def raw_request(api: Api, data: bytes, *, timeout: float = 10) -> bytes:
    """Bytes sent as they are (no client library cleans them up); the whole answer back."""
    with socket.create_connection((api.client.host, api.client.port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def multipart_request(body: bytes, *, boundary: str = "XX", length: int | None = None) -> bytes:
    return (b"POST /api/submissions HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=" + boundary.encode() + b"\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length)) + body


def head_and_body(answer: bytes) -> tuple[str, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


# ---------------------------------------------------------------- security

@pytest.mark.parametrize("password", ["", "   ", "short", "eleven-char"])
def test_an_empty_or_short_admin_password_is_refused_at_start(password: str) -> None:
    with pytest.raises(ConfigError, match=r"^ADMIN_PASSWORD is invalid: must be at least 12"):
        load(ApiSettings, admin_password=password)


def test_a_long_enough_admin_password_is_accepted() -> None:
    assert load(ApiSettings, admin_password="twelve-chars").admin_password.get_secret_value()


async def test_svg_and_other_non_raster_types_are_refused(api: Api) -> None:
    for content_type in ("image/svg+xml", "image/x-icon", "text/html", "image/"):
        response = await api.upload(content_type=content_type)
        assert (await error_of(response, 415))["message"] == "Only image files are allowed"
    await api.assert_untouched()


async def test_images_are_served_so_that_nothing_in_them_can_run(api: Api) -> None:
    created = await (await api.upload(image=b"\x89PNG fake bytes", content_type="image/png")).json()
    response = await api.client.get(f"/api/submissions/{created['id']}/image")
    assert response.status == 200 and response.content_type == "image/png"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # An SVG stored before uploads were limited is served as bytes, not as a document.
    await api.storage.put(created["storageKey"], b"\x89PNG fake bytes", "image/svg+xml")
    response = await api.client.get(f"/api/submissions/{created['id']}/image")
    assert response.content_type == "application/octet-stream"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


async def test_a_half_sent_request_head_is_not_held_open(make_api, monkeypatch) -> None:
    monkeypatch.setattr(api_server, "HEADERS_TIMEOUT_S", 1.0)
    api = await make_api()
    started = time.monotonic()
    answer = await asyncio.to_thread(
        raw_request, api, b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: 1", timeout=20)
    assert answer == b"" and time.monotonic() - started < 5


async def test_a_body_that_stops_arriving_is_a_408(make_api, monkeypatch) -> None:
    from touchgrass.api import upload

    monkeypatch.setattr(upload, "BODY_READ_TIMEOUT_S", 0.5)
    api = await make_api()
    body = b'--XX\r\nContent-Disposition: form-data; name="chainId"\r\n\r\nabc'
    answer = await asyncio.to_thread(raw_request, api, multipart_request(body, length=10_000))
    head, rest = head_and_body(answer)
    assert head.startswith("HTTP/1.1 408") and b"Request body not received in time" in rest


# ---------------------------------------------------------------- text no field may hold

@pytest.mark.parametrize("path", [
    "/api/submissions?walletAddress=%00",
    "/api/submissions?challengeId=a%00b",
    "/api/users/%00",
    f"/api/submissions/{ZERO_ID}/likes/%00",
    "/api/submissions?walletAddress=%1B",
])
async def test_nul_and_control_characters_in_urls_are_400(api: Api, path: str) -> None:
    method = "DELETE" if "/users/" in path or "/likes/" in path else "GET"
    response = await api.client.request(method, path, headers=ADMIN)
    error = await error_of(response, 400)
    assert "must not contain" in error["message"] and error["field"]
    await api.assert_untouched()


async def test_a_nul_byte_in_a_tagline_is_400(api: Api) -> None:
    response = await api.upload(override={"tagline": "grass\x00"})
    assert await error_of(response, 400) == {
        "message": "tagline must not contain NUL bytes", "field": "tagline"}
    await api.assert_untouched()


CHALLENGE = {"title": "Touch grass", "description": "A photo of grass",
             "startTime": "2026-01-01T00:00:00Z", "endTime": "2027-01-01T00:00:00Z"}


@pytest.mark.parametrize("change, field", [
    ({"title": "grass\x00"}, "title"),
    ({"description": "\ud800"}, "description"),
    ({"title": "bell\x07"}, "title"),
])
async def test_nul_surrogates_and_controls_in_json_text_are_400(api: Api, change: dict,
                                                                field: str) -> None:
    import json

    body = json.dumps({**CHALLENGE, **change})  # ensure_ascii: a lone surrogate as \ud800
    response = await api.client.post("/api/challenges", data=body,
                                     headers={**ADMIN, "Content-Type": "application/json"})
    assert (await error_of(response, 400))["field"] == field
    await api.assert_untouched()


@pytest.mark.parametrize("body", [
    "[" * 100_000 + "]" * 100_000,
    '{"walletAddress": ' + "[" * 40 + "1" + "]" * 40 + "}",
    '{"walletAddress": ' + "9" * 5000 + "}",
    '{"walletAddress": "\\ud800"}',
    '{"walletAddress": "B62", "x": 1e999999}',
], ids=["deep-array", "deep-field", "5000-digit-int", "lone-surrogate", "huge-float"])
async def test_json_a_parser_would_choke_on_is_400(api: Api, body: str) -> None:
    response = await api.client.post("/api/users", data=body,
                                     headers={"Content-Type": "application/json"})
    await error_of(response, 400)
    await api.assert_untouched()


@pytest.mark.parametrize("field, value", [
    ("endTime", "9999-12-31T23:59:59-05:00"),
    ("startTime", "0001-01-01T00:00:00+01:00"),
    ("endTime", 10 ** 20),
])
async def test_dates_outside_what_utc_can_hold_are_400(api: Api, field: str, value) -> None:
    response = await api.client.post("/api/challenges", json={**CHALLENGE, field: value},
                                     headers=ADMIN)
    assert await error_of(response, 400) == {"message": f"{field} must be a valid date",
                                             "field": field}
    await api.assert_untouched()


async def test_years_before_1000_have_four_digits(api: Api) -> None:
    response = await api.client.post(
        "/api/challenges", headers=ADMIN,
        json={**CHALLENGE, "startTime": "0728-08-17T10:20:30.456Z"})
    assert response.status == 201
    assert (await response.json())["startTime"] == "0728-08-17T10:20:30.456Z"


# ---------------------------------------------------------------- multipart

async def test_a_control_character_in_a_part_header_is_400(api: Api) -> None:
    body = (b'--XX\r\nContent-Disposition: form-data; name="ch\x01ainId"\r\n\r\nabc\r\n'
            b"--XX--\r\n")
    head, rest = head_and_body(await asyncio.to_thread(raw_request, api, multipart_request(body)))
    assert head.startswith("HTTP/1.1 400") and b"Malformed multipart body" in rest
    await api.assert_untouched()


async def test_an_image_part_that_never_ends_is_400(api: Api) -> None:
    body = (b'--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + b"a" * 70_000)
    head, rest = head_and_body(await asyncio.to_thread(raw_request, api, multipart_request(body)))
    assert head.startswith("HTTP/1.1 400") and b"Malformed multipart body" in rest
    await api.assert_untouched()


async def test_too_many_text_parts_are_413(api: Api) -> None:
    form = api.signed_form(image_bytes(),
                           override={f"extra{index}": "x" for index in range(40)})
    response = await api.client.post("/api/submissions", data=form)
    assert "Too many form fields" in (await error_of(response, 413))["message"]
    await api.assert_untouched()


async def test_many_parts_under_one_name_are_counted_one_by_one(api: Api) -> None:
    """40,000 empty parts of one name (2 MiB, under the form cap) once froze the API for
    15 s, the limit counting distinct names: parts are counted one by one now (2,000 here,
    a body the socket buffers hold whole, so the answer is read before the close)."""
    part = b'--XX\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n'
    started = time.monotonic()
    head, rest = head_and_body(await asyncio.to_thread(
        raw_request, api, multipart_request(part * 2_000 + b"--XX--\r\n")))
    assert head.startswith("HTTP/1.1 413") and b"Too many form fields" in rest
    assert time.monotonic() - started < 5
    await api.assert_untouched()


def valid_form(api: Api, image: bytes) -> bytes:
    """A whole, signed upload form as bytes (boundary XX)."""
    signature = sign(api.private_key, hashlib.sha256(image).digest(), api.signer.curve)
    values = {"chainId": api.chain_id, "walletAddress": WALLET,
              "signatureR": f"{signature.r:064x}", "signatureS": f"{signature.s:064x}"}
    return (b'--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + image + b"\r\n" + b"".join(
                b'--XX\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                % (name.encode(), value.encode()) for name, value in values.items())
            + b"--XX--\r\n")


async def test_a_chunked_form_cannot_carry_more_than_the_cap_around_it(make_api) -> None:
    """A chunked body has no declared length: a preamble before the first boundary or an
    epilogue after the last one counts too; a valid form inside 40 MiB of either is refused
    and nothing is stored."""
    api = await make_api(upload_max_size=1024 * 1024)
    api.challenge_id, api.chain_id = await api.make_challenge()
    await api.remember()
    form = valid_form(api, image_bytes())
    junk = b"%x\r\n" % (256 * 1024) + (b"junk line\r\n" * 23832)[:256 * 1024] + b"\r\n"
    head = (b"POST /api/submissions HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: multipart/form-data; boundary=XX\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    framed = b"%x\r\n" % len(form) + form + b"\r\n"

    def send(before: int, after: int) -> tuple[int, bytes]:
        sent = 0
        with socket.create_connection((api.client.host, api.client.port), timeout=10) as sock:
            try:
                sock.sendall(head)
                for _ in range(before):
                    sock.sendall(junk)
                    sent += 256 * 1024
                sock.sendall(framed)
                for _ in range(after):
                    sock.sendall(junk)
                    sent += 256 * 1024
                sock.sendall(b"0\r\n\r\n")
                return sent, sock.recv(65536)
            except OSError:
                return sent, b""  # the server closed the connection: it stopped reading

    for before, after in ((160, 0), (0, 160)):  # 40 MiB
        sent, answer = await asyncio.to_thread(send, before, after)
        assert not answer or answer.startswith(b"HTTP/1.1 413"), answer[:300]
        assert sent < 1024 * 1024 + 24 * 1024 * 1024, f"{sent / 2 ** 20:.0f} MiB accepted"
    await api.assert_untouched()


async def test_text_parts_too_large_together_are_413(api: Api) -> None:
    form = api.signed_form(image_bytes(),
                           override={f"extra{index}": "x" * 60_000 for index in range(6)})
    response = await api.client.post("/api/submissions", data=form)
    assert "Form fields too large" in (await error_of(response, 413))["message"]
    await api.assert_untouched()


async def test_a_declared_length_over_the_cap_is_refused_before_the_body(make_api) -> None:
    api = await make_api(upload_max_size=1024 * 1024)
    # Only the head is sent: the answer must come without waiting for a body.
    head, rest = head_and_body(await asyncio.to_thread(
        raw_request, api, multipart_request(b"", length=50 * 1024 * 1024), timeout=5))
    assert head.startswith("HTTP/1.1 413") and b"Request body too large" in rest


async def test_an_image_over_the_cap_is_not_read_past_it(make_api) -> None:
    cap = 1024 * 1024
    api = await make_api(upload_max_size=cap)
    sent = 0

    def send_until_refused() -> None:
        nonlocal sent
        head = (b"POST /api/submissions HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: multipart/form-data; boundary=XX\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        part = (b'--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
                b"Content-Type: image/png\r\n\r\n")
        chunk = b"%x\r\n" % (256 * 1024) + b"a" * (256 * 1024) + b"\r\n"
        with socket.create_connection((api.client.host, api.client.port), timeout=10) as sock:
            sock.sendall(head + b"%x\r\n" % len(part) + part + b"\r\n")
            try:
                while sent < 200 * 1024 * 1024:
                    sock.sendall(chunk)
                    sent += 256 * 1024
            except OSError:
                return  # the server closed the connection: it stopped reading

    thread = threading.Thread(target=send_until_refused)
    thread.start()
    await asyncio.to_thread(thread.join, 60)
    # The socket buffers on both sides hold a few MiB; the old drain read 64 MiB past the cap.
    assert sent < cap + 24 * 1024 * 1024, f"{sent / 2 ** 20:.0f} MiB accepted"


# ---------------------------------------------------------------- what the server answers itself

async def test_unparseable_requests_get_the_json_error_and_the_security_headers(api: Api) -> None:
    answer = await asyncio.to_thread(raw_request, api,
                                     b"GET /health HTTP/1.1\r\nHost: test\r\nBad Header\r\n\r\n")
    head, body = head_and_body(answer)
    assert head.split("\r\n")[0].endswith("400 Bad Request")
    assert "Content-Type: application/json" in head and "X-Content-Type-Options: nosniff" in head
    assert body.startswith(b'{"error":{"message":"Bad Request')


async def test_vary_origin_is_sent_whatever_the_origin(make_api) -> None:
    api = await make_api(cors_origin="https://app.example")
    for origin in ("https://app.example", "https://elsewhere.example"):
        response = await api.client.get("/api/version", headers={"Origin": origin})
        assert "Origin" in response.headers.getall("Vary", [])
    response = await api.client.get("/api/version")
    assert "Origin" in response.headers.getall("Vary", [])


def test_a_database_url_with_a_bad_port_is_one_line_naming_it() -> None:
    with pytest.raises(ConfigError) as raised:
        load(DatabaseSettings, database_url="postgresql://u:secret@db:port/touchgrass")
    assert str(raised.value).startswith("DATABASE_URL is invalid: has a port that is not")
    assert "secret" not in str(raised.value)


# ---------------------------------------------------------------- images and rows in step

async def test_deleting_while_the_same_bytes_are_uploaded_never_loses_the_new_rows_image(
        api: Api) -> None:
    for _ in range(60):
        image = image_bytes()
        created = await (await api.upload(image)).json()
        delete = api.client.delete(f"/api/submissions/{created['id']}", headers=ADMIN)
        responses = await asyncio.gather(delete, api.upload(image))
        statuses = sorted(response.status for response in responses)
        # the upload is this upload again: a new row (201), or the old one before it went (200)
        assert statuses in ([201, 204], [200, 204]), statuses
        row = await api.pool.fetchrow("SELECT storage_key FROM submissions WHERE sha256_hash = $1",
                                      hashlib.sha256(image).hexdigest())
        if row is not None:
            assert await api.storage.get(row["storage_key"]) == image
    assert await api.pool.fetchval("SELECT count(*) FROM pending_images") == 0


async def test_no_storage_call_is_made_while_a_database_connection_is_held(
        api: Api, monkeypatch) -> None:
    """A frozen storage must not take the database's connections with it: uploads, deletes,
    their races and the sweep call storage only with every connection back in the pool."""
    pool = api.pool
    in_use_when_idle = pool.get_size() - pool.get_idle_size()
    in_use_at_calls: list[tuple[str, int]] = []
    for name in ("stat", "put", "delete"):
        real = getattr(api.storage, name)

        async def watched(*args: object, _real=real, _name=name) -> object:
            in_use_at_calls.append((_name, pool.get_size() - pool.get_idle_size()))
            return await _real(*args)

        monkeypatch.setattr(api.storage, name, watched)
    # One at a time, so that a connection in use can only be the storage caller's own.
    image = image_bytes()
    for _ in range(2):  # the second upload writes the bytes the first one's delete removed
        created = await (await api.upload(image)).json()
        assert (await api.client.delete(f"/api/submissions/{created['id']}",
                                        headers=ADMIN)).status == 204
    await api.pool.execute("INSERT INTO pending_images (storage_key) VALUES ('images/gone')")
    await images.sweep(api.pool, api.storage, older_than_s=0)
    assert {name for name, _ in in_use_at_calls} == {"stat", "put", "delete"}
    held = [(name, n) for name, n in in_use_at_calls if n != in_use_when_idle]
    assert not held, f"storage called with connections held: {held}"


async def test_an_upload_waits_for_a_removal_under_way_and_writes_its_image_again(
        api: Api) -> None:
    """A removal marked on the key (it found no row and is deleting the object, with no lock
    held): the upload of the same bytes inserts its row only after it, with the object back."""
    image = image_bytes()
    key = image_key(hashlib.sha256(image).hexdigest())
    await api.storage.put(key, image, "image/png")
    await api.pool.execute("INSERT INTO pending_images (storage_key, removing_since) "
                           "VALUES ($1, now())", key)
    upload = asyncio.ensure_future(api.upload(image))
    await asyncio.sleep(0.5)
    assert not upload.done()  # it holds no row while the removal may still delete
    assert await api.pool.fetchval("SELECT count(*) FROM submissions") == 0
    await api.storage.delete(key)  # the removal deletes, then clears its entry
    await api.pool.execute("DELETE FROM pending_images WHERE removing_since IS NOT NULL")
    assert (await upload).status == 201
    assert await api.storage.get(key) == image
    assert await api.pool.fetchval("SELECT count(*) FROM pending_images") == 0


async def test_a_removal_between_an_uploads_write_and_its_row_makes_it_write_again(
        api: Api, monkeypatch) -> None:
    """The removal runs whole while the upload is between writing its object and inserting
    its row: the upload's entry is flagged, and the upload writes the object again."""
    image = image_bytes()
    key = image_key(hashlib.sha256(image).hexdigest())
    written, go_on = asyncio.Event(), asyncio.Event()
    real_put = api.storage.put
    puts = 0

    async def put_then_pause(*args: object) -> None:
        nonlocal puts
        puts += 1
        await real_put(*args)
        if puts == 1:
            written.set()
            await go_on.wait()

    monkeypatch.setattr(api.storage, "put", put_then_pause)
    upload = asyncio.ensure_future(api.upload(image))
    await written.wait()
    orphan = await api.pool.fetchval(
        "INSERT INTO pending_images (storage_key) VALUES ($1) RETURNING id", key)
    await images.release(api.pool, api.storage, [image_sync.PendingImage(orphan, key)])
    assert not await api.storage.exists(key)  # the removal took it
    go_on.set()
    assert (await upload).status == 201
    assert puts == 2 and await api.storage.get(key) == image
    assert await api.pool.fetchval("SELECT count(*) FROM pending_images") == 0


async def test_a_removal_that_outlives_its_lease_says_the_image_is_lost(
        api: Api, monkeypatch, caplog) -> None:
    """The one loss the protocol leaves: a removal paused past REMOVAL_LEASE_S between its
    mark and its delete, while an upload of the same bytes took the mark for dead. It cannot
    be undone (the bytes are gone), so it is one ERROR line naming the key."""
    import logging

    caplog.set_level(logging.INFO)
    created = await (await api.upload()).json()
    key = created["storageKey"]
    await api.pool.execute("DELETE FROM submissions")  # the trigger records the key
    entry = image_sync.PendingImage(
        await api.pool.fetchval("SELECT id FROM pending_images WHERE storage_key = $1", key), key)
    real_stat = api.storage.stat

    async def paused_past_the_lease(name: str) -> object:
        # meanwhile an upload of the same bytes inserted its row
        await api.pool.execute(
            "INSERT INTO submissions (sha256_hash, wallet_address, signature, challenge_id, "
            "chain_id, storage_key, chain_position, status) SELECT $1, $2, '{}', c.challenge_id, "
            "c.id, $3, 99, 'proof_generation' FROM chains c LIMIT 1",
            key.rsplit("/", 1)[-1], WALLET, key)
        return await real_stat(name)

    monkeypatch.setattr(api.storage, "stat", paused_past_the_lease)
    await images.release(api.pool, api.storage, [entry])
    lost = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lost) == 1 and key in lost[0].getMessage() and "lost" in lost[0].getMessage()


async def test_an_object_already_under_the_key_is_rewritten_unless_it_holds_the_bytes(
        api: Api) -> None:
    image = image_bytes(2048)
    key = image_key(hashlib.sha256(image).hexdigest())
    await api.storage.put(key, b"x" * len(image), "image/png")  # same size, other bytes
    assert (await api.upload(image)).status == 201
    assert await api.storage.get(key) == image


async def test_an_insert_that_fails_with_the_database_leaves_an_entry_the_sweep_settles(
        api: Api, monkeypatch) -> None:
    import asyncpg

    async def database_gone(*args, **kwargs):
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection lost (test)")

    async def nothing_settles(*args, **kwargs):
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection lost (test)")

    monkeypatch.setattr(submission_store, "create", database_gone)
    monkeypatch.setattr(image_sync, "release", nothing_settles)
    image = image_bytes()
    response = await api.upload(image)
    assert response.status == 503 and response.headers["Retry-After"]
    key = image_key(hashlib.sha256(image).hexdigest())
    assert await api.storage.exists(key)  # the outage left it; the entry says so
    monkeypatch.undo()
    assert await images.sweep(api.pool, api.storage, older_than_s=3600) == 0  # still young
    assert await images.sweep(api.pool, api.storage, older_than_s=0) == 1
    await api.assert_untouched()


async def test_the_sweep_keeps_an_image_a_row_refers_to(api: Api) -> None:
    created = await (await api.upload()).json()
    await api.pool.execute("INSERT INTO pending_images (storage_key) VALUES ($1)",
                           created["storageKey"])
    assert await images.sweep(api.pool, api.storage, older_than_s=0) == 0
    assert await api.storage.exists(created["storageKey"])
    assert await api.pool.fetchval("SELECT count(*) FROM pending_images") == 0


async def test_a_storage_failure_on_delete_is_left_to_the_sweep(api: Api, monkeypatch) -> None:
    from touchgrass.errors import StorageError

    created = await (await api.upload()).json()
    real_delete = api.storage.delete

    async def failing(key: str) -> None:
        raise StorageError("storage is read-only (test)")

    monkeypatch.setattr(api.storage, "delete", failing)
    response = await api.client.delete(f"/api/submissions/{created['id']}", headers=ADMIN)
    assert response.status == 204
    assert await api.storage.exists(created["storageKey"])
    monkeypatch.setattr(api.storage, "delete", real_delete)
    assert await images.sweep(api.pool, api.storage, older_than_s=0) == 1
    assert not await api.storage.exists(created["storageKey"])


# ---------------------------------------------------------------- clients that go away

async def test_a_client_that_disconnects_is_one_info_line(api: Api, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO)
    body = (b'--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + b"a" * 10_000)
    with socket.create_connection((api.client.host, api.client.port)) as sock:
        sock.sendall(multipart_request(body, length=1_000_000))
        await asyncio.sleep(0.3)
    for _ in range(50):
        if any(record.message.startswith("client went away") for record in caplog.records):
            break
        await asyncio.sleep(0.1)
    disconnects = [r for r in caplog.records if r.message.startswith("client went away")]
    assert len(disconnects) == 1 and disconnects[0].levelname == "INFO"
    assert not disconnects[0].exc_info
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await api.assert_untouched()


@pytest.mark.parametrize("command", [["status"], ["api"], ["migrate"]])
def test_a_bad_database_port_stops_every_command_with_one_line(command: list[str]) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": "postgresql://u:secret@db:port/touchgrass",
           "ADMIN_PASSWORD": "long-enough-password", "SIGNER_PUBLIC_KEY": "x"}
    result = subprocess.run([sys.executable, "-m", "touchgrass.cli", *command], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL is invalid: has a port that is not" in lines[0]
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


async def test_the_sweep_removes_temporary_files_a_failed_write_left(api: Api) -> None:
    """A folder made read-only mid-write cannot unlink its temp file either: once it is
    writable again, the sweep removes such files (they hold image bytes no row refers to),
    and leaves a young one, which may be a write in progress."""
    import os

    api.storage.root.mkdir(parents=True, exist_ok=True)
    old, young = api.storage.root / "images" / ".tmp-old", api.storage.root / ".tmp-young"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"image bytes")
    young.write_bytes(b"image bytes")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    await image_sync.sweep(api.pool, api.storage, older_than_s=600)
    assert not old.exists() and young.exists()
