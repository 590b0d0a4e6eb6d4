"""One way to reach Temporal, shared by the worker, the API and the tools: pydantic payloads, encrypted, everywhere."""

from temporalio.client import Client
from temporalio.service import RetryConfig

from clients.metrics import temporal_runtime
from clients.payload_codec import data_converter
from clients.tracing import interceptors
from settings import Settings

# A person waits on the API: during a Temporal outage it answers within ~2 s instead of the
# SDK's default of retrying for 10 s.
API_RETRIES = RetryConfig(max_elapsed_time_millis=2000, max_retries=4)


async def connect(settings: Settings, retry: RetryConfig | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        retry_config=retry,
        runtime=temporal_runtime(),
        interceptors=interceptors(settings),
    )
