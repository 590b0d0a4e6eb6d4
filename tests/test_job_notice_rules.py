"""When a job notice is due and what it says: pure rules."""

from domain.job_notices import end_text, language_of, progress_due, progress_text


def test_a_progress_notice_is_due_every_so_many_items_or_seconds_once_something_moved():
    assert progress_due(100, 0, 1, every_items=100, every_seconds=300)
    assert not progress_due(99, 0, 1, every_items=100, every_seconds=300)
    assert progress_due(101, 100, 300, every_items=100, every_seconds=300)
    assert not progress_due(100, 100, 3000, every_items=100, every_seconds=300)  # nothing moved


def test_the_words_follow_the_accounts_language():
    assert language_of("uk", "ru") == "uk" and language_of("en-GB", "ru") == "en" and language_of("de", "ru") == "ru"
    assert language_of(None, "en") == "en"
    ru = progress_text("ru", "channel_migration · m-7", 120, 1000, 12.0, 420)
    assert ru == "⏳ Прогресс: 120/1000 (12.0%), осталось ~7 мин\nchannel_migration · m-7"
    assert progress_text("en", "j", 5, 0, 0.0, None) == "⏳ Progress: 5\nj"
    counts = {"processed": 10, "succeeded": 8, "skipped": 1, "failed": 1}
    failed = end_text("uk", "j", "failed", counts, "x" * 1000)
    assert failed.startswith("❌ Помилка: j\nоброблено 10: успішно 8") and failed.endswith("x" * 300)
    assert "x" * 301 not in failed
