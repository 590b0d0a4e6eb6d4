"""The MAX Bot API over httpx: upload media, send a message, read a channel's messages back.

A thin client rather than the `maxapi` library: see docs/crossposting.md, "The client: httpx, not `maxapi`". Each
bot token is a MAX bot (the `Authorization` header, no `Bearer`); one client serves every token.

- `upload(token, kind, path)`: `POST /uploads?type=` for an upload URL, then the file to that URL as
  multipart field `data`, streamed from disk. The attachment token comes from the first answer for video and
  audio and from the upload's own answer for images (`photos`) and files. Two requests, two rate-limit slots.
- `send(token, chat_id, text, attachments)`: `POST /messages?chat_id=` with Markdown text and the uploaded
  attachments (an album is one message with several).
- `recent_messages(token, chat_id, ...)`: `GET /messages?chat_id=`, newest first, for finding out whether a send
  whose answer was lost did arrive (domain/max_match.py).

Every request, uploads included, first takes a slot from the limiter for its token (`acquire("max:<token>")`;
db/rate_limits.py stores only a hash of that key); within the process the most urgent request takes the next
slot (`priority`: a send before uploads for later posts, runtime/rate_limit.py `Prioritised`). MAX also takes
at most 2 messages a second into one chat or channel (dev.max.ru, POST /messages): given a `chat_limiter`, a send
first takes a slot for its chat too (`"max-chat:<token>:<chat_id>"`). Every failure is a `MaxError` saying
whether to retry and when; the client itself never retries, so a caller (a Temporal activity) decides, and a
send is never repeated behind its back.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field

from clients.multipart import file_form
from clients.outside_http import (
    DEFAULT_MAX_REDIRECTS,
    Allowlist,
    BodyCap,
    GuardedTransport,
    OutsideRefused,
    service_allowlist,
)
from clients.retry_after import parse_retry_after
from domain.posts import MediaKind
from runtime.rate_limit import Prioritised, RateLimiter
from settings import Settings

NOT_READY = "attachment.not.ready"
# Failures before which the server cannot have seen the request: a send that failed so was not delivered.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class MaxError(Exception):
    """A MAX request that failed.

    status: the HTTP status, None when no answer came (connection refused, dropped, timed out).
    code: MAX's error code (`attachment.not.ready`, `too.many.requests`, `chat.not.found`...), when it sent one.
    retry_after: seconds to wait before trying again: a 429's Retry-After, a short wait for an attachment still
        being processed; None when the caller's own backoff applies.
    permanent: retrying cannot help (a 4xx other than 429 and `attachment.not.ready`): fail this post, not the job.
    maybe_delivered: the request may have been carried out though no answer came (the connection broke after
        it was sent): before sending again, look for it (`recent_messages`).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.permanent = permanent
        self.maybe_delivered = maybe_delivered

    def __repr__(self) -> str:
        return (
            f"MaxError({str(self)!r}, status={self.status}, code={self.code!r}, retry_after={self.retry_after}, "
            f"permanent={self.permanent}, maybe_delivered={self.maybe_delivered})"
        )


class AttachmentRef(BaseModel):
    """An uploaded file, ready to attach: what `upload` answers and `send` takes (and what a caller may keep to
    send again without uploading again: MAX keeps uploads)."""

    type: MediaKind
    token: str

    def wire(self) -> dict[str, Any]:
        return {"type": self.type.value, "payload": {"token": self.token}}


class SentMessage(BaseModel):
    """A message as MAX answers it: plain text (its Markdown already applied) and its attachments' types."""

    mid: str
    seq: int | None = None
    timestamp: int  # Unix milliseconds, MAX's clock
    chat_id: int | None = None
    text: str = ""
    attachment_types: list[str] = Field(default_factory=list)

    @property
    def attachment_count(self) -> int:
        return len(self.attachment_types)

    @classmethod
    def from_wire(cls, message: dict[str, Any]) -> SentMessage:
        body = message.get("body") or {}
        recipient = message.get("recipient") or {}
        return cls(
            mid=body["mid"],
            seq=body.get("seq"),
            timestamp=message["timestamp"],
            chat_id=recipient.get("chat_id"),
            text=body.get("text") or "",
            attachment_types=[a.get("type", "") for a in body.get("attachments") or []],
        )


