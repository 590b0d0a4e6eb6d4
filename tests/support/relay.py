"""Bytes relayed between two streams, for the fronts tests put before a server (tests/support/tls_front.py, the
database front of tests/test_jobs_list_without_database.py)."""

import asyncio
import contextlib


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Everything `reader` gives, to `writer`, until it ends; `writer` is closed then (or on any error)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()
