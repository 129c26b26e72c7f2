"""Telegram notifications end to end on real PostgreSQL: the API queues one announcement per
new submission while TELEGRAM_ENABLED is true, the notify role (the real worker and lane)
sends it to a loopback stand-in of the Bot API that parses MarkdownV2 as Telegram does;
429 waits its `retry_after`, 403 is rejected with the reason, the token is never logged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.support.api import Api
from tests.support.telegram_standin import TelegramStandin, parse_markdown_v2
from touchgrass.queue.stages import NOTIFY
from touchgrass.roles.notify import make_notify_handler
from touchgrass.roles.runner import Lane, RoleControl, run_lanes
from touchgrass.settings import DatabaseSettings, QueueSettings
from touchgrass.store.notifications import Announcement
from touchgrass.telegram import BotApi, message

pytestmark = pytest.mark.anyio

TOKEN = "123456:standin-secret-token"
FRONTEND = "https://touchgrass.test"


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramStandin]:
    standin = await TelegramStandin(TOKEN).start()
    yield standin
    await standin.close()


async def notify_until(pool: asyncpg.Pool, database_url: str, telegram: TelegramStandin,
                       done: str, *, timeout_s: float = 30) -> None:
    """Run the notify role until `done` (SQL, true when finished) holds."""
    bot = BotApi(telegram.url, TOKEN, "@touchgrass")
    control = RoleControl.new()
    queue = QueueSettings(poll_interval_s=0.2, notify_backoff_base_s=0.1, backoff_jitter=0)
    role = asyncio.create_task(run_lanes(
        "notify", [Lane(NOTIFY, make_notify_handler(pool, bot, FRONTEND))],
        database=DatabaseSettings(database_url=database_url), queue=queue, concurrency=2,
        control=control, handle_signals=False))
    try:
        deadline = time.monotonic() + timeout_s
        while not await pool.fetchval(done):
            assert not role.done(), role.exception()
            assert time.monotonic() < deadline, f"timed out waiting for: {done}"
            await asyncio.sleep(0.05)
    finally:
        control.stop.set()
        await role
        await bot.close()


async def upload(api: Api, **fields: str) -> dict:
    response = await api.upload(**fields)
    assert response.status == 201, await response.text()
    return await response.json()


async def test_one_message_per_submission_and_none_while_disabled(
        make_api, database_url: str, telegram: TelegramStandin) -> None:
    enabled = await make_api(telegram_enabled=True)
    photos = [await upload(enabled) for _ in range(2)]
    disabled = await make_api(telegram_enabled=False)
    await upload(disabled)  # nothing is queued for this one
    assert await enabled.pool.fetchval("SELECT count(*) FROM notifications") == 2
    await notify_until(enabled.pool, database_url, telegram,
                       "SELECT count(*) = 2 FROM notifications WHERE status = 'sent'")
    assert len(telegram.received) == 2
    links = {f"{FRONTEND}/chain/{p['chainId']}?submission={p['id']}" for p in photos}
    assert {m["text"].split("](")[1].rstrip(")") for m in telegram.received} == links
    assert all(m["chat_id"] == "@touchgrass" and m["parse_mode"] == "MarkdownV2"
               for m in telegram.received)
    # once per submission: running the role again sends nothing more
    await notify_until(enabled.pool, database_url, telegram, "SELECT true")
    await asyncio.sleep(0.5)
    assert len(telegram.received) == 2


async def test_a_429_waits_its_retry_after_without_using_an_attempt(
        make_api, database_url: str, telegram: TelegramStandin) -> None:
    api = await make_api(telegram_enabled=True)
    await upload(api)
    telegram.script = [(429, {"ok": False, "error_code": 429,
                              "description": "Too Many Requests: retry after 1",
                              "parameters": {"retry_after": 1}})]
    started = time.monotonic()
    await notify_until(api.pool, database_url, telegram,
                       "SELECT status = 'sent' FROM notifications")
    assert time.monotonic() - started >= 1.0  # it waited what Telegram asked
    assert len(telegram.received) == 2
    assert await api.pool.fetchval("SELECT attempts FROM notifications") == 0


async def test_a_403_is_rejected_with_the_reason_and_not_retried(
        make_api, database_url: str, telegram: TelegramStandin, caplog) -> None:
    api = await make_api(telegram_enabled=True)
    await upload(api)
    telegram.script = [(403, {"ok": False, "error_code": 403,
                              "description": "Forbidden: bot is not a member of the channel "
                                             "chat"})]
    with caplog.at_level(logging.DEBUG):
        await notify_until(api.pool, database_url, telegram,
                           "SELECT status = 'rejected' FROM notifications")
    row = await api.pool.fetchrow("SELECT failure_reason, attempts FROM notifications")
    assert "403" in row["failure_reason"] and "not a member" in row["failure_reason"]
    assert len(telegram.received) == 1
    assert "standin-secret" not in our_logs(caplog)


async def test_an_unreachable_api_is_retried_and_never_shows_the_token(
        make_api, database_url: str, caplog) -> None:
    api = await make_api(telegram_enabled=True)
    await upload(api)
    nowhere = TelegramStandin(TOKEN)
    nowhere.url = "http://127.0.0.1:1"  # nothing listens: connection refused
    with caplog.at_level(logging.DEBUG):
        await notify_until(api.pool, database_url, nowhere,
                           "SELECT attempts >= 1 AND failure_reason IS NOT NULL "
                           "AND lease_owner IS NULL FROM notifications")
    reason = await api.pool.fetchval("SELECT failure_reason FROM notifications")
    assert "could not be reached" in reason
    assert "standin-secret" not in reason and "standin-secret" not in our_logs(caplog)


def our_logs(caplog) -> str:
    """Everything touchgrass logged (messages, fields, tracebacks); the stand-in server's own
    access log, which shows the token in its path as Telegram's servers would, is not ours."""
    return "\n".join(f"{r.getMessage()} {vars(r)} {r.exc_text or ''}" for r in caplog.records
                     if r.name.startswith("touchgrass"))


