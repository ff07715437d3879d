"""Limits per request: the body size (a JSON 413 before an oversized body is held in memory) and the request
rate per client address and per key, with a lockout after repeated wrong keys (429 with `Retry-After`)."""

from __future__ import annotations

import hashlib
import math
import time

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodyLimit", "BodyTooLarge", "RateLimit"]

MAX_BODY_BYTES = 32 * 1024 * 1024
"""Room for a full batch of 10,000 feedback rows of a few hundred characters each, JSON-escaped."""


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE,
                         f"body: larger than {limit // (1024 * 1024)} MiB; send the rows in smaller batches")


class BodyLimit:
    """ASGI middleware: refuse a declared `Content-Length` over the limit at once, and count streamed bytes.

    Raised while a route reads its body, `BodyTooLarge` reaches the app's HTTP error handler like any 4xx.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            return message

        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracking)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = BodyTooLarge(self.max_bytes)
        await JSONResponse({"detail": exc.detail}, exc.status_code)(scope, receive, send)


class RateLimit:
    """ASGI middleware: per-IP and per-key request rates, and a lockout of an IP after repeated wrong keys.

    Built on `limits` (moving windows) with its in-memory storage: each server process counts on its own, so
    with `--workers N` a client gets up to N times the rate; a shared storage (`limits` supports Redis and
    memcached) would make the count global. Over the limit: 429 with `Retry-After` (seconds). A locked IP
    gets 429 on every keyed route until its oldest wrong key leaves the window. Keys are counted by a hash,
    never held in clear; the client address is the socket peer (run behind a proxy with uvicorn's
    `--proxy-headers` to count the real clients). Probes (`/healthz`, `/readyz`, `/metrics`) are not limited.
    """

    EXEMPT = ("/healthz", "/readyz", "/metrics")

    def __init__(self, app: ASGIApp, per_ip: str, per_key: str, lockout_failures: int, lockout_s: int) -> None:
        self.app = app
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_ip, self.per_key = parse(per_ip), parse(per_key)
        self.failures = parse(f"{lockout_failures}/{lockout_s} seconds")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        key = _key_of(Headers(scope=scope))
        if not self.limiter.test(self.failures, "fail", client):
            await self._refuse(scope, receive, send, self.failures, ("fail", client),
                               "too many wrong API keys from this address; try again later")
            return
        for item, ident in ((self.per_ip, ("ip", client)), (self.per_key, ("key", key))):
            if ident[1] is not None and not self.limiter.hit(item, *ident):
                await self._refuse(scope, receive, send, item, ident, f"too many requests: at most {item}")
                return
        status_seen = 0

        async def watch(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status_seen == 401 and key is not None:
            self.limiter.hit(self.failures, "fail", client)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, item: RateLimitItem,
                      ident: tuple[str, str], detail: str) -> None:
        reset = self.limiter.get_window_stats(item, *ident).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        await JSONResponse({"detail": detail}, 429, headers={"Retry-After": str(retry)})(scope, receive, send)


def _key_of(headers: Headers) -> str | None:
    """A hash of the caller's API key (bearer or X-API-Key), or None without one."""
    auth = headers.get("authorization", "")
    key = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get("x-api-key", "")
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else None
