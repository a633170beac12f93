"""Changing prompt files from the web page: a text in prompts.toml, or a recording.

Edits of ``prompts.toml`` replace only the value of one ``id = "..."`` entry
(every other byte of the file — comments, order, blank lines, a comment after
the value — stays as it was), check the result with :mod:`tomllib`, and write
the file atomically (a temporary file in the same folder, then rename), so the
bot, which reloads prompts between calls, never reads half a file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tomllib
from datetime import datetime, timezone
from pathlib import Path

from callbot.audio import decode_file
from callbot.errors import AudioError
from callbot.prompts.layout import AUDIO_EXTENSIONS, TEXTS_FILE
from callbot.web.uploads import RecordingRefused, check_recording

PROMPT_ID = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_TEXT = 2000
OLD_RECORDINGS = ".replaced"  # hidden, so the prompt loader ignores it


class PromptEditError(Exception):
    """The edit was refused; the message says why (for the page). ``status``: the HTTP status
    to answer with (400, 413), or None to go back to the page with the message."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------
# TOML strings


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (double quotes, escapes)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def clean_text(text: str) -> str:
    """A prompt text as it is stored: one line, single spaces, trimmed."""
    cleaned = " ".join(text.split())
    if not cleaned:
        raise PromptEditError("the text is empty — write what the bot should say")
    if len(cleaned) > MAX_TEXT:
        raise PromptEditError(f"the text is too long ({len(cleaned)} characters, at most {MAX_TEXT})")
    return cleaned


def _value_end(source: str, start: int) -> int:
    """Index just after the TOML string value that begins at ``source[start]``."""
    for quote in ('"""', "'''"):
        if source.startswith(quote, start):
            i = start + 3
            while True:
                j = source.find(quote, i)
                if j < 0:
                    raise PromptEditError("unterminated multi-line string in the file")
                if quote == '"""' and _escaped(source, j):
                    i = j + 1
                    continue
                end = j + 3
                while end < len(source) and source[end] == quote[0] and end - j < 5:
                    end += 1  # up to two quotes may directly precede the closing delimiter
                return end
    quote = source[start]
    if quote not in "\"'":
        raise PromptEditError("the value is not a string in quotes")
    i = start + 1
    while i < len(source):
        ch = source[i]
        if ch == "\n":
            break
        if quote == '"' and ch == "\\":
            i += 2
            continue
        if ch == quote:
            return i + 1
        i += 1
    raise PromptEditError("unterminated string in the file")


def _escaped(source: str, index: int) -> bool:
    backslashes = 0
    i = index - 1
    while i >= 0 and source[i] == "\\":
        backslashes += 1
        i -= 1
    return backslashes % 2 == 1


def _key_pattern(prompt_id: str) -> re.Pattern[str]:
    k = re.escape(prompt_id)
    return re.compile(rf"""(?m)^[ \t]*(?:{k}|"{k}"|'{k}')[ \t]*=[ \t]*""")


def set_text_in_source(source: str, prompt_id: str, text: str) -> str:
    """``source`` (prompts.toml) with the text of ``prompt_id`` replaced (or a line appended)."""
    if not PROMPT_ID.match(prompt_id):
        raise PromptEditError(f"invalid prompt id {prompt_id!r}")
    try:
        before = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise PromptEditError(f"{TEXTS_FILE} is not valid TOML ({exc}) — fix it in an editor first") from None
    value = toml_string(text)
    matches = [m for m in _key_pattern(prompt_id).finditer(source) if not _inside_string(source, m.start())]
    if len(matches) > 1:
        raise PromptEditError(f"{prompt_id!r} is defined more than once in {TEXTS_FILE}")
    if matches:
        start = matches[0].end()
        end = _value_end(source, start)
        updated = source[:start] + value + source[end:]
    else:
        sep = "" if not source or source.endswith("\n") else "\n"
        updated = f"{source}{sep}{prompt_id} = {value}\n"
    try:
        after = tomllib.loads(updated)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - a bug in the editing above
        raise PromptEditError(f"the edit would break {TEXTS_FILE} ({exc}); nothing was changed") from None
    expected = dict(before)
    expected[prompt_id] = text
    if after != expected:  # pragma: no cover - a bug in the editing above
        raise PromptEditError(f"the edit would change other entries of {TEXTS_FILE}; nothing was changed")
    return updated