def test_the_message_escapes_every_reserved_character_and_truncates_validly() -> None:
    import uuid

    tagline = "grass_*[]()~`>#+-=|{}.! and a \\ backslash"
    facts = Announcement(uuid.uuid4(), uuid.uuid4(), "B62qmWaDBM3y6VPaWgvE9ZxtRGxm4bKmDdG9aZ"
                         "tWNYd4bxXWvC6Skm1", tagline, "." * 300 + "!", "Main_chain (1)")
    text = message(facts, FRONTEND)
    plain = parse_markdown_v2(text)  # Telegram would accept it
    assert tagline in plain and "Main_chain (1)" in plain
    assert "B62q...Skm1" in plain
    title_line = next(line for line in plain.splitlines() if line.startswith("Challenge:"))
    assert title_line.endswith("…") and len(title_line) <= len("Challenge: ") + 200
    assert text.endswith(f"({FRONTEND}/chain/{facts.chain_id}?submission={facts.submission_id})")
    # the old bug, for the record: escaping then cutting at 200 splits an escape
    escaped_then_cut = ("\\." * 300)[:199]
    with pytest.raises(ValueError):
        parse_markdown_v2(escaped_then_cut)
    no_tagline = message(Announcement(facts.submission_id, facts.chain_id, "B62q", None,
                                      "t", "c"), FRONTEND)
    assert "💬" not in no_tagline and parse_markdown_v2(no_tagline)


def test_notify_without_a_token_stops_with_one_line(database_url: str, monkeypatch) -> None:
    from typer.testing import CliRunner

    from touchgrass.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["notify"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "TELEGRAM_BOT_TOKEN" in errors[0]
    assert "Traceback" not in result.output
