"""Call recordings (``/recordings/{path}``), served from ``[storage] recordings`` with HTTP
Range support (206 / 416, If-Range, ETag) so browsers can seek; :func:`ranged_response`
also serves the prompt audio of :mod:`callbot.web.views.prompts`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from callbot.i18n import N_
from callbot.web.state import state_of

AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".mp3": "audio/mpeg"}
CHUNK = 64 * 1024


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """The byte range asked for: ``(start, end)`` inclusive; ``None`` = send everything;
    ``False`` = not satisfiable (416). Multiple ranges or bad syntax are ignored (RFC 9110)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or not first) or not (last.isdigit() or not last) or (not first and not last):
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return False
        return max(0, size - n), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        return False
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


def _iter_file(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(start)
        left = length
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def ranged_response(request: Request, *, media_type: str, path: Path | None = None, body: bytes | None = None,
                    etag: str, last_modified: float | None = None) -> Response:
    """200 with the whole content, 206 with the requested part, or 416 — for a file or bytes."""
    size = path.stat().st_size if path is not None else len(body or b"")
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": "private, no-cache"}
    if last_modified is not None:
        from email.utils import formatdate

        headers["Last-Modified"] = formatdate(last_modified, usegmt=True)
    wanted = parse_range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if wanted is not None and if_range and if_range.strip() != etag:
        wanted = None  # the client's copy is outdated: send it all
    if wanted is False:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    if wanted is None:
        start, end, status = 0, size - 1, 200
    else:
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    if body is not None:
        return Response(body[start : end + 1], status_code=status, headers=headers, media_type=media_type)
    assert path is not None
    return StreamingResponse(_iter_file(path, start, length), status_code=status, headers=headers,
                             media_type=media_type)


def resolve_recording(root: Path, relative: str) -> Path | None:
    """The recording file ``relative`` inside ``root``; None if it is outside, missing or not audio."""
    if not relative or len(relative) > 1024 or "\x00" in relative or "\\" in relative or relative.startswith("/"):
        return None
    parts = PurePosixPath(relative).parts
    if any(part in ("..", ".") for part in parts):
        return None
    try:
        base = root.resolve()
        path = (base / relative).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return None
    except (OSError, RuntimeError, ValueError):  # a name too long, a loop ...
        return None
    if path.suffix.lower() not in AUDIO_TYPES:
        return None
    return path


def recording(request: Request) -> Response:
    state = state_of(request)
    path = resolve_recording(Path(state.config.storage.recordings), request.path_params["path"])
    if path is None:
        raise HTTPException(404, N_("No such recording."))
    st = path.stat()
    etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    return ranged_response(request, media_type=AUDIO_TYPES[path.suffix.lower()], path=path, etag=etag,
                           last_modified=st.st_mtime)
