"""The Telegram Bot API over httpx, as documented at https://core.telegram.org/bots/api: `POST <base>/bot<token>/
<method>` with a JSON body, answered `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}`; files from `GET <base>/file/bot<token>/<file_path>`.

What Longrun needs: a user's profile photos and their files (the tracker's avatars), and a text message to a user
who linked their Telegram (job notices). The token lives in this object
only, never in what a workflow carries or an error says.
"""

from typing import Any

import httpx
from pydantic import BaseModel

from clients.outside_http import BodyCap, OutsideRefused, outside_client, service_allowlist
from clients.retry_after import parse_retry_after
from domain.telegram_bot_types import File, UserProfilePhotos
from settings import Settings


class BotApiError(Exception):
    """A failed Bot API call. `permanent`: asking again cannot help (a bad token, an unknown user); `retry_after`:
    Telegram's own wait for a 429."""

    def __init__(
        self,
        method: str,
        status: int | None,
        description: str,
        retry_after: float | None = None,
        *,
        permanent: bool | None = None,
    ) -> None:
        super().__init__(f"Bot API {method}: {status or 'no answer'} {description}")
        self.status = status
        self.retry_after = retry_after
        if permanent is None:
            permanent = status is not None and 400 <= status < 500 and status != 429
        self.permanent = permanent


def bot_http(settings: Settings) -> httpx.AsyncClient:
    """The Bot API's client: its configured server reached wherever it is; answers (avatars included) capped."""
    return outside_client(
        service_allowlist(settings, settings.telegram_bot_api_url),
        BodyCap(settings.avatar_max_bytes, "LONGRUN_AVATAR_MAX_BYTES"),
        max_redirects=settings.outside_max_redirects,
        timeout=settings.telegram_bot_timeout_seconds,
    )


class TelegramBotClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.AsyncClient) -> "TelegramBotClient":
        return cls(http, settings.telegram_bot_api_url, settings.telegram_bot_token.get_secret_value())

    @property
    def configured(self) -> bool:
        return bool(self._token)

    async def call(self, method: str, **params: Any) -> Any:
        try:
            response = await self._http.post(f"{self._base}/bot{self._token}/{method}", json=params)
        except OutsideRefused as exc:
            raise BotApiError(method, None, str(exc), permanent=True) from None
        except httpx.HTTPError as exc:
            raise BotApiError(method, None, type(exc).__name__) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 200 and body.get("ok"):
            return body.get("result")
        parameters = body.get("parameters")
        retry_after = parse_retry_after(parameters.get("retry_after")) if isinstance(parameters, dict) else None
        description = str(body.get("description") or response.reason_phrase)[:500]
        status = body.get("error_code")
        status = status if isinstance(status, int) and not isinstance(status, bool) else response.status_code
        raise BotApiError(method, status, description, retry_after)

    async def _typed(self, model: type[BaseModel], method: str, **params: Any) -> Any:
        return model.model_validate(await self.call(method, **params))

    async def get_user_profile_photos(self, user_id: int, limit: int = 1) -> UserProfilePhotos:
        return await self._typed(UserProfilePhotos, "getUserProfilePhotos", user_id=user_id, limit=limit)

    async def send_message(self, chat_id: int, text: str) -> None:
        # Plain text: a job's message and errors come from outside and are never parsed as markup.
        await self.call("sendMessage", chat_id=chat_id, text=text, link_preview_options={"is_disabled": True})

    async def get_file(self, file_id: str) -> File:
        return await self._typed(File, "getFile", file_id=file_id)

    async def download(self, file_path: str) -> bytes:
        try:
            response = await self._http.get(f"{self._base}/file/bot{self._token}/{file_path}")
        except OutsideRefused as exc:
            raise BotApiError("download", None, str(exc), permanent=True) from None
        except httpx.HTTPError as exc:
            raise BotApiError("download", None, type(exc).__name__) from None
        if response.status_code != 200:
            raise BotApiError("download", response.status_code, response.reason_phrase)
        return response.content
