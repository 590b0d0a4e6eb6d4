"""The Telegram Desktop exports in the exports directory, each checked, so a person picks one instead of typing a
path. Blocking (it reads the disk and parses result.json): call `list_exports` in a thread."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from pydantic import BaseModel

from clients.telegram_export import RESULT_FILE, ExportInvalid, ExportSummary, check_export_blocking

# Directories a listing looks at: the exports directory is the operators', but a picker has no use for thousands.
MAX_LISTED = 200
# Checks kept per (result.json, size, modification time): a summary is small, and the check parses the whole file.
_CACHED_CHECKS = 512


class ExportListed(BaseModel):
    name: str  # the directory's name in the exports directory
    export_path: str  # what a Telegram channel's `export_path` takes to read it
    size_bytes: int  # result.json and every file under the directory
    modified_at: float  # result.json's modification time, Unix seconds
    valid: bool  # passes the check a channel's export_path is given when saved
    problem: str | None = None  # why it does not, in the words that check uses
    summary: ExportSummary | None = None  # what it holds (message_count, channel_name, dates...), when valid


_checks: OrderedDict[tuple[str, int, int, int | None], ExportSummary | str] = OrderedDict()
_checks_lock = threading.Lock()


def list_exports(root: Path, max_bytes: int | None = None) -> list[ExportListed]:
    """The directories right under `root` that hold a result.json, by name; the first MAX_LISTED of them, each
    checked as a channel's export is (`max_bytes`: the largest result.json taken)."""
    if not root.is_dir():
        return []
    candidates = sorted(
        (entry for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)), key=lambda e: e.name
    )
    listed = []
    for entry in candidates:
        directory = Path(entry.path)
        result = directory / RESULT_FILE
        try:
            stat = result.stat()
        except OSError:
            continue  # not an export (yet): Desktop writes result.json last
        listed.append(_listed(root, directory, stat.st_size, stat.st_mtime_ns, max_bytes))
        if len(listed) == MAX_LISTED:
            break
    return listed


def _listed(root: Path, directory: Path, result_size: int, result_mtime_ns: int, max_bytes: int | None) -> ExportListed:
    checked = _checked(root, directory, result_size, result_mtime_ns, max_bytes)
    summary = checked if isinstance(checked, ExportSummary) else None
    return ExportListed(
        name=directory.name,
        export_path=str(directory),
        size_bytes=_size(directory),
        modified_at=result_mtime_ns / 1e9,
        valid=summary is not None,
        problem=None if summary is not None else str(checked),
        summary=summary,
    )


def _checked(root: Path, directory: Path, size: int, mtime_ns: int, max_bytes: int | None) -> ExportSummary | str:
    key = (str(directory), size, mtime_ns, max_bytes)
    with _checks_lock:
        if key in _checks:
            _checks.move_to_end(key)
            return _checks[key]
    try:
        checked: ExportSummary | str = check_export_blocking(directory, within=root, max_bytes=max_bytes)
    except ExportInvalid as exc:
        checked = str(exc)
    except OSError as exc:  # unreadable (permissions, a file vanishing mid-read): shown, not kept
        return f"cannot read {directory}: {exc.strerror or exc}"
    with _checks_lock:
        _checks[key] = checked
        while len(_checks) > _CACHED_CHECKS:
            _checks.popitem(last=False)
    return checked


def _size(directory: Path) -> int:
    """Bytes of the files under `directory`, links not followed (a link out of it is not the export's)."""
    total = 0
    for top, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                continue  # gone meanwhile
    return total
