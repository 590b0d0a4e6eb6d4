"""One way to reach Temporal, shared by the worker, the API and the tools: pydantic payloads, encrypted, everywhere."""

import asyncio
import logging
from collections.abc import Callable

from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError

from runtime.metrics import temporal_runtime
from runtime.payload_codec import data_converter
from runtime.tracing import interceptors
from settings import Settings

# A person waits on the API: during a Temporal outage it answers within ~2 s instead of the
# SDK's default of retrying for 10 s.
API_RETRIES = RetryConfig(max_elapsed_time_millis=2000, max_retries=4)
# What a failed connect raises: the SDK reports a refused or broken connection as RuntimeError
# ("Failed client connect: ..."); a bug of ours (TypeError, ValueError...) must stay a bug.
CONNECT_ERRORS = (RuntimeError, TimeoutError, RPCError)
# Waiting for Temporal: 1 s, doubling up to this, for as long as it takes (a restart, an upgrade, a late start).
MAX_BACKOFF_SECONDS = 10.0

log = logging.getLogger("longrun.temporal")


async def connect(settings: Settings, retry: RetryConfig | None = None) -> Client:
    target = settings.temporal  # address, namespace, TLS and API key, resolved once (runtime/temporal_config.py)
    return await Client.connect(
        target.address,
        namespace=target.namespace,
        **target.connect_options(),
        data_converter=data_converter(settings),
        retry_config=retry,
        runtime=temporal_runtime(),
        interceptors=interceptors(settings),
    )


async def connect_patiently(
    settings: Settings,
    retry: RetryConfig | None = API_RETRIES,
    max_backoff: float = MAX_BACKOFF_SECONDS,
    on_unreachable: Callable[[], None] | None = None,
) -> Client:
    """Connect, waiting for Temporal with backoff however long it is away, and saying so in the log.

    A process that exits because Temporal is restarting leaves its work undone until a person starts it again;
    the tracker's TaskIQ workers reconnected without limit before Longrun, and so does this."""
    # Configuration (a missing shared key) fails here, once: inside the loop it would be a RuntimeError like a
    # refused connection, and waited out for ever.
    data_converter(settings)
    delay = 1.0
    while True:
        try:
            client = await connect(settings, retry)
        except CONNECT_ERRORS as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("Temporal at %s unreachable, retrying in %.0fs: %s", settings.temporal_address, delay, reason)
            if on_unreachable is not None:
                on_unreachable()
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)
            continue
        if delay > 1.0:
            log.info("Temporal at %s reached", settings.temporal_address)
        return client