class MaxClient:
    def __init__(
        self,
        base_url: str,
        limiter: RateLimiter,
        *,
        timeout: float = 30.0,
        upload_timeout: float = 600.0,
        not_ready_retry_after: float = 1.0,
        rate_limited_retry_after: float = 1.0,
        chat_limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        allowlist: Allowlist | None = None,
        max_answer_bytes: int = 64 * 2**20,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
    ) -> None:
        self._limiter = Prioritised(limiter)
        self._chat_limiter = chat_limiter
        self._timeout = timeout
        self._upload_timeout = upload_timeout
        self._not_ready_retry_after = not_ready_retry_after
        self._rate_limited_retry_after = rate_limited_retry_after
        if transport is None:
            # MAX's own server wherever it is; the upload URLs its answers name, only on public addresses.
            cap = BodyCap(max_answer_bytes, "LONGRUN_ANSWER_MAX_BYTES")
            transport = GuardedTransport(allowlist or Allowlist.of(base_url), cap)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport, max_redirects=max_redirects
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, limiter: RateLimiter, chat_limiter: RateLimiter | None = None
    ) -> MaxClient:
        return cls(
            settings.max_api_url,
            limiter,
            timeout=settings.max_timeout_seconds,
            upload_timeout=settings.max_upload_timeout_seconds,
            not_ready_retry_after=settings.max_not_ready_retry_seconds,
            chat_limiter=chat_limiter,
            allowlist=service_allowlist(settings, settings.max_api_url),
            max_answer_bytes=settings.answer_max_bytes,
            max_redirects=settings.outside_max_redirects,
        )

    async def __aenter__(self) -> MaxClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # ----------------------------------------------------------------------- API

    async def me(self, token: str) -> dict[str, Any]:
        """The bot behind `token` (`GET /me`): a cheap check that the token works."""
        return (await self._request(token, "GET", "/me")).json()

    async def upload(
        self,
        token: str,
        kind: MediaKind,
        path: Path,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        priority: int = 0,
    ) -> AttachmentRef:
        """`priority`: among this process's requests for the token, lower goes first (see `Prioritised`)."""
        slot = (await self._request(token, "POST", "/uploads", priority=priority, params={"type": kind.value})).json()
        url = slot.get("url")
        if not isinstance(url, str) or not url:
            raise MaxError("POST /uploads answered without an upload URL", status=200, code="upload.no_url")
        name = file_name or Path(path).name
        content_type = mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers, body = await file_form("data", Path(path), filename=name, content_type=content_type)
        response = await self._request(
            token,
            "POST",
            url,
            priority=priority,
            content=body,
            headers=headers,
            timeout=httpx.Timeout(self._upload_timeout),
        )
        attachment_token = slot.get("token") if kind in (MediaKind.video, MediaKind.audio) else _token_of(response)
        if not attachment_token:
            raise MaxError(f"upload of a {kind.value} answered without a token", status=200, code="upload.no_token")
        return AttachmentRef(type=kind, token=attachment_token)

    async def send(
        self,
        token: str,
        chat_id: int,
        text: str,
        attachments: Sequence[AttachmentRef] = (),
        *,
        notify: bool = True,
    ) -> SentMessage:
        """Post one message (`text` is MAX Markdown, domain/max_format.py) with `attachments`, in order."""
        body: dict[str, Any] = {"attachments": [a.wire() for a in attachments], "notify": notify}
        if text:
            body.update(text=text, format="markdown")
        if self._chat_limiter is not None:
            await self._chat_limiter.acquire(f"max-chat:{token}:{chat_id}")
        response = await self._request(token, "POST", "/messages", params={"chat_id": chat_id}, json=body)
        return SentMessage.from_wire(response.json()["message"])

    async def recent_messages(
        self, token: str, chat_id: int, count: int = 50, *, from_: int | None = None, to: int | None = None
    ) -> list[SentMessage]:
        """Up to `count` (1-100) messages of the chat, newest first.

        `from_` and `to` are MAX's own paging bounds, Unix milliseconds, both inclusive: reading goes back in time
        from `from_` (the newest to include) to `to` (the oldest). To page back, pass the oldest timestamp seen as
        the next `from_` and skip the mids already seen: messages can share a millisecond.
        """
        params: dict[str, Any] = {"chat_id": chat_id, "count": count}
        if from_ is not None:
            params["from"] = from_
        if to is not None:
            params["to"] = to
        response = await self._request(token, "GET", "/messages", params=params)
        messages = [SentMessage.from_wire(m) for m in response.json().get("messages") or []]
        return sorted(messages, key=lambda m: (m.timestamp, m.seq or 0), reverse=True)

    async def messages_since(self, token: str, chat_id: int, since_ms: int, *, limit: int = 500) -> list[SentMessage]:
        """Every message of the chat at or after `since_ms` (at most `limit`), newest first, paging back."""
        found: dict[str, SentMessage] = {}
        newest: int | None = None
        while len(found) < limit:
            page = await self.recent_messages(token, chat_id, 100, from_=newest, to=since_ms)
            fresh = [m for m in page if m.mid not in found and m.timestamp >= since_ms]
            if not fresh:
                break
            found.update((m.mid, m) for m in fresh)
            newest = min(m.timestamp for m in fresh)
        return sorted(found.values(), key=lambda m: (m.timestamp, m.seq or 0), reverse=True)[:limit]

    # ----------------------------------------------------------------------- plumbing

    async def _request(self, token: str, method: str, url: str, *, priority: int = 0, **kwargs: Any) -> httpx.Response:
        await self._limiter.acquire(f"max:{token}", priority)
        headers = {"Authorization": token, **kwargs.pop("headers", {})}
        try:
            response = await self._http.request(method, url, headers=headers, **kwargs)
        except OutsideRefused as exc:
            # An upload URL on an internal address, or an answer past the cap: asking again gets the same.
            raise MaxError(f"{method} {_path(url)}: {exc}", permanent=True) from exc
        except httpx.TransportError as exc:
            raise MaxError(
                f"{method} {_path(url)}: no answer ({type(exc).__name__}: {exc})",
                maybe_delivered=not isinstance(exc, _NOT_SENT),
            ) from exc
        if response.status_code >= 400:
            raise self._error(method, url, response)
        return response

    def _error(self, method: str, url: str, response: httpx.Response) -> MaxError:
        status = response.status_code
        code, message = _error_body(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            retry_after = retry_after if retry_after is not None else self._rate_limited_retry_after
        elif code == NOT_READY:
            retry_after = self._not_ready_retry_after
        permanent = 400 <= status < 500 and status != 429 and code != NOT_READY
        return MaxError(
            f"{method} {_path(url)}: {status} {code or ''} {message}".strip(),
            status=status,
            code=code,
            retry_after=retry_after,
            permanent=permanent,
        )


def _token_of(response: httpx.Response) -> str | None:
    """The attachment token in an upload's answer: `{"token": ...}` (file) or `{"photos": {id: {"token"}}}`."""
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    photos = data.get("photos")
    if isinstance(photos, dict) and photos:
        first = next(iter(photos.values()))
        return first.get("token") if isinstance(first, dict) else None
    token = data.get("token")
    return token if isinstance(token, str) else None


def _error_body(response: httpx.Response) -> tuple[str | None, str]:
    try:
        data = response.json()
    except ValueError:
        return None, response.text[:200]
    if not isinstance(data, dict):
        return None, str(data)[:200]
    code = data.get("code")
    return (code if isinstance(code, str) else None), str(data.get("message") or "")[:500]


def _path(url: str) -> str:
    """A URL without its query: upload URLs carry signatures that do not belong in logs."""
    return httpx.URL(url).path
