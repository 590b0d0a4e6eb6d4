"""Which failures are worth retrying: outside errors mapped to Temporal's retry semantics.

Bad input and authentication are final (`non_retryable`); rate limits come back after the
server's own Retry-After (`next_retry_delay`); everything else is retried by the policy.
"""

from datetime import timedelta

import openai
from temporalio.exceptions import ApplicationError

from clients.feeds import FeedError
from clients.llm import LLMRefusal

FINAL_LLM_ERRORS = (
    openai.AuthenticationError,
    openai.PermissionDeniedError,
    openai.BadRequestError,
    openai.NotFoundError,
    openai.UnprocessableEntityError,
    LLMRefusal,
)


def retry_after(response) -> timedelta | None:
    try:
        return timedelta(seconds=float(response.headers["retry-after"]))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def llm_failure(exc: Exception) -> ApplicationError:
    message = f"LLM: {exc}"
    if isinstance(exc, FINAL_LLM_ERRORS):
        return ApplicationError(message, type=type(exc).__name__, non_retryable=True)
    if isinstance(exc, openai.RateLimitError):
        return ApplicationError(message, type="RateLimitError", next_retry_delay=retry_after(exc.response))
    return ApplicationError(message, type=type(exc).__name__)


def feed_failure(exc: FeedError) -> ApplicationError:
    delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
    return ApplicationError(str(exc), type="FeedError", non_retryable=exc.permanent, next_retry_delay=delay)


LLM_ERRORS = (openai.OpenAIError, LLMRefusal)
