"""What every request and response gets: a correlation id, JSON errors, CORS and security
headers, and one structured access-log line."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from touchgrass import logs, metrics
from touchgrass.api.context import CORRELATION_ID, context
from touchgrass.api.http import STATUS_FOR, ApiError, check_text, error_body, respond
from touchgrass.errors import Conflict, InvalidInput, NotFound, StorageError

__all__ = ["decorate_response", "edge", "errors"]

log = logs.get_logger("touchgrass.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
_HEADERS = "Content-Type, Authorization, X-Correlation-Id"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
    # Images are embedded by the web app from another origin.
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-DNS-Prefetch-Control": "off",
    "Strict-Transport-Security": "max-age=15552000; includeSubDomains",
}
# How long a client should wait before retrying when the database or storage is down.
RETRY_AFTER_S = 5
# What asyncpg raises when the database cannot be reached or stops answering: the request
# was fine, the service is not, so 503 with Retry-After (a pool-acquire or statement timeout
# arrives as TimeoutError).
_DATABASE_DOWN = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                  asyncpg.exceptions.CannotConnectNowError,
                  asyncpg.exceptions.OperatorInterventionError,
                  asyncpg.exceptions.InsufficientResourcesError,
                  # A pooled connection whose server died mid-operation refuses the next one.
                  asyncpg.exceptions.InternalClientError,
                  TimeoutError, ConnectionRefusedError)


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Correlation id in, preflight answered, one access-log line out."""
    supplied = request.headers.get("X-Correlation-Id", "")
    correlation_id = supplied if _CORRELATION.match(supplied) else str(uuid.uuid4())
    request[CORRELATION_ID] = correlation_id
    started = time.perf_counter()
    status = 500
    with logs.bind(correlation_id=correlation_id):
        try:
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
                response: web.StreamResponse = web.Response(status=204)
            else:
                response = await handler(request)
            status = response.status
            return response
        except (ConnectionError, asyncio.CancelledError):
            # A client that goes away is routine: one INFO line, no traceback. (A handler is
            # cancelled, rather than seeing the reset, when the server runs with
            # handler_cancellation; a response being written sees "Connection lost", a plain
            # ConnectionError.) A cancellation with the client still there is a shutdown.
            if request.transport is None or request.transport.is_closing():
                status = 499  # nginx's code for "client closed the request"
                log.info("disconnect", "client went away during %s %s", request.method,
                         request.path)
            raise
        finally:
            elapsed = time.perf_counter() - started
            log.info("http", "%s %s %d", request.method, request.path, status,
                     method=request.method, path=request.path, status=status,
                     duration_ms=round(elapsed * 1000, 1))
            route = _route_template(request)
            method = request.method if request.method in _COUNTED_METHODS else "OTHER"
            metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
            metrics.HTTP_SECONDS.labels(route, method).observe(elapsed)


# The methods a label may carry; anything else a client invents is counted as OTHER.
_COUNTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route_template(request: web.Request) -> str:
    """The route's template (`/api/submissions/{id}`), never the path itself: a label must
    stay bounded whatever clients ask for."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes `{"error": {...}}`; nothing internal ever reaches the client."""
    try:
        _check_url_text(request)
        return await handler(request)
    except ApiError as error:
        response = respond(error_body(error.message, error.field), error.status, error.headers)
        if error.close:
            response.force_close()
        return response
    except (InvalidInput, NotFound, Conflict) as error:
        return respond(error_body(error.message, getattr(error, "field", None)),
                       STATUS_FOR[type(error)])
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        # The old (Express) server's answer for any route it does not have.
        return respond(error_body(f"Cannot {request.method} {request.path}", code="NOT_FOUND"),
                       404)
    except web.HTTPRequestEntityTooLarge:
        return respond(error_body("Request body too large"), 413)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return respond(error_body(error.reason), error.status)
    except ConnectionError as error:
        if request.transport is None or request.transport.is_closing():
            raise  # the client went away; the edge logs it as such
        if isinstance(error, ConnectionResetError | ConnectionRefusedError):
            return _unavailable(request, "database", type(error).__name__)
        return _internal_error(request)
    except _DATABASE_DOWN as error:
        return _unavailable(request, "database", type(error).__name__)
    except StorageError as error:
        return _unavailable(request, "storage", str(error))
    except asyncio.CancelledError:
        raise
    except Exception:
        return _internal_error(request)


def _internal_error(request: web.Request) -> web.Response:
    """A bug: logged with its traceback (inside the `except`), never shown to the client."""
    log.error("error", "unhandled error in %s %s", request.method, request.path,
              exc_info=True)
    return respond(error_body("Internal server error"), 500)


def _check_url_text(request: web.Request) -> None:
    """Path segments and query values reach SQL as text: refuse what text cannot hold."""
    for name, value in request.match_info.items():
        check_text(value, name)
    for name, value in request.query.items():
        check_text(name, name)
        check_text(value, name)


_UNAVAILABLE = {"database": "The database is unavailable, try again shortly",
                "storage": "Image storage is unavailable, try again shortly"}


def _unavailable(request: web.Request, dependency: str, detail: str) -> web.Response:
    """A 503 the client may retry; one log line with what failed (never a traceback)."""
    log.warning("unavailable", "%s unavailable during %s %s: %s", dependency, request.method,
                request.path, detail, dependency=dependency)
    return respond(error_body(_UNAVAILABLE[dependency]), 503,
                   {"Retry-After": str(RETRY_AFTER_S)})


async def decorate_response(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: headers every response carries, streamed ones included."""
    response.headers.update(SECURITY_HEADERS)
    if CORRELATION_ID in request:
        response.headers["X-Correlation-Id"] = request[CORRELATION_ID]
    origins = context(request).settings.cors_origins
    origin = request.headers.get("Origin")
    if "*" in origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
        return _allow(request, response)
    # The answer depends on Origin whether or not this one is allowed: a cache must not hand
    # an allowed origin's answer to another, nor a refused one's to an allowed origin.
    if "Origin" not in response.headers.getall("Vary", []):
        response.headers.add("Vary", "Origin")
    if not origin or origin not in origins:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    _allow(request, response)


def _allow(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Access-Control-Expose-Headers"] = "X-Correlation-Id"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = _METHODS
        response.headers["Access-Control-Allow-Headers"] = _HEADERS
        response.headers["Access-Control-Max-Age"] = "86400"
