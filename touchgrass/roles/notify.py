"""`touchgrass notify`: announces each new submission on a Telegram channel, once.

The API queues a `notifications` row with each new submission while TELEGRAM_ENABLED is
true; this role claims them with the same engine as every stage. What the Bot API answers
decides the outcome: ok is done; 429 waits what its `retry_after` says (no attempt used);
400 and 403 (a bad message, a bot not allowed in the channel) are rejected with Telegram's
reason, since sending the same thing again cannot help; anything else is retried with the
stage's backoff.
"""

from __future__ import annotations

import asyncpg

from touchgrass import db, logs
from touchgrass.errors import ConfigError
from touchgrass.queue.engine import Claimed
from touchgrass.queue.outcomes import Done, Outcome, Reject, Retry
from touchgrass.queue.payloads import NotifyPayload, read_payload
from touchgrass.queue.stages import NOTIFY
from touchgrass.queue.worker import Handler
from touchgrass.roles.runner import Lane, run_lanes
from touchgrass.settings import DatabaseSettings, QueueSettings, TelegramSettings
from touchgrass.store import notifications
from touchgrass.telegram import BotApi, message

__all__ = ["make_notify_handler", "run"]

log = logs.get_logger(__name__)

# Answers that sending the same message again cannot change.
_REFUSED = {400, 403}


def make_notify_handler(pool: asyncpg.Pool, bot: BotApi, frontend_url: str) -> Handler:
    async def announce(job: Claimed) -> Outcome:
        row = read_payload(NotifyPayload, job.payload)
        facts = await notifications.announcement(pool, row.submission_id)
        if facts is None:
            return Reject("the submission no longer exists")
        answer = await bot.send(message(facts, frontend_url))
        if answer.ok:
            return Done()
        reason = f"Telegram answered {answer.status}: {answer.description or 'no description'}"
        if answer.status == 429:
            # not the message's fault: come back when Telegram says, without using an attempt
            return Retry(reason, consume_attempt=False, after_s=answer.retry_after_s or 1.0)
        if answer.status in _REFUSED:
            return Reject(reason)
        return Retry(reason)

    return announce


async def run(*, database: DatabaseSettings, queue: QueueSettings, telegram: TelegramSettings,
              concurrency: int) -> None:
    """Claim and send announcements until stopped."""
    if telegram.telegram_bot_token is None or not telegram.telegram_channel_id:
        raise ConfigError("TELEGRAM_BOT_TOKEN and TELEGRAM_CHANNEL_ID are required by "
                          "`touchgrass notify`")
    if not telegram.telegram_enabled:
        log.warning("notify", "TELEGRAM_ENABLED is false: the API queues no announcements, "
                    "so only those queued earlier will be sent")
    bot = BotApi(telegram.telegram_api_url, telegram.telegram_bot_token.get_secret_value(),
                 telegram.telegram_channel_id)
    pool = await db.create_pool(database.asyncpg_dsn, size=2,
                                application_name="touchgrass-notify-lookups")
    try:
        await run_lanes("notify", [Lane(NOTIFY, make_notify_handler(
            pool, bot, telegram.frontend_url))], database=database, queue=queue,
            concurrency=concurrency)
    finally:
        await pool.close()
        await bot.close()
