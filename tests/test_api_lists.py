"""Lists: keyset pages on request, the whole list streamed otherwise, and plans that stay
flat at any depth."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC

import aiohttp
import asyncpg
import pytest

from tests.support.api import ADMIN, OTHER_WALLET, WALLET, Api
from touchgrass.api import pages
from touchgrass.store import chains, challenges, keyset, likes, submissions

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(make_api) -> Api:
    return await make_api()


async def seed_submissions(pool: asyncpg.Pool, chain_id: str, count: int, *,
                           same_instant: bool = False, status: str = "complete",
                           wallet: str = WALLET, spacing_s: int = 1) -> None:
    """`count` submissions in the chain: one per second into the past, or all in one instant
    (so only the id orders them)."""
    await pool.execute("INSERT INTO users (wallet_address) VALUES ($1) ON CONFLICT DO NOTHING",
                       wallet)
    await pool.execute(
        """INSERT INTO submissions (sha256_hash, wallet_address, signature, challenge_id,
                                    chain_id, storage_key, chain_position, status, created_at)
           SELECT encode(sha256(($4 || n)::bytea), 'hex'), $1, '{"r":"1","s":"2"}',
                  c.challenge_id, c.id, 'images/x' || n, c.length + n, $5,
                  CASE WHEN $3 THEN now() ELSE now() - n * $7 * interval '1 second' END
           FROM chains c, generate_series(1, $2) AS n WHERE c.id = $6""",
        wallet, count, same_instant, str(uuid.uuid4()), status, uuid.UUID(chain_id), spacing_s)
    await pool.execute("UPDATE chains SET length = length + $1 WHERE id = $2", count,
                       uuid.UUID(chain_id))


def next_link(response: aiohttp.ClientResponse) -> str | None:
    header = response.headers.get("Link")
    if header is None:
        return None
    match = re.fullmatch(r'<(\?[^>]+)>; rel="next"', header)
    assert match, header
    return match.group(1)


async def walk(api: Api, path: str, limit: int) -> tuple[list[dict], int]:
    """Follow the Link headers from the first page to the last; (items, pages)."""
    items: list[dict] = []
    url: str | None = f"{path}{'&' if '?' in path else '?'}limit={limit}"
    count = 0
    while url is not None:
        response = await api.client.get(url)
        assert response.status == 200, await response.text()
        page = await response.json()
        assert isinstance(page, list) and len(page) <= limit
        items += page
        count += 1
        link = next_link(response)
        url = None if link is None else path.split("?")[0] + link
    return items, count


# ---------------------------------------------------------------- pages


async def test_pages_walk_the_whole_list_in_its_order(api: Api) -> None:
    await seed_submissions(api.pool, api.chain_id, 25)
    whole = await (await api.client.get(f"/api/submissions?chainId={api.chain_id}")).json()
    paged, count = await walk(api, f"/api/submissions?chainId={api.chain_id}", 10)
    assert count == 3  # 10 + 10 + 5, and the last page names no next one
    assert [s["id"] for s in paged] == [s["id"] for s in whole]
    assert len({s["id"] for s in paged}) == 25
    created = [s["createdAt"] for s in paged]
    assert created == sorted(created, reverse=True)


async def test_a_list_that_fits_one_page_has_no_link(api: Api) -> None:
    await seed_submissions(api.pool, api.chain_id, 10)
    response = await api.client.get("/api/submissions?limit=10")
    assert len(await response.json()) == 10 and "Link" not in response.headers
    response = await api.client.get("/api/submissions?limit=9")
    assert len(await response.json()) == 9 and next_link(response)


async def test_rows_written_in_one_instant_are_paged_by_id_without_loss(api: Api) -> None:
    await seed_submissions(api.pool, api.chain_id, 30, same_instant=True)
    paged, _ = await walk(api, "/api/submissions", 7)
    assert len({s["id"] for s in paged}) == 30


async def test_the_link_keeps_the_filters(api: Api) -> None:
    await seed_submissions(api.pool, api.chain_id, 6, status="complete")
    await seed_submissions(api.pool, api.chain_id, 6, status="rejected")
    response = await api.client.get(f"/api/submissions?status=rejected&chainId={api.chain_id}"
                                    "&limit=4")
    link = next_link(response)
    assert link and "status=rejected" in link and f"chainId={api.chain_id}" in link
    rest = await (await api.client.get("/api/submissions" + link)).json()
    assert len(rest) == 2 and {s["status"] for s in rest} == {"rejected"}


async def test_rows_added_while_paging_neither_repeat_nor_shift_pages(api: Api) -> None:
    await seed_submissions(api.pool, api.chain_id, 10)
    first = await api.client.get("/api/submissions?limit=5")
    seen = [s["id"] for s in await first.json()]
    await seed_submissions(api.pool, api.chain_id, 3, same_instant=True)  # newer than all
    rest = await (await api.client.get("/api/submissions" + next_link(first))).json()
    assert len(rest) == 5 and not set(seen) & {s["id"] for s in rest}


async def test_every_list_pages(api: Api) -> None:
    for n in range(5):
        response = await api.client.post("/api/challenges", headers=ADMIN, json={
            "title": f"c{n}", "description": "d", "startTime": f"2020-01-0{n + 1}T00:00:00Z",
            "endTime": "2999-01-01T00:00:00Z"})
        assert response.status == 201
    challenges_paged, count = await walk(api, "/api/challenges", 2)
    assert count == 3 and len(challenges_paged) == 6  # five and the fixture's
    starts = [c["startTime"] for c in challenges_paged]
    assert starts == sorted(starts, reverse=True)
    active, _ = await walk(api, "/api/challenges/active", 2)
    assert len(active) == 6
    chains_paged, _ = await walk(api, "/api/chains", 4)
    assert len(chains_paged) == 6
    created = [c["createdAt"] for c in chains_paged]
    assert created == sorted(created)
    one, _ = await walk(api, f"/api/chains?challengeId={api.challenge_id}", 4)
    assert [c["id"] for c in one] == [api.chain_id]

    upload = await api.upload()
    submission_id = (await upload.json())["id"]
    wallets = [(await api.client.post("/api/users", json={"walletAddress": w})).status
               for w in _wallets(5)]
    assert set(wallets) == {201}
    for wallet in _wallets(5):
        response = await api.client.post(f"/api/submissions/{submission_id}/likes",
                                         json={"walletAddress": wallet})
        assert response.status == 201
    likes_paged, count = await walk(api, f"/api/submissions/{submission_id}/likes", 2)
    assert count == 3 and len({like["id"] for like in likes_paged}) == 5


def _wallets(count: int) -> list[str]:
    from touchgrass import mina

    found, x = [], 1
    while len(found) < count:
        x += 1
        address = mina.encode_address(x, 0)
        if mina.is_valid_address(address):
            found.append(address)
    return found


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"), ("limit=-1", "limit"),
    ("limit=%EF%BC%91", "limit"),  # a full-width digit one
    ("after=abc", "after"), ("after=" + "A" * 31 + "%00", "after"),
    ("limit=5&after=" + "_" * 33, "after"),
])
async def test_a_bad_limit_or_cursor_is_a_400_naming_it(api: Api, query: str, field: str) -> None:
    for path in ("/api/submissions", "/api/challenges", "/api/chains",
                 "/api/submissions?chainId=not-a-uuid"):
        response = await api.client.get(f"{path}{'&' if '?' in path else '?'}{query}")
        assert response.status == 400, (path, query)
        assert (await response.json())["error"]["field"] == field


def test_a_cursor_round_trips_its_key() -> None:
    from datetime import datetime

    key = keyset.Key(datetime(2026, 12, 2, 8, 30, 1, 123456, tzinfo=UTC), uuid.uuid4())
    cursor = pages.encode_cursor(key)
    assert re.fullmatch(pages.CURSOR_PATTERN, cursor)
    assert pages.decode_cursor(cursor) == key


# ---------------------------------------------------------------- the whole list, streamed


async def test_without_limit_the_whole_list_is_streamed_in_batches(api: Api,
                                                                   monkeypatch) -> None:
    monkeypatch.setattr(pages, "STREAM_BATCH", 7)
    calls: list[int] = []
    real_page = submissions.page

    async def counting_page(*args, **kwargs):
        rows = await real_page(*args, **kwargs)
        calls.append(len(rows))
        return rows

    monkeypatch.setattr(submissions, "page", counting_page)
    await seed_submissions(api.pool, api.chain_id, 30)
    response = await api.client.get("/api/submissions")
    assert response.headers.get("Transfer-Encoding") == "chunked"
    body = await response.json()
    assert len(body) == 30 and len({s["id"] for s in body}) == 30
    # Batches are read concurrently (they may finish in any order) but written in order.
    assert sorted(calls) == [2, 7, 7, 7, 7]
    paged, _ = await walk(api, "/api/submissions", 30)
    assert [s["id"] for s in body] == [s["id"] for s in paged]
    # A list that ends exactly at a batch boundary, and an empty one, are still valid JSON.
    calls.clear()
    await api.pool.execute("DELETE FROM submissions WHERE id IN "
                           "(SELECT id FROM submissions LIMIT 2)")
    assert len(await (await api.client.get("/api/submissions")).json()) == 28
    assert sorted(calls) == [0, 7, 7, 7, 7]
    assert await (await api.client.get("/api/submissions?walletAddress=B62qnobody")).json() == []


async def test_a_client_that_goes_away_stops_the_reading(api: Api, monkeypatch) -> None:
    monkeypatch.setattr(pages, "STREAM_BATCH", 5)
    calls: list[int] = []
    real_page = submissions.page

    async def slow_page(*args, **kwargs):
        calls.append(1)
        await asyncio.sleep(0.05)
        return await real_page(*args, **kwargs)

    monkeypatch.setattr(submissions, "page", slow_page)
    await seed_submissions(api.pool, api.chain_id, 200)  # 40 batches
    response = await api.client.get("/api/submissions")
    await response.content.read(10)
    response.close()
    await asyncio.sleep(0.6)
    stopped_at = len(calls)
    await asyncio.sleep(0.3)
    assert len(calls) == stopped_at < 20


async def test_a_failure_mid_stream_cuts_the_body_instead_of_ending_it(api: Api,
                                                                        monkeypatch) -> None:
    monkeypatch.setattr(pages, "STREAM_BATCH", 5)
    real_page = submissions.page
    calls: list[int] = []

    async def failing_page(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise asyncpg.PostgresConnectionError("the database went away")
        return await real_page(*args, **kwargs)

    monkeypatch.setattr(submissions, "page", failing_page)
    await seed_submissions(api.pool, api.chain_id, 30)
    response = await api.client.get("/api/submissions")
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()


async def test_a_failure_before_the_first_byte_is_an_error_answer(api: Api,
                                                                   monkeypatch) -> None:
    async def boom(*args, **kwargs):
        raise RuntimeError("SELECT secret")

    monkeypatch.setattr(submissions, "page", boom)
    response = await api.client.get("/api/submissions")
    assert response.status == 500
    assert await response.json() == {"error": {"message": "Internal server error"}}


async def test_the_sql_representation_matches_the_contract(api: Api) -> None:
    upload = await api.upload(override={"tagline": 'He said "hi" \\ ünïcode'})
    created = await upload.json()
    listed = (await (await api.client.get("/api/submissions")).json())[0]
    got = await (await api.client.get(f"/api/submissions/{created['id']}")).json()
    assert created == listed == got
    assert got["tagline"] == 'He said "hi" \\ ünïcode'
    assert json.loads(got["signature"]).keys() == {"r", "s"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", got["createdAt"])
    for absent in ("transactionId", "failureReason", "tokenOwnerAddress", "chainStatus",
                   "transactionSubmittedBlockHeight"):
        assert absent not in got
    await api.pool.execute("UPDATE submissions SET tagline = '', transaction_id = '5Jtx', "
                           "chain_status = 'pending', transaction_submitted_block_height = 7")
    got = await (await api.client.get(f"/api/submissions/{created['id']}")).json()
    assert "tagline" not in got
    assert (got["transactionId"], got["chainStatus"], got["transactionSubmittedBlockHeight"]) \
        == ("5Jtx", "pending", 7)


# ---------------------------------------------------------------- plans


def _plan_uses(plan: str, index: str) -> None:
    assert index in plan, plan
    assert "Sort" not in plan, plan  # the index gives the order: no sort of the whole match
    assert "Offset" not in plan


@pytest.mark.parametrize("filter_name, value, index", [
    (None, None, "submissions_list_order"),
    ("wallet_address", WALLET, "submissions_list_by_wallet"),
    ("chain_id", "chain", "submissions_list_by_chain"),
    ("challenge_id", "challenge", "submissions_list_by_challenge"),
    ("status", "complete", "submissions_list_by_status"),
])
async def test_a_submission_page_reads_its_filters_index_from_the_key(
        api: Api, filter_name, value, index) -> None:
    # The filtered rows are a tenth of the table and spread over the same time, as a
    # filter's would be in production; the key is in the middle of them.
    await seed_submissions(api.pool, api.chain_id, 500, spacing_s=10)
    _, other_chain = await api.make_challenge()
    await seed_submissions(api.pool, other_chain, 5000, status="rejected", wallet=OTHER_WALLET)
    await api.pool.execute("ANALYZE submissions")
    value = {"chain": uuid.UUID(api.chain_id),
             "challenge": uuid.UUID(api.challenge_id)}.get(value, value)
    where = keyset.Conditions().after(submissions._PAGE_AFTER, keyset.Key(
        await api.pool.fetchval("SELECT created_at FROM submissions WHERE chain_id = $1 "
                                "ORDER BY created_at LIMIT 1 OFFSET 250",
                                uuid.UUID(api.chain_id)), uuid.uuid4()))
    if filter_name:
        where.where(submissions._PAGE_FILTERS[filter_name], value)
    statement = where.statement(submissions.SUBMISSION_PAGE)
    async with api.pool.acquire() as connection:
        for _ in range(6):  # past the switch to a generic plan
            rows = await connection.fetch("EXPLAIN " + statement, 101, *where.arguments)
    _plan_uses("\n".join(r[0] for r in rows), index)


async def test_the_other_pages_read_their_index_from_the_key(api: Api) -> None:
    pool = api.pool
    await pool.execute(
        "INSERT INTO challenges (title, description, start_time, end_time) "
        "SELECT 'c', 'd', now() - n * interval '1 minute', now() + interval '1 day' "
        "FROM generate_series(1, 3000) AS n")
    await pool.execute("INSERT INTO chains (name, challenge_id, created_at) "
                       "SELECT 'x', CASE WHEN n % 10 = 0 THEN $1::uuid ELSE "
                       "       (SELECT id FROM challenges WHERE title = 'c' LIMIT 1) END, "
                       "       now() - n * interval '1 second' "
                       "FROM generate_series(1, 6000) AS n", uuid.UUID(api.challenge_id))
    await seed_submissions(pool, api.chain_id, 1)
    submission_id = await pool.fetchval("SELECT id FROM submissions LIMIT 1")
    await pool.execute("INSERT INTO users (wallet_address) SELECT 'w' || n "
                       "FROM generate_series(1, 3000) AS n")
    await pool.execute("INSERT INTO likes (submission_id, wallet_address) "
                       "SELECT $1, 'w' || n FROM generate_series(1, 3000) AS n", submission_id)
    await pool.execute("ANALYZE")
    # A key with most rows still to come: newest-first lists go back, chains go forward.
    key = keyset.Key(await pool.fetchval("SELECT now() - interval '25 minutes'"), uuid.uuid4())
    chain_key = keyset.Key(await pool.fetchval("SELECT now() - interval '95 minutes'"),
                           uuid.uuid4())
    cases = [
        (keyset.Conditions().after(challenges._PAGE_AFTER, key), challenges.CHALLENGE_PAGE,
         "challenges_list_order"),
        (keyset.Conditions().where(challenges._PAGE_ACTIVE).after(challenges._PAGE_AFTER, key),
         challenges.CHALLENGE_PAGE, "challenges_list_order"),
        (keyset.Conditions().after(chains._PAGE_AFTER, chain_key), chains.CHAIN_PAGE,
         "chains_list_order"),
        (keyset.Conditions().after(chains._PAGE_AFTER, chain_key).where(
            chains._PAGE_CHALLENGE, uuid.UUID(api.challenge_id)), chains.CHAIN_PAGE,
         "chains_list_by_challenge"),
        (keyset.Conditions().where(likes._PAGE_SUBMISSION, submission_id).after(
            likes._PAGE_AFTER, key), likes.LIKE_PAGE, "likes_list_order"),
    ]
    for where, template, index in cases:
        async with pool.acquire() as connection:
            for _ in range(6):
                rows = await connection.fetch("EXPLAIN " + where.statement(template), 101,
                                              *where.arguments)
        _plan_uses("\n".join(r[0] for r in rows), index)
        # The key predicate is in the index condition: it starts at the key, it does not
        # read from the top and filter.
        assert "Index Cond" in "\n".join(r[0] for r in rows)


async def test_page_end_names_the_last_key_of_a_full_page(api: Api) -> None:
    await seed_submissions(api.pool, api.chain_id, 12, same_instant=True)
    filters = submissions.ListFilters(chain_id=uuid.UUID(api.chain_id))
    first = await submissions.page(api.pool, filters, after=None, limit=5)
    assert await submissions.page_end(api.pool, filters, after=None, limit=5) == first[-1][0]
    second = await submissions.page(api.pool, filters, after=first[-1][0], limit=5)
    assert await submissions.page_end(api.pool, filters, after=first[-1][0], limit=5) \
        == second[-1][0]
    # Two rows are left after the second page: not a full page, so no end.
    assert await submissions.page_end(api.pool, filters, after=second[-1][0], limit=5) is None
