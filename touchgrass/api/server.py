"""The HTTP server under the application: how long a client may take, and the answer to a
request too broken to reach the application.

aiohttp answers a request it cannot parse (a bad request line, a control character in a
header) itself, before any middleware, as plain text without our headers, and logs it with a
traceback. Those answers are ours here: the usual JSON error body with the security headers,
and one INFO line, since a malformed request is the client's fault, not an incident.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from touchgrass import logs
from touchgrass.api.http import error_body, respond
from touchgrass.api.middleware import SECURITY_HEADERS

__all__ = ["HEADERS_TIMEOUT_S", "ApiRunner"]

log = logs.get_logger("touchgrass.api")

# A connection must deliver a complete request head within this long of opening (or of the
# previous response): aiohttp's keep-alive timer closes one that is still waiting for it, so
# a half-sent request cannot hold a connection open. Idle keep-alive connections close then too.
HEADERS_TIMEOUT_S = 15.0


class _RequestHandler(RequestHandler):
    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        first_line = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
        text = f"{reason}: {first_line}" if status < 500 and first_line else reason
        log.info("http", "unparseable request from %s: %d %s", request.remote, status,
                 first_line or reason, status=status)
        response = respond(error_body(text), status)
        response.headers.update(SECURITY_HEADERS)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _RequestHandler(self, loop=self._loop, **self._kwargs)


class ApiRunner(web.AppRunner):
    """An AppRunner whose connections answer unparseable requests as the application would,
    time out slow request heads, and never read past a refused body."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=HEADERS_TIMEOUT_S,
                         # After a refusal (a 413 at the cap) the rest of the body is not
                         # read: the connection closes instead of draining it.
                         lingering_time=0, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds its own Server; ours differs only in the handler class it makes.
        server.__class__ = _Server
        return server
