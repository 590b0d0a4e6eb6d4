"""Where a downloaded media file goes: a name of its own inside the caller's directory.

File names come from whoever posted the file: a name with directories in it, `..`, control characters or no name
at all must still land inside `dest_dir`, and two files of one album both called `image.jpg` must not overwrite
each other, even when downloaded at the same time.
"""

from __future__ import annotations

import hashlib
import mimetypes
import unicodedata
from itertools import count
from pathlib import Path

from domain.posts import Media, MediaKind

MAX_NAME_CHARS = 120
_DEFAULT_SUFFIX = {MediaKind.image: ".jpg", MediaKind.video: ".mp4", MediaKind.audio: ".ogg", MediaKind.file: ""}


def safe_file_name(name: str | None) -> str | None:
    """The last component of `name` without control or format characters, or None if nothing usable is left."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if not cleaned:
        return None
    stem, dot, suffix = cleaned.rpartition(".")
    if dot and stem and len(suffix) <= 10:
        return stem[: MAX_NAME_CHARS - len(suffix) - 1] + "." + suffix
    return cleaned[:MAX_NAME_CHARS]


def file_name_for(media: Media) -> str:
    """The media's own name when it is usable, else one made from its kind, its ref and its MIME type."""
    name = safe_file_name(media.file_name)
    if name:
        return name
    suffix = (mimetypes.guess_extension(media.mime_type or "") or "") if media.mime_type else ""
    if suffix in ("", ".jpe"):
        suffix = _DEFAULT_SUFFIX[media.kind] if suffix == "" else ".jpg"
    return f"{media.kind.value}_{hashlib.sha256(media.ref.encode()).hexdigest()[:12]}{suffix}"


def reserve_path(dest_dir: Path, media: Media) -> Path:
    """Create an empty file with a name no other download in `dest_dir` has, and return its path."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = file_name_for(media)
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    for n in count(1):
        candidate = dest_dir / (name if n == 1 else f"{stem}-{n}{'.' + suffix if suffix else ''}")
        try:
            candidate.open("x").close()  # exclusive create: two concurrent downloads never pick the same name
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")
