"""Did a message we were about to send already arrive? The check behind sending each post exactly once.

The migration records an intent before each `send` and the outcome after. A retry that finds an intent with no
outcome cannot know whether the send arrived (the worker died, or the connection broke after MAX stored the
message), so it reads the channel back (`MaxClient.recent_messages`) and looks for the message here before
sending again.

A sent message matches when it shows the same text and carries the same kinds of attachment in the same order.
MAX answers with the plain text its Markdown renders to (`OutgoingMessage.plain`); the Markdown itself is
accepted too, should MAX ever echo the source. Surrounding whitespace and line endings are not compared.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from domain.max_split import OutgoingMessage

if TYPE_CHECKING:  # MAX's answer, as the client reads it: only its shape is compared here
    from clients.max import SentMessage


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def is_same_message(sent: SentMessage, expected: OutgoingMessage) -> bool:
    texts = {_normal(expected.plain), _normal(expected.markdown)}
    return _normal(sent.text) in texts and sent.attachment_types == [kind.value for kind in expected.kinds]


def find_delivered(
    messages: Iterable[SentMessage],
    expected: OutgoingMessage,
    *,
    since_ms: int | None = None,
    exclude_mids: Collection[str] = (),
) -> SentMessage | None:
    """The oldest message that is `expected`, sent at or after `since_ms` and not already another post's.

    `since_ms`: when the intent was recorded, less a margin for clock skew (MAX stamps messages with its own
    clock). `exclude_mids`: messages already recorded as other posts' outcomes, so two posts with the same text
    (a repeated "Good morning!") never both claim one message.
    """
    candidates = [
        m
        for m in messages
        if m.mid not in exclude_mids and (since_ms is None or m.timestamp >= since_ms) and is_same_message(m, expected)
    ]
    return min(candidates, key=lambda m: (m.timestamp, m.seq or 0), default=None)
