"""The API's Temporal connection: made in the background and waited for with backoff, so the API starts without
Temporal, answers 503 while it is away, and connects as soon as it is back."""

import asyncio
import contextlib

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from runtime.temporal import API_RETRIES, connect_patiently
from settings import Settings


class TemporalUnavailable(Exception):
    """Temporal cannot be reached now; the caller should try again shortly (503)."""


UNAVAILABLE_CODES = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}
# How long a request waits on the connection being made before it is answered 503.
REQUEST_WAIT_SECONDS = 5.0


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, TemporalUnavailable) or (isinstance(exc, RPCError) and exc.status in UNAVAILABLE_CODES)


class TemporalGateway:
    def __init__(self, settings: Settings, request_wait: float = REQUEST_WAIT_SECONDS) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._request_wait = request_wait
        # One connection attempt loop for the process, however many requests arrive while Temporal is away.
        self._connecting: asyncio.Task[Client] | None = None
        # Set once an attempt has failed: requests are then answered 503 at once instead of each waiting.
        self._unreachable = False

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.create_task(self._connect())
        wait = 0.0 if self._unreachable else self._request_wait
        try:
            # Shielded: a request giving up must not stop the connection that later requests will use.
            return await asyncio.wait_for(asyncio.shield(self._connecting), timeout=wait)
        except TimeoutError as exc:
            address = self.settings.temporal_address
            raise TemporalUnavailable(f"Temporal at {address} unreachable; still trying to connect") from exc

    async def _connect(self) -> Client:
        self._client = await connect_patiently(self.settings, API_RETRIES, on_unreachable=self._mark_unreachable)
        self._unreachable = False
        return self._client

    def _mark_unreachable(self) -> None:
        self._unreachable = True

    async def healthy(self) -> bool:
        try:
            client = await self.client()
            return await client.service_client.check_health()
        except (TemporalUnavailable, RPCError, RuntimeError):
            return False

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
