"""Which message in a channel is the one we were about to send (domain/max_match.py)."""

from clients.max import SentMessage
from domain.max_match import find_delivered, is_same_message
from domain.max_split import OutgoingMessage
from domain.posts import Media, MediaKind

ALBUM = OutgoingMessage(
    markdown="**Hi** there\\_",
    plain="Hi there_",
    media=[Media(kind=MediaKind.image, ref="a"), Media(kind=MediaKind.video, ref="b")],
)


def _sent(mid: str, text: str, types: list[str], at: int = 1000) -> SentMessage:
    return SentMessage(mid=mid, seq=at, timestamp=at, text=text, attachment_types=types)


def test_same_text_and_attachments() -> None:
    assert is_same_message(_sent("m1", "Hi there_", ["image", "video"]), ALBUM)
    assert is_same_message(_sent("m1", "  Hi there_\r\n", ["image", "video"]), ALBUM)
    assert is_same_message(_sent("m1", "**Hi** there\\_", ["image", "video"]), ALBUM)  # MAX echoing the source


def test_different_text_or_attachments() -> None:
    assert not is_same_message(_sent("m1", "Hi there", ["image", "video"]), ALBUM)
    assert not is_same_message(_sent("m1", "Hi there_", ["video", "image"]), ALBUM)
    assert not is_same_message(_sent("m1", "Hi there_", ["image"]), ALBUM)
    assert not is_same_message(_sent("m1", "Hi there_", ["image", "video", "file"]), ALBUM)


def test_find_the_oldest_unclaimed_match_since_the_intent() -> None:
    messages = [
        _sent("new", "Hi there_", ["image", "video"], at=3000),
        _sent("mid", "Hi there_", ["image", "video"], at=2000),
        _sent("other", "Bye", [], at=1500),
        _sent("old", "Hi there_", ["image", "video"], at=1000),
    ]
    assert find_delivered(messages, ALBUM).mid == "old"
    assert find_delivered(messages, ALBUM, since_ms=1500).mid == "mid"
    assert find_delivered(messages, ALBUM, since_ms=1500, exclude_mids={"mid"}).mid == "new"
    assert find_delivered(messages, ALBUM, since_ms=3001) is None


def test_text_only_message() -> None:
    text = OutgoingMessage(markdown="plain", plain="plain")
    assert find_delivered([_sent("m", "plain", [])], text).mid == "m"
    assert find_delivered([_sent("m", "plain", ["image"])], text) is None
