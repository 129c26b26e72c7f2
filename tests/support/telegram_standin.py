"""A stand-in for the Telegram Bot API on loopback (the real one cannot be reached from here):
`POST /bot<token>/sendMessage` in the real wire format, with MarkdownV2 checked as Telegram
parses it (an unescaped reserved character, an unclosed entity: 400 "can't parse
entities"), and answers a test can script (a 429 with `retry_after`, a 403)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

RESERVED = set("_*[]()~`>#+-=|{}.!\\")


class ParseError(ValueError):
    pass


def parse_markdown_v2(text: str) -> str:
    """The plain text of a MarkdownV2 message (entities: *bold*, _italic_, `code`,
    [text](url)); ParseError where Telegram would refuse it."""
    out: list[str] = []
    open_entities: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                raise ParseError("a lone \\ at the end")
            out.append(text[i + 1])
            i += 2
            continue
        if char in "*_":
            if open_entities and open_entities[-1] == char:
                open_entities.pop()
            else:
                open_entities.append(char)
            i += 1
            continue
        if char == "`":
            end = i + 1
            while end < len(text) and text[end] != "`":
                if text[end] == "\\":
                    if end + 1 >= len(text) or text[end + 1] not in "`\\":
                        raise ParseError("in code only ` and \\ may be escaped")
                    out.append(text[end + 1])
                    end += 2
                    continue
                out.append(text[end])
                end += 1
            if end >= len(text):
                raise ParseError("unclosed code")
            i = end + 1
            continue
        if char == "[":
            close = text.find("](", i)
            if close < 0:
                raise ParseError("a [ that starts no link")
            out.append(parse_markdown_v2(text[i + 1:close]))
            end = close + 2
            while end < len(text) and text[end] != ")":
                if text[end] == "\\":
                    if end + 1 >= len(text) or text[end + 1] not in ")\\":
                        raise ParseError("in a link target only ) and \\ may be escaped")
                    end += 2
                    continue
                end += 1
            if end >= len(text):
                raise ParseError("unclosed link")
            i = end + 1
            continue
        if char in RESERVED:
            raise ParseError(f"character '{char}' is reserved and must be escaped with the "
                             "preceding '\\'")
        out.append(char)
        i += 1
    if open_entities:
        raise ParseError(f"can't find end of {open_entities[-1]} entity")
    return "".join(out)


@dataclass
class TelegramStandin:
    token: str
    # answers to give, in order, before the default ok: (HTTP status, body)
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _server: TestServer | None = None

    async def _send_message(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        body = await request.json()
        self.received.append(body)
        if self.script:
            status, answer = self.script.pop(0)
            return web.json_response(answer, status=status)
        try:
            plain = parse_markdown_v2(body["text"]) if body.get("parse_mode") == "MarkdownV2" \
                else body["text"]
        except ParseError as error:
            return web.json_response({"ok": False, "error_code": 400, "description":
                                      f"Bad Request: can't parse entities: {error}"}, status=400)
        body["plain"] = plain
        return web.json_response({"ok": True, "result": {
            "message_id": len(self.received), "chat": {"id": body["chat_id"]}, "text": plain}})

    async def start(self) -> TelegramStandin:
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._send_message)
        self._server = TestServer(app)
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
