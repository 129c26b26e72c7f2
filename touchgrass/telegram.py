"""Telegram: the announcement of a new submission (MarkdownV2) and the one Bot API call we make.

The old worker's message, with its bugs fixed: every MarkdownV2 reserved character is
escaped, `\\` included (first, so the escapes are not escaped again); text is shortened
*before* it is escaped, so a cut never splits an escape; the code span and the link target
escape what their own contexts reserve; the link goes to the photo in its chain.

The bot token is part of every Bot API URL, so no error raised here carries a URL or the
client library's own message: an HTTP failure is named by its kind and status only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from touchgrass.store.notifications import Announcement

__all__ = ["Answer", "BotApi", "escape", "message", "shorten_wallet"]

# Every character MarkdownV2 reserves outside code and links (Bot API, "MarkdownV2 style").
_RESERVED = re.compile(r"([\\_*\[\]()~`>#+\-=|{}.!])")
# Inside `code`: only ` and \. Inside the (...) of a link: only ) and \.
_IN_CODE = re.compile(r"([\\`])")
_IN_LINK = re.compile(r"([\\)])")
MAX_FIELD = 200  # characters of a title, a chain name or a tagline, before escaping


def escape(text: str) -> str:
    """`text` as literal MarkdownV2 text."""
    return _RESERVED.sub(r"\\\1", text)


def _short(text: str, limit: int = MAX_FIELD) -> str:
    """At most `limit` characters, shortened with an ellipsis (before escaping, so the
    escaped text stays valid)."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def shorten_wallet(address: str) -> str:
    """B62qmWaD...Skm1 -> B62q...Skm1: the first and the last four characters."""
    return address if len(address) <= 12 else f"{address[:4]}...{address[-4:]}"


def message(facts: Announcement, frontend_url: str) -> str:
    """The channel's message for one new submission."""
    link = f"{frontend_url}/chain/{facts.chain_id}?submission={facts.submission_id}"
    wallet = _IN_CODE.sub(r"\\\1", shorten_wallet(facts.wallet_address))
    lines = [
        "🆕 *New Submission*",
        "",
        f"*Challenge:* {escape(_short(facts.challenge_title))}",
        f"*Chain:* {escape(_short(facts.chain_name))}",
        f"*User:* `{wallet}`",
        "",
    ]
    if facts.tagline:
        lines += [f'💬 _"{escape(_short(facts.tagline))}"_', ""]
    target = _IN_LINK.sub(r"\\\1", link)
    lines.append(f"🔗 [View Submission]({target})")
    return "\n".join(lines)


@dataclass(frozen=True)
class Answer:
    """What the Bot API said: `ok`, or why not and, on a 429, when to come back."""

    ok: bool
    status: int
    description: str = ""
    retry_after_s: float | None = None


class BotApi:
    """`sendMessage` to one chat, over one HTTP session."""

    def __init__(self, api_url: str, token: str, chat_id: str, *,
                 timeout_s: float = 20.0) -> None:
        self._url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self._chat_id = chat_id
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def send(self, text: str) -> Answer:
        """Post `text` (MarkdownV2). Raises ConnectionError, naming no URL, when the API
        cannot be reached or answers something that is not the Bot API's JSON."""
        body = {"chat_id": self._chat_id, "text": text, "parse_mode": "MarkdownV2",
                "link_preview_options": {"is_disabled": True}}
        try:
            async with self._session.post(self._url, json=body) as response:
                status = response.status
                answer: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise ConnectionError(f"the Telegram Bot API could not be reached or did not "
                                  f"answer JSON ({type(error).__name__})") from None
        if not isinstance(answer, dict):
            raise ConnectionError(f"the Telegram Bot API answered HTTP {status} without JSON")
        parameters = answer.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        return Answer(ok=answer.get("ok") is True, status=status,
                      description=str(answer.get("description", ""))[:300],
                      retry_after_s=float(retry_after)
                      if isinstance(retry_after, int | float) and retry_after >= 0 else None)

    async def close(self) -> None:
        await self._session.close()