def _inside_string(source: str, index: int) -> bool:
    """Whether ``index`` (a line start) lies inside a multi-line string."""
    head = source[:index]
    return (head.count('"""') - head.count('\\"""')) % 2 == 1 or head.count("'''") % 2 == 1


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new file, never a mix."""
    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    mode = None
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o7777
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def set_prompt_text(lang_dir: Path, prompt_id: str, text: str) -> str:
    """Set the text of ``prompt_id`` in ``lang_dir/prompts.toml``; returns the stored text."""
    text = clean_text(text)
    path = lang_dir / TEXTS_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = b""
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PromptEditError(f"{path} is not UTF-8 text — fix it in an editor first") from None
    newline = "\r\n" if "\r\n" in source else None
    updated = set_text_in_source(source.replace("\r\n", "\n") if newline else source, prompt_id, text)
    if newline:
        updated = updated.replace("\n", newline)
    write_atomic(path, updated.encode("utf-8"))
    return text


# --------------------------------------------------------------------------
# Recordings


def recording_extension(filename: str) -> str:
    """The lower-case extension of an uploaded file, if it is a format prompts may have."""
    ext = os.path.splitext(filename or "")[1].lower()
    if ext not in AUDIO_EXTENSIONS:
        allowed = ", ".join(e.lstrip(".").upper() for e in AUDIO_EXTENSIONS)
        raise PromptEditError(f"{filename or 'the file'}: not a supported recording — use {allowed}")
    return ext


def save_recording(lang_dir: Path, prompt_id: str, filename: str, data_file, max_bytes: int) -> Path:
    """Save an uploaded recording as ``lang_dir/<prompt_id><ext>``.

    The upload is checked before anything changes — its size while it is copied
    (``max_bytes``, else 413), its header (:func:`callbot.web.uploads.check_recording`:
    sample rate, duration, decoded size, else 400), then that it decodes; older
    recordings of the prompt (any extension) are moved to ``lang_dir/.replaced/``.
    Slow (decoding): call it from a worker thread.
    """
    if not PROMPT_ID.match(prompt_id):
        raise PromptEditError(f"invalid prompt id {prompt_id!r}")
    ext = recording_extension(filename)
    tmp = lang_dir / f".upload-{prompt_id}-{secrets.token_hex(4)}{ext}"
    size = 0
    try:
        with open(tmp, "xb") as out:
            while chunk := data_file.read(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise PromptEditError(f"the file is larger than {max_bytes // (1 << 20)} MB", status=413)
                out.write(chunk)
        if size == 0:
            raise PromptEditError("the file is empty")
        try:
            check_recording(tmp, filename)
        except RecordingRefused as exc:
            raise PromptEditError(str(exc), status=exc.status) from None
        try:
            decode_file(tmp)
        except AudioError as exc:
            reason = str(exc).replace(str(tmp), filename)
            raise PromptEditError(reason) from None
        target = lang_dir / f"{prompt_id}{ext}"
        old = [p for p in lang_dir.iterdir()
               if p.is_file() and p.stem == prompt_id and p.suffix.lower() in AUDIO_EXTENSIONS]
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        for path in old:
            backup = lang_dir / OLD_RECORDINGS / f"{path.stem}-{stamp}{path.suffix}"
            backup.parent.mkdir(exist_ok=True)
            if path.name == target.name:
                shutil.copy2(path, backup)
            else:
                os.replace(path, backup)
        os.replace(tmp, target)
        return target
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
