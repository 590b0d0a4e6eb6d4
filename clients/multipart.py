"""One file as a `multipart/form-data` body streamed from disk.

A channel's videos run to hundreds of megabytes: the body is read in chunks as it is sent, so memory stays flat,
and every file operation runs in a thread, so the event loop (and the activity's heartbeats) never waits on the
disk. The length is known up front, so the request carries Content-Length rather than chunked encoding, which
some upload servers refuse.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

CHUNK_BYTES = 256 * 1024


async def file_form(
    field: str, path: Path, *, filename: str, content_type: str
) -> tuple[dict[str, str], AsyncIterator[bytes]]:
    """(headers, body) of a form holding the file at `path` as field `field`."""
    size = await asyncio.to_thread(os.path.getsize, path)
    boundary = secrets.token_hex(16)
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{quoted}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }
    return headers, _body(path, head, tail)


async def _body(path: Path, head: bytes, tail: bytes) -> AsyncIterator[bytes]:
    yield head
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)
    yield tail
