"""Which failures are worth retrying: outside errors mapped to Temporal's retry semantics.

Bad input and authentication are final (`non_retryable`); rate limits come back after the
server's own Retry-After (`next_retry_delay`); everything else is retried by the policy.

A transient fault is counted by its kind ("HTTP 503", "ConnectError") in a tally the activity carries from attempt
to attempt in its heartbeat checkpoint (`Faults`), and every failure's message names the tally: when a job's item
finally fails, its error says which faults spent its budget.
"""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Protocol

import openai
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.llm import LLMEndpointRefused, LLMRefusal
from clients.retry_after import parse_retry_after
from runtime.heartbeat import heartbeating

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


class Faults(BaseModel):
    """Transient faults an activity's attempts met, by kind: kept in its heartbeat checkpoint, so a retry goes on
    counting where the failed attempt stopped."""

    counts: dict[str, int] = Field(default_factory=dict)

    def count(self, exc: BaseException) -> None:
        kind = fault_kind(exc)
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def __str__(self) -> str:
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{n} × {kind}" for kind, n in ranked)


def tallied(total: dict[str, int] | None, counts: dict[str, int]) -> dict[str, int]:
    """A job's faults over its items (`Faults.counts` each): `total` with one item's `counts` added."""
    merged = dict(total or {})
    for kind, n in counts.items():
        merged[kind] = merged.get(kind, 0) + n
    return merged


_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def fault_kind(exc: BaseException) -> str:
    """A fault by kind: `HTTP 503` for an answer, else the name of the lowest-level error (ConnectError...)."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return f"HTTP {status}"
    if match := _HTTP_STATUS.search(str(exc)):
        return f"HTTP {match[1]}"
    if exc.__cause__ is not None and not isinstance(exc.__cause__, ApplicationError):
        return fault_kind(exc.__cause__)
    return type(exc).__name__


def counted(failure: ApplicationError, exc: BaseException, faults: Faults | None) -> ApplicationError:
    """`failure` (made from `exc`), its fault counted when it is retryable, its message naming the tally so far."""
    if faults is None:
        return failure
    if not failure.non_retryable:
        faults.count(exc)
    if not faults.counts:
        return failure
    label = "after" if failure.non_retryable else "faults so far"
    return ApplicationError(
        f"{failure.message} ({label}: {faults})",
        type=failure.type,
        non_retryable=failure.non_retryable,
        next_retry_delay=failure.next_retry_delay,
    )


def cause_unless_counted(exc: BaseException, faults: Faults | None) -> BaseException | None:
    """What a failure is raised from: nothing once it names a tally, so that it is the innermost error, the one a
    job's errors show (`workflows.base.root_cause`); else the outside error itself."""
    return None if faults is not None and faults.counts else exc


def llm_failure(exc: Exception, faults: Faults | None = None) -> ApplicationError:
    message = f"LLM: {exc}"
    if isinstance(exc, FINAL_LLM_ERRORS):
        return counted(ApplicationError(message, type=type(exc).__name__, non_retryable=True), exc, faults)
    # A 429's Retry-After, and a 503's (a provider in maintenance names when it is back): both through the one
    # clamped parser.
    delay = retry_after(exc.response) if isinstance(exc, openai.APIStatusError) else None
    return counted(ApplicationError(message, type=type(exc).__name__, next_retry_delay=delay), exc, faults)


class OutsideError(Protocol):
    """What the clients of outside services (feeds, 1C, Telegram, the Bot API) raise."""

    permanent: bool
    retry_after: float | None


def outside_failure(exc: OutsideError, faults: Faults | None = None) -> ApplicationError:
    """Never retried when permanent; otherwise retried after the service's own delay when it named one (0 too)."""
    delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
    failure = ApplicationError(str(exc), type=type(exc).__name__, non_retryable=exc.permanent, next_retry_delay=delay)
    # A Protocol cannot also say "is an exception"; every client's error is one, and its kind is what gets counted.
    assert isinstance(exc, BaseException)
    return counted(failure, exc, faults)


LLM_ERRORS = (openai.OpenAIError, LLMRefusal)


@asynccontextmanager
async def calling_llm(faults: Faults | None = None) -> AsyncIterator[None]:
    """An LLM call in an activity: heartbeats while it thinks (so a cancel reaches it), and its errors as
    Temporal's retry semantics (`llm_failure`). With `faults` (the activity's checkpoint: `resumed_faults()`), a
    transient error is counted there and heartbeated before the attempt fails, so the next attempt goes on
    counting."""
    async with heartbeating(lambda: faults):
        try:
            yield
        except LLM_ERRORS as exc:
            failure = llm_failure(exc, faults)
            if faults is not None:
                activity.heartbeat(faults)
            raise failure from cause_unless_counted(exc, faults)


def resumed_faults(details: Any = None) -> Faults:
    """The tally an earlier attempt heartbeated (`details`: its checkpoint, default this attempt's heartbeat
    details), or none; what is not a tally (an older checkpoint's shape) counts as none."""
    if details is None:
        beats = activity.info().heartbeat_details
        details = beats[0] if beats else None
    if isinstance(details, dict):
        try:
            return Faults.model_validate(details)
        except ValueError:
            pass
    return Faults()
