"""Every request body is bounded where it comes in, before any route (or FastAPI) reads it.

FastAPI reads and parses a body before a route's dependencies run, so a bound checked in a route comes too late:
a 1 GB POST would be in memory first. So one ASGI middleware counts the bytes as they stream in (a Content-Length
over the bound is refused before a byte is read; a chunked body when its count passes the bound) and answers 413
naming the bound. Some paths take far less than the default (Telegram's webhook: an update is a few KB).

A JSON body nested deeper than `max_depth` is refused too (422), before FastAPI parses it: Python's json parser,
pydantic's echo of the input in a 422 and our own scans recurse, and depth only ever costs a 500 there.
"""

import re
from collections.abc import Mapping

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Every byte but the four brackets is deleted; what is left becomes "(" and ")".
_BRACKETS = bytes.maketrans(b"[]{}", b"()()")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_RUN = re.compile(rb"\(+|\)+")


def nested_deeper_than(body: bytes, limit: int) -> bool:
    """Whether a JSON text opens more than `limit` arrays or objects inside one another (brackets in strings do
    not count). Linear, no recursion, and the Python-level work is bounded by the runs left after peeling."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cheap and by far the most common answer
    brackets = _STRING.sub(b"", body).translate(_BRACKETS, _NOT_BRACKETS)
    peeled = 0
    # Each pass drops every innermost "()", which lowers the deepest point by exactly one. Passes run at C speed
    # while they pay (each shrinks the text by an eighth or more: their total cost is a few scans), leaving the
    # Python loop below fewer runs to walk.
    while peeled < limit and brackets:
        shorter = brackets.replace(b"()", b"")
        paid = len(shorter) * 8 <= len(brackets) * 7
        if len(shorter) < len(brackets):
            brackets, peeled = shorter, peeled + 1
        if not paid:
            break
    depth = deepest = 0
    for run in _RUN.finditer(brackets):
        size = run.end() - run.start()
        depth += size if brackets[run.start()] == ord("(") else -size
        deepest = max(deepest, depth)
        if deepest + peeled > limit:
            return True
    return False


class _Refused(HTTPException):
    """Raised from `receive`: FastAPI re-raises an HTTPException from its body read, so the route's exception
    handling answers it; the middleware answers it itself if it escapes anyway."""


def _is_json(headers: Headers) -> bool:
    kind = headers.get("content-type")
    # FastAPI parses a body without a content type as JSON too.
    return kind is None or "json" in kind.lower()


class BodyLimit:
    def __init__(self, app: ASGIApp, default: int, per_prefix: Mapping[str, int], max_depth: int) -> None:
        """`per_prefix`: paths starting with a key take its bound instead of `default` (the longest key wins)."""
        self.app = app
        self.default = default
        self.per_prefix = sorted(per_prefix.items(), key=lambda item: -len(item[0]))
        self.max_depth = max_depth

    def limit(self, path: str) -> int:
        return next((limit for prefix, limit in self.per_prefix if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        too_large = _Refused(413, f"the request body is larger than the {limit} bytes this path takes")
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _answer(too_large, scope, receive, send)
            return
        check_depth = _is_json(headers)
        chunks: list[bytes] = []
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] != "http.request":
                return message
            body = message.get("body", b"")
            received += len(body)
            if received > limit:
                raise too_large
            if check_depth:
                chunks.append(body)
                if not message.get("more_body", False) and nested_deeper_than(b"".join(chunks), self.max_depth):
                    raise _Refused(
                        422,
                        [{"type": "value_error", "loc": ["body"],
                          "msg": f"JSON nested deeper than {self.max_depth} levels"}],
                    )  # fmt: skip
            return message

        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except _Refused as refused:
            if started:
                raise
            await _answer(refused, scope, receive, send)


async def _answer(refused: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    # Connection: close, since the rest of a refused body is not read and cannot be skipped on a kept-alive socket.
    response = JSONResponse({"detail": refused.detail}, refused.status_code, headers={"Connection": "close"})
    await response(scope, receive, send)
