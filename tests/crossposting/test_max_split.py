"""Text over MAX's limit → several messages, and a post → the messages that carry it."""

import random
import re
from datetime import UTC, datetime

from domain.max_format import to_markdown, utf16_len
from domain.max_split import MAX_TEXT_LENGTH, plan_post, split_text
from domain.posts import Media, MediaKind, Post, PostKind
from emulators.max_markdown import parse
from tests.support.max_text import URL, ent, expected_coverage, random_post_text, shown_coverage

WHEN = datetime(2025, 1, 1, tzinfo=UTC)
FAMILY = "👨\u200d👩\u200d👧"


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _check(text: str, chunks: list, limit: int) -> None:
    """Every piece fits, reads back as its own plain text, and the pieces are the text in order."""
    for chunk in chunks:
        assert utf16_len(chunk.markdown) <= limit
        assert parse(chunk.markdown).text == chunk.plain
        assert chunk.plain == chunk.plain.strip()
    assert "".join(_squeeze(c.plain) for c in chunks) == _squeeze(text)


def test_short_text_is_one_piece() -> None:
    text = "Hello **not bold**"
    assert [c.markdown for c in split_text(text, [])] == [to_markdown(text, [])]


def test_blank_text_is_no_piece() -> None:
    assert split_text(" \n\n ", []) == []


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 12 for i in range(10)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = split_text(text, [], limit=200)
    _check(text, chunks, 200)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.plain.startswith("Paragraph ")
        assert chunk.plain.endswith("word")


def test_lines_when_there_are_no_paragraphs() -> None:
    text = "\n".join(f"line {i} " + "x" * 20 for i in range(30))
    chunks = split_text(text, [], limit=120)
    _check(text, chunks, 120)
    assert all(c.plain.startswith("line ") and c.plain.endswith("x" * 20) for c in chunks)


def test_words_are_not_broken() -> None:
    words = [f"w{i:03d}" for i in range(300)]
    text = " ".join(words)
    chunks = split_text(text, [], limit=64)
    _check(text, chunks, 64)
    assert [w for c in chunks for w in c.plain.split()] == words


def test_no_whitespace_at_all_is_cut_hard() -> None:
    text = "a" * 1000
    chunks = split_text(text, [], limit=100)
    _check(text, chunks, 100)
    assert "".join(c.plain for c in chunks) == text


def test_escapes_count_toward_the_limit() -> None:
    text = "*" * 300  # each becomes \* in Markdown
    chunks = split_text(text, [], limit=100)
    _check(text, chunks, 100)
    assert all(len(c.plain) <= 50 for c in chunks)


def test_astral_characters_count_two_and_are_never_halved() -> None:
    text = "😀" * 3000
    chunks = split_text(text, [], limit=MAX_TEXT_LENGTH)
    _check(text, chunks, MAX_TEXT_LENGTH)
    assert [len(c.plain) for c in chunks] == [2000, 1000]


def test_emoji_sequences_stay_whole() -> None:
    text = (FAMILY + "🇷🇺" + "👍🏽") * 40
    chunks = split_text(text, [], limit=50)
    _check(text, chunks, 50)
    for chunk in chunks:
        assert chunk.plain[0] in (FAMILY[0], "🇷", "👍")
        assert not chunk.plain.endswith("\u200d")
        assert chunk.plain[-1] not in ("🇷",) or chunk.plain.endswith("🇷🇺")


def test_a_style_across_a_cut_is_closed_and_reopened() -> None:
    text = " ".join(f"bold{i}" for i in range(60))
    entities = [ent(text, "bold", text)]
    chunks = split_text(text, entities, limit=100)
    _check(text, chunks, 100)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.markdown.startswith("**") and chunk.markdown.endswith("**")
        parsed = parse(chunk.markdown)
        assert shown_coverage(parsed.text, parsed.markup) == expected_coverage(
            chunk.plain, [ent(chunk.plain, "bold", chunk.plain)]
        )


def test_a_link_is_not_cut_when_it_can_move_whole() -> None:
    lead = "intro " * 12
    text = lead + "please read the whole article here" + " tail" * 10
    link = ent(text, "text_link", "please read the whole article here", url=URL)
    chunks = split_text(text, [link], limit=100)
    _check(text, chunks, 100)
    holders = [c for c in chunks if URL in c.markdown]
    assert len(holders) == 1
    assert f"[please read the whole article here]({URL})" in holders[0].markdown


def test_random_texts_split_into_fitting_well_formed_pieces() -> None:
    rng = random.Random(11)
    for n in range(150):
        text, entities = random_post_text(rng, rng.randint(0, 300), rng.randint(0, 8))
        limit = rng.randint(24, 160)
        chunks = split_text(text, entities, limit=limit)
        try:
            _check(text, chunks, limit)
        except AssertionError:
            raise AssertionError((n, limit, text, entities, chunks)) from None


def _post(text: str = "", media: int = 0, **extra) -> Post:
    files = [Media(kind=[MediaKind.image, MediaKind.video][i % 2], ref=f"f{i}") for i in range(media)]
    return Post(id=1, date=WHEN, text=text, media=files, **extra)


def test_plan_text_post() -> None:
    (message,) = plan_post(_post("Hi _there_"))
    assert message.markdown == "Hi \\_there\\_"
    assert message.plain == "Hi _there_"
    assert message.media == []


def test_plan_album_is_one_message_with_every_attachment() -> None:
    (message,) = plan_post(_post("caption", media=3))
    assert message.kinds == [MediaKind.image, MediaKind.video, MediaKind.image]
    assert message.plain == "caption"


def test_plan_media_without_text() -> None:
    (message,) = plan_post(_post(media=1))
    assert (message.markdown, message.kinds) == ("", [MediaKind.image])


def test_plan_long_caption_media_first_then_the_rest_in_order() -> None:
    text = "\n\n".join(f"part {i} " + "z" * 40 for i in range(12))
    messages = plan_post(_post(text, media=2), limit=120)
    assert len(messages) > 2
    assert messages[0].kinds == [MediaKind.image, MediaKind.video]
    assert messages[0].plain.startswith("part 0 ")
    assert all(m.media == [] for m in messages[1:])
    assert "".join(_squeeze(m.plain) for m in messages) == _squeeze(text)


def test_plan_more_than_twelve_attachments() -> None:
    messages = plan_post(_post("x", media=14))
    assert [len(m.media) for m in messages] == [12, 2]
    assert [m.plain for m in messages] == ["x", ""]


def test_plan_nothing_to_publish() -> None:
    assert plan_post(_post("pinned a message", kind=PostKind.service)) == []
    assert plan_post(_post(kind=PostKind.unsupported, skip_reason="poll")) == []
    assert plan_post(_post("   ")) == []
