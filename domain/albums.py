"""Albums in a stream of channel messages, the same way for both Telegram sources.

Each source first turns every message into a one-message `Post` carrying the message's `album_id`; these
functions then make one post of each album and keep an album whole across pages.
"""

from __future__ import annotations

from itertools import groupby

from domain.posts import Post, PostKind

ALBUM_MAX = 10  # Telegram's most messages in one album (media group)


def merge_albums(messages: list[Post]) -> list[Post]:
    """One post per album (consecutive messages sharing an `album_id`), the others as they are."""
    posts: list[Post] = []
    for album_id, run in groupby(messages, key=lambda post: post.album_id):
        members = list(run)
        if album_id is None or len(members) == 1:
            posts.extend(members)
        else:
            posts.append(album_post(members))
    return posts


def album_post(members: list[Post]) -> Post:
    """An album as one post: every member's media in order, the caption of the member that has one.

    Members that cannot be published (a file the export left out) make the whole album unpublishable: MAX would
    otherwise show part of an album as if it were all of it.
    """
    first = members[0]
    captioned = next((member for member in members if member.text), None)
    blocked = next((member for member in members if member.kind != PostKind.content), None)
    return Post(
        id=first.id,
        date=first.date,
        kind=blocked.kind if blocked else PostKind.content,
        text=captioned.text if captioned else "",
        entities=captioned.entities if captioned else [],
        media=[media for member in members for media in member.media],
        album_id=first.album_id,
        member_ids=[member.id for member in members],
        skip_reason=blocked.skip_reason if blocked else None,
    )


def hold_back_last_album(messages: list[Post]) -> tuple[list[Post], list[Post]]:
    """Split a full page before the album it ends with, which may go on in the next page: (kept, held back)."""
    if not messages or messages[-1].album_id is None:
        return messages, []
    album_id, start = messages[-1].album_id, len(messages) - 1
    while start > 0 and messages[start - 1].album_id == album_id:
        start -= 1
    return messages[:start], messages[start:]
