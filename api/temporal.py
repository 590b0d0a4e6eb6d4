"""The API's Temporal connection: made lazily and remade after an outage, so the API starts without it."""

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from clients.temporal import API_RETRIES, connect
from settings import Settings


class TemporalUnavailable(Exception):
    """Temporal cannot be reached now; the caller should try again shortly (503)."""


UNAVAILABLE_CODES = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}
# What a failed connect raises: the SDK reports a refused or broken connection as RuntimeError
# ("Failed client connect: ..."); a bug of ours (TypeError, ValueError...) must stay a bug, not a 503.
CONNECT_ERRORS = (RuntimeError, TimeoutError, RPCError)


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, TemporalUnavailable) or (isinstance(exc, RPCError) and exc.status in UNAVAILABLE_CODES)


class TemporalGateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(connect(self.settings, API_RETRIES), timeout=5)
                except CONNECT_ERRORS as exc:
                    raise TemporalUnavailable(f"Temporal at {self.settings.temporal_address}: {exc}") from exc
        return self._client

    async def healthy(self) -> bool:
        try:
            client = await self.client()
            return await client.service_client.check_health()
        except (TemporalUnavailable, RPCError, RuntimeError):
            return False
