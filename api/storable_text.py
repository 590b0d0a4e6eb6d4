"""Text no database can store is refused where it comes in, as a 422 naming where it is.

JSON may carry `\\u0000` and unpaired surrogates (`\\ud800`); Python decodes both. Postgres refuses NUL in text
and jsonb, and no UTF-8 encoder takes a lone surrogate, so such a request would fail deep inside a handler with a
500 (even FastAPI's own 422 fails, echoing the surrogate back). Every route depends on `storable_text`.

Only a body whose bytes hold such an escape is parsed again, so a request costs one scan of its body.
"""

import json
import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.requests import HTTPConnection

_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "text may not hold a NUL character or an unpaired surrogate: no database can store them"


_BAD_KEY = object()  # stands in a walk's stack for a key that is itself the bad text


def _unstorable(value: Any, loc: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Where in a decoded JSON value a string (a key or a value) holds NUL or a lone surrogate, in document order.
    A walk with its own stack, not recursion: however deep the value, it cannot run out of Python's."""
    found = []
    pending: list[tuple[Any, tuple[Any, ...]]] = [(value, loc)]
    while pending:
        item, where = pending.pop()
        if item is _BAD_KEY:
            found.append(where)
        elif isinstance(item, str):
            if _UNSTORABLE.search(item):
                found.append(where)
        elif isinstance(item, dict):
            # The key is the bad text: it cannot name where it is.
            children = [
                (_BAD_KEY, (*where, "<a key>")) if _UNSTORABLE.search(key) else (inner, (*where, key))
                for key, inner in item.items()
            ]
            pending.extend(reversed(children))
        elif isinstance(item, list):
            pending.extend(reversed([(inner, (*where, index)) for index, inner in enumerate(item)]))
    return found


def _error(loc: tuple[Any, ...]) -> dict[str, Any]:
    return {"type": "value_error", "loc": list(loc), "msg": MESSAGE}


async def storable_text(connection: HTTPConnection) -> None:
    errors = [_error(("query", name)) for name, value in connection.query_params.multi_items() if "\x00" in value]
    errors += [_error(("path", name)) for name, value in connection.path_params.items() if "\x00" in str(value)]
    if isinstance(connection, Request):
        body = await connection.body()  # already read by FastAPI: this is its cached copy
        if _SUSPECT.search(body):
            try:
                decoded = json.loads(body)
            except (ValueError, RecursionError):
                decoded = (
                    None  # not JSON (or too deep for it, which api/body_limit.py refuses first): the route says so
                )
            errors += [_error(loc) for loc in _unstorable(decoded, ("body",))]
    if errors:
        raise RequestValidationError(errors)
