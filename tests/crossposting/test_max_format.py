"""Telegram text + entities → MAX Markdown: exact output for each rule, and a round trip through the emulator's
reading of MAX Markdown that must give back the post's own text with the same styling."""

import random

import pytest

from domain.max_format import to_markdown, utf16_starts
from domain.posts import Entity, EntityType
from emulators.max_markdown import parse
from tests.support.max_text import URL, ent, expected_coverage, random_post_text, shown_coverage

T = "Hello world"
E = "😀 bold 😀"
NESTED = "bold and italic"
OVERLAP = "one two three"
CODE = "run a*b_c now"
PRE = "def f():\n    return `x`\n"
LINK = "see the docs here"
ASTRAL = "x😀y"


def _case(text: str, *entities: Entity) -> tuple[str, list[Entity]]:
    return text, list(entities)


CASES = {
    "plain text is left alone": (_case("Привет, мир 42"), "Привет, мир 42"),
    "markdown characters of the post are escaped": (
        _case("2*3 = 6, snake_case, [x], ~y~, a\\b, `tick`"),
        "2\\*3 = 6, snake\\_case, \\[x\\], \\~y\\~, a\\\\b, \\`tick\\`",
    ),
    "+ and ^ only where doubled": (_case("1+1 c++ x^2 a^^b"), "1+1 c\\+\\+ x^2 a\\^\\^b"),
    "# and > only at a line start": (_case("#tag a#b\n> quote a>b"), "\\#tag a#b\n\\> quote a>b"),
    "bold": (_case(T, ent(T, "bold", "world")), "Hello **world**"),
    "italic on whole words": (_case(T, ent(T, "italic", "Hello")), "_Hello_ world"),
    "italic inside a word uses *": (_case(T, ent(T, "italic", "llo")), "He*llo* world"),
    "underline": (_case(T, ent(T, "underline", "world")), "Hello ++world++"),
    "strikethrough": (_case(T, ent(T, "strikethrough", "Hello")), "~~Hello~~ world"),
    "whitespace stays outside markers": (_case(T, ent(T, "bold", "Hello ")), "**Hello** world"),
    "entity after an astral emoji (UTF-16 offsets)": (_case(E, ent(E, "bold", "bold")), "😀 **bold** 😀"),
    "entity over an astral emoji": (_case(ASTRAL, ent(ASTRAL, "bold", "😀")), "x**😀**y"),
    "entity edge inside a surrogate pair takes the whole emoji": (
        _case(ASTRAL, Entity(type=EntityType.bold, offset=2, length=1)),
        "x**😀**y",
    ),
    "nested": (
        _case(NESTED, ent(NESTED, "bold", NESTED), ent(NESTED, "italic", "italic")),
        "**bold and _italic_**",
    ),
    "overlapping entities are closed and reopened": (
        _case(OVERLAP, ent(OVERLAP, "bold", "one two"), ent(OVERLAP, "italic", "two three")),
        "**one _two_** _three_",
    ),
    "same style overlapping is one span": (
        _case(OVERLAP, ent(OVERLAP, "bold", "one two"), ent(OVERLAP, "bold", "two three")),
        "**one two three**",
    ),
    "code is raw inside": (_case(CODE, ent(CODE, "code", "a*b_c")), "run `a*b_c` now"),
    "code inside bold": (
        _case(CODE, ent(CODE, "bold", CODE), ent(CODE, "code", "a*b_c")),
        "**run `a*b_c` now**",
    ),
    "pre keeps its lines, backticks outside": (
        _case(PRE, ent(PRE, "pre", PRE.rstrip("\n"), language="python")),
        "`def f():`\n    `return` \\``x`\\`\n",
    ),
    "text link, parentheses in the URL encoded": (
        _case(LINK, ent(LINK, "text_link", "docs", url="https://example.com/a_(b)")),
        "see the [docs](https://example.com/a_%28b%29) here",
    ),
    "text link escapes its text": (
        _case("a*b", ent("a*b", "text_link", "a*b", url=URL)),
        f"[a\\*b]({URL})",
    ),
    "a link is never cut by an overlapping style": (
        _case(LINK, ent(LINK, "bold", "the docs"), ent(LINK, "text_link", "docs here", url=URL)),
        f"see **the** [**docs** here]({URL})",
    ),
    "a link that is not a web URL is plain text": (
        _case(LINK, ent(LINK, "text_link", "docs", url="javascript:alert(1)")),
        "see the docs here",
    ),
    "bare URL becomes a link to itself": (
        _case("go example.com/x_y now", ent("go example.com/x_y now", "url", "example.com/x_y")),
        "go [example.com/x\\_y](https://example.com/x_y) now",
    ),
    "! before a link is escaped (image syntax)": (
        _case("Wow!link", ent("Wow!link", "text_link", "link", url=URL)),
        f"Wow\\![link]({URL})",
    ),
    "styles MAX lacks stay plain": (
        _case(
            "@user #tag secret",
            ent("@user #tag secret", "mention", "@user"),
            ent("@user #tag secret", "spoiler", "secret"),
        ),
        "@user #tag secret",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_markdown(name: str) -> None:
    (text, entities), expected = CASES[name]
    assert to_markdown(text, entities) == expected


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_reads_back_as_the_post(name: str) -> None:
    (text, entities), _ = CASES[name]
    parsed = parse(to_markdown(text, entities))
    assert parsed.text == text
    assert shown_coverage(parsed.text, parsed.markup) == expected_coverage(text, _web_links_only(entities))


def test_markup_offsets_count_utf16() -> None:
    parsed = parse(to_markdown(E, [ent(E, "bold", "bold")]))
    assert parsed.markup == [{"type": "strong", "from": 3, "length": 4}]


def test_random_posts_read_back_as_the_post() -> None:
    rng = random.Random(7)
    for n in range(400):
        text, entities = random_post_text(rng, rng.randint(0, 60), rng.randint(0, 6))
        markdown = to_markdown(text, entities)
        parsed = parse(markdown)
        assert parsed.text == text, (n, text, entities, markdown)
        shown = shown_coverage(parsed.text, parsed.markup)
        wanted = expected_coverage(text, entities)
        # An italic edge inside a word next to bold is left unmarked on purpose (max_format._italic_markers):
        # italic may be missing there, never added.
        assert shown.pop("emphasized") <= wanted.pop("emphasized"), (n, text, entities, markdown)
        assert shown == wanted, (n, text, entities, markdown, parsed.markup)


def test_utf16_starts() -> None:
    assert utf16_starts("a😀b") == [0, 1, 3, 4]


def _web_links_only(entities: list[Entity]) -> list[Entity]:
    return [e for e in entities if not (e.type is EntityType.text_link and not e.url.startswith("https://"))]
