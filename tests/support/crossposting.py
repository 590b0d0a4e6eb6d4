"""Shared steps of the migration tests: links between stand-in channels and MAX chats, and what MAX should hold."""

import itertools
from pathlib import Path
from typing import Any

from sqlalchemy import text

from devstack.clients import Api, Emulator, eventually, in_max
from emulators.telegram_export_gen import write_export

_numbers = itertools.count(1)
# A deployment of its own, fast: MAX's limits raised (the rate-limit test keeps 30/s), the per-chat limit off.
# Attachments are ready after 50 ms instead of MAX's seconds, and the client looks again after 50 ms: each
# video's send would otherwise wait a second.
FAST_MAX = {
    "LONGRUN_MAX_RATE_PER_SECOND": "300",
    "LONGRUN_MAX_CHAT_MESSAGES_PER_SECOND": "0",
    "LONGRUN_MAX_NOT_READY_RETRY_SECONDS": "0.05",
}
FAST_MAX_EMULATOR = {"rate_limit_per_second": 300, "not_ready_seconds": 0.05}


def unique() -> int:
    return next(_numbers)


async def make_link(
    admin: Api, *, chat: str, max_chat: int, token: str, export_path: Path | None = None
) -> dict[str, Any]:
    n = unique()
    body = {"title": f"TG {n}", "source": "pyrogram", "chat": chat}
    if export_path is not None:
        body = {"title": f"TG export {n}", "source": "export", "export_path": str(export_path)}
    telegram = await admin.ok("POST", "/api/v1/telegram-channels", 201, json=body)
    destination = await admin.ok(
        "POST", "/api/v1/max-channels", 201, json={"title": f"MAX {n}", "chat_id": max_chat, "bot_token": token}
    )
    link = {"telegram_channel_id": telegram["id"], "max_channel_id": destination["id"]}
    return await admin.ok("POST", "/api/v1/links", 201, json=link)


def export_of(chat: str, exports_dir: Path) -> Path:
    """The stand-in's channel as a Telegram Desktop export, where the workers may read exports."""
    return write_export(chat, exports_dir / f"{chat}-{unique()}")


async def migrate(api: Api, link_id: int, within: float = 120, **options: Any) -> dict[str, Any]:
    job_id = (await api.ok("POST", "/api/v1/migrations", 202, json={"link_id": link_id, **options}))["job_id"]
    return await api.wait_job(job_id, within)


async def log_counts(database, link_id: int) -> dict[str, int]:
    async with database.connect() as conn:
        rows = await conn.execute(
            text("select status, count(*) from message_log where crossposting_link_id = :l group by status"),
            {"l": link_id},
        )
        return {row.status: row.count for row in rows}


async def logged_max_ids(database, link_id: int) -> list[str]:
    """Every MAX message id the log holds for the link, once per post (a long text has several)."""
    async with database.connect() as conn:
        rows = await conn.scalars(
            text(
                "select max_message_id from message_log where crossposting_link_id = :l"
                " and telegram_message_id = post_id and status = 'success' order by telegram_message_id"
            ),
            {"l": link_id},
        )
        return [mid for value in rows for mid in value.split(",")]


def media_left(data_dir: Path) -> list[Path]:
    """Temporary media files still on the workers' disk (each is deleted once uploaded)."""
    return [p for p in (data_dir / "media").rglob("*") if p.is_file()]


async def max_count_reaches(emulator: Emulator, chat_id: int, count: int, within: float = 60) -> None:
    async def enough():
        return len(await in_max(emulator, chat_id)) >= count

    await eventually(enough, f"{count} messages in MAX chat {chat_id}", within, interval=0.05)
