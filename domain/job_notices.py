"""What a linked user's bot is told about their jobs, and when: pure rules and the words in three languages.

A progress notice ("⏳ Прогресс: n/N (p%), ~m minutes left") at most every `every_items` items or `every_seconds`
seconds, whichever comes first, and only when something moved; one at the end with the counts.
"""

from typing import Literal

Language = Literal["en", "ru", "uk"]

PROGRESS = {
    "en": "⏳ Progress: {counts}{eta}",
    "ru": "⏳ Прогресс: {counts}{eta}",
    "uk": "⏳ Прогрес: {counts}{eta}",
}
ETA = {"en": ", ~{minutes} minutes left", "ru": ", осталось ~{minutes} мин", "uk": ", залишилось ~{minutes} хв"}
ENDS = {
    "completed": {"en": "✅ Done", "ru": "✅ Готово", "uk": "✅ Готово"},
    "failed": {"en": "❌ Failed", "ru": "❌ Ошибка", "uk": "❌ Помилка"},
    "cancelled": {"en": "⏹ Cancelled", "ru": "⏹ Отменено", "uk": "⏹ Скасовано"},
}
TALLY = {
    "en": "{processed} processed: {succeeded} done, {skipped} skipped, {failed} failed",
    "ru": "обработано {processed}: успешно {succeeded}, пропущено {skipped}, ошибок {failed}",
    "uk": "оброблено {processed}: успішно {succeeded}, пропущено {skipped}, помилок {failed}",
}
LINKED = {
    "en": "✅ Telegram is linked to Longrun user {username}: your long jobs will report here.",
    "ru": "✅ Telegram привязан к пользователю Longrun {username}: ход долгих задач будет приходить сюда.",
    "uk": "✅ Telegram прив'язано до користувача Longrun {username}: хід довгих завдань надходитиме сюди.",
}
UNKNOWN_CODE = {
    "en": "This link code is unknown or has expired: get a new one in Longrun.",
    "ru": "Код привязки не найден или устарел: получите новый в Longrun.",
    "uk": "Код прив'язки не знайдено або він застарів: отримайте новий у Longrun.",
}
# A job's own message (an error from outside) is cut to this in an end notice.
MESSAGE_TEXT = 300


def language_of(telegram_language: str | None, default: Language) -> Language:
    """The notices' language from Telegram's language code (`ru`, `uk`, `en-GB`...)."""
    code = (telegram_language or "").split("-")[0].lower()
    return code if code in ("en", "ru", "uk") else default  # type: ignore[return-value]


def progress_due(processed: int, last: int, seconds_since: float, every_items: int, every_seconds: float) -> bool:
    return processed > last and (processed - last >= every_items or seconds_since >= every_seconds)


def heading(job_type: str, job_id: str) -> str:
    return f"{job_type} · {job_id}"


def progress_text(
    language: Language, job: str, processed: int, total: int, percent: float, eta_seconds: float | None
) -> str:
    counts = f"{processed}/{total} ({percent:.1f}%)" if total else str(processed)
    eta = ETA[language].format(minutes=max(1, round(eta_seconds / 60))) if eta_seconds else ""
    return PROGRESS[language].format(counts=counts, eta=eta) + f"\n{job}"


def end_text(language: Language, job: str, status: str, counts: dict[str, int], message: str) -> str:
    tally = TALLY[language].format(**counts)
    said = f"\n{message[:MESSAGE_TEXT]}" if status == "failed" and message else ""
    return f"{ENDS[status][language]}: {job}\n{tally}{said}"
