"""Which failures are worth retrying: outside errors mapped to Temporal's retry semantics.

Bad input and authentication are final (`non_retryable`); rate limits come back after the
server's own Retry-After (`next_retry_delay`); everything else is retried by the policy.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Protocol

import openai
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from clients.llm import LLMEndpointRefused, LLMRefusal
from clients.retry_after import parse_retry_after

FINAL_LLM_ERRORS = (
    openai.AuthenticationError,
    openai.PermissionDeniedError,
    openai.BadRequestError,
    openai.NotFoundError,
    openai.UnprocessableEntityError,
    LLMRefusal,
    LLMEndpointRefused,
)


def retry_after(response) -> timedelta | None:
    """The server's Retry-After on an SDK error's response (which may be missing), as a retry delay."""
    headers = getattr(response, "headers", None)
    seconds = parse_retry_after(headers.get("retry-after")) if headers is not None else None
    return timedelta(seconds=seconds) if seconds is not None else None


def llm_failure(exc: Exception) -> ApplicationError:
    message = f"LLM: {exc}"
    if isinstance(exc, FINAL_LLM_ERRORS):
        return ApplicationError(message, type=type(exc).__name__, non_retryable=True)
    if isinstance(exc, openai.RateLimitError):
        return ApplicationError(message, type="RateLimitError", next_retry_delay=retry_after(exc.response))
    return ApplicationError(message, type=type(exc).__name__)


class OutsideError(Protocol):
    """What the clients of outside services (feeds, 1C, Telegram, the Bot API) raise."""

    permanent: bool
    retry_after: float | None


def outside_failure(exc: OutsideError) -> ApplicationError:
    """Never retried when permanent; otherwise retried after the service's own delay when it named one (0 too)."""
    delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
    return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=exc.permanent, next_retry_delay=delay)


LLM_ERRORS = (openai.OpenAIError, LLMRefusal)


@asynccontextmanager
async def calling_llm() -> AsyncIterator[None]:
    """An LLM call in an activity: heartbeats while it thinks (so a cancel reaches it), and its errors as
    Temporal's retry semantics (`llm_failure`)."""
    async with heartbeating():
        try:
            yield
        except LLM_ERRORS as exc:
            raise llm_failure(exc) from exc
