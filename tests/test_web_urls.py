"""The one rule for outside links (domain/urls.py), and parse_feed applying it: in-process, no stack."""

import pytest

from clients.feeds import parse_feed
from domain.urls import MAX_URL_LENGTH, scheme_of, web_url

GOOD = [
    ("http://example.com", "http://example.com"),
    ("https://example.com/a/b?c=d#e", "https://example.com/a/b?c=d#e"),
    ("  https://example.com/padded \n", "https://example.com/padded"),
    ("HTTPS://Example.COM/Path", "https://Example.COM/Path"),
    ("HtTp://example.com:8080/x", "http://example.com:8080/x"),
    ("http://[::1]:8000/", "http://[::1]:8000/"),
    ("https://user:pass@example.com/", "https://user:pass@example.com/"),
    ("https://пример.рф/новости", "https://пример.рф/новости"),
    ("https://example.com/" + "a" * (MAX_URL_LENGTH - 20), "https://example.com/" + "a" * (MAX_URL_LENGTH - 20)),
]

BAD = [
    "javascript:alert(document.cookie)",
    "  JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",  # browsers drop the tab and run it
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://example.com/file",
    "mailto:someone@example.com",
    "//example.com/protocol-relative",
    "/articles/1",
    "example.com/no-scheme",
    "http:example.com",
    "http://",
    "https:///path-without-host",
    "http://:80/",
    "http://exa mple.com/",
    "http://example.com/a b",
    "http://example.com/\x00",
    "http://example.com/\x7f",
    "http://example.com/\u0085x",  # NEL, a C1 control
    "http://example.com/\u202eevil",  # right-to-left override
    "http://example.com/\u200b",  # zero-width space
    "http://example.com:99999/",
    "http://[::1/",
    "https://example.com/" + "a" * MAX_URL_LENGTH,
    "",
    "   ",
    None,
    42,
    b"http://example.com",
]


@pytest.mark.parametrize(("raw", "expected"), GOOD)
def test_web_urls_are_kept_and_normalised(raw, expected):
    assert web_url(raw) == expected


@pytest.mark.parametrize("raw", BAD)
def test_anything_else_is_refused(raw):
    assert web_url(raw) is None


@pytest.mark.parametrize(
    ("raw", "scheme"),
    [("  JaVaScRiPt:alert(1)", "'javascript'"), ("data:text/html,x", "'data'"), ("/relative", "none"), (42, "not")],
)
def test_scheme_of_names_what_was_refused(raw, scheme):
    assert scheme_of(raw).startswith(scheme)


def _rss(*items: str) -> bytes:
    body = "".join(f"<item>{item}</item>" for item in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


def test_parse_feed_keeps_the_link_else_the_guid_else_counts_the_entry_rejected():
    feed = parse_feed(
        "http://feeds.test/x.rss",
        _rss(
            "<title>good link</title><link>https://news.test/1</link><guid>https://news.test/guid-1</guid>",
            "<title>script link</title><link>javascript:alert(document.cookie)</link>",
            "<title>script link, web guid</title><link>javascript:alert(1)</link>"
            '<guid isPermaLink="false">https://news.test/guid-3</guid>',
            '<title>data guid</title><guid isPermaLink="false">data:text/html,hi</guid>',
            "<title>no link at all</title>",
            "<title>padded</title><link>   HTTP://news.test/5  </link>",
        ),
    )
    assert [(e.title, e.url) for e in feed.entries] == [
        ("good link", "https://news.test/1"),
        ("script link, web guid", "https://news.test/guid-3"),
        ("padded", "http://news.test/5"),
    ]
    assert feed.rejected_links == 3
