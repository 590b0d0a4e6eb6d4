"""The OpenAI emulator's idea of what a message is about, in-process: the tracker's own extraction and classification
requests, filled from the same messages, agree on most of them and disagree on a fixed few (they disagreed on every
one: each message got a topic named after its own words, and a classifier answer no topic had)."""

from datetime import UTC, datetime

from activities.tracker_experiments import TopicClassification, classification_request
from activities.tracker_extraction import KnowledgeExtraction, extraction_request
from db.tracker_experiments import LabelledMessage
from db.tracker_knowledge import ClaimedMessage
from emulators import openai_topics, schema_fill, telegram_bot_data


def demo_texts(count: int) -> list[str]:
    """The messages `make up`'s Telegram Bot API emulator generates for a chat."""
    return [u["message"]["text"] for u in telegram_bot_data.message_updates(count, chat_id=-42)]


def extracted(texts: list[str]) -> dict[int, str]:
    """{message number: topic name} as the emulator answers the extraction request."""
    batch = [ClaimedMessage(n, t, datetime.now(UTC), False) for n, t in enumerate(texts, start=1)]
    schema = KnowledgeExtraction.model_json_schema()
    answer = KnowledgeExtraction.model_validate(schema_fill.fill(schema, extraction_request(-42, batch)))
    return {ref.index: topic.name for topic in answer.topics for ref in topic.messages}


def classified(texts: list[str], truth: dict[int, str]) -> dict[int, str]:
    batch = [LabelledMessage(n, t, truth[n]) for n, t in enumerate(texts, start=1)]
    schema = TopicClassification.model_json_schema()
    request = classification_request(sorted(set(truth.values())), batch)
    answer = TopicClassification.model_validate(schema_fill.fill(schema, request))
    return {m.index: m.topic for m in answer.messages}


def test_the_classifier_agrees_with_the_extraction_on_most_messages_and_slips_on_a_few_always_the_same():
    texts = demo_texts(60)
    truth = extracted(texts)
    assert sorted(truth) == list(range(1, 61))
    assert len(set(truth.values())) >= 4  # messages grouped under a few topics, not a topic per message
    predicted = classified(texts, truth)
    right = sum(predicted[n] == truth[n] for n in truth)
    assert 0.5 * len(truth) < right < len(truth)
    assert all(predicted[n] in set(truth.values()) | {s for s, _ in openai_topics.SUBJECTS} for n in predicted)
    assert classified(texts, truth) == predicted and extracted(texts) == truth


def test_a_message_is_filed_by_what_it_says_in_any_of_the_teams_languages():
    assert openai_topics.subject("Deploy to staging is done, please run the smoke tests") == "Releases and deploys"
    assert openai_topics.subject("Клиент жалуется на медленную выгрузку отчётов, проверить индексы") == "Performance"
    assert openai_topics.subject("Хто може переглянути PR з авторизацією?") == "Code review"
    assert openai_topics.subject("👍") == openai_topics.GENERAL


def test_about_the_stated_share_of_texts_slip():
    texts = [f"message number {n} about the release" for n in range(2000)]
    share = sum(openai_topics.slips(t) for t in texts) / len(texts)
    assert abs(share - openai_topics.MISTAKE_PERCENT / 100) < 0.03
    slipped = next(t for t in texts if openai_topics.slips(t))
    assert openai_topics.classified(slipped) != openai_topics.subject(slipped)
