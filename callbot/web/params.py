"""Checking what a URL asks for: nonsense is a 400 with a reason, never a 500.

Two layers:

* :class:`RequestCheckMiddleware` — for EVERY request, before any handler: the path and
  the query string must be well-formed text (percent-escapes that decode as UTF-8, no
  control characters such as NUL, no Unicode noncharacters such as U+10FFFF) and not
  absurdly long.
* :func:`query` — in a handler: its known parameters, each at most once and at most so
  long; :func:`page_number` for ``page``. Unknown parameters are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from callbot.web.middleware import plain_error

MAX_QUERY = 8 * 1024  # bytes of a whole query string
MAX_PATH = 2 * 1024  # characters of a path
MAX_VALUE = 200  # characters of one parameter, unless a handler says otherwise
MAX_PAGE = 1_000_000
SQLITE_MAX_INT = 2**63 - 1


def bad_text(text: str) -> str | None:
    """Why ``text`` is no usable text (None: it is): control characters, surrogates,
    noncharacters (U+FFFE, U+10FFFF ...) or U+FFFD (what a broken escape decodes to)."""
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            return "contains a control character"
        if 0xD800 <= code <= 0xDFFF:
            return "contains a lone surrogate"
        if code == 0xFFFD:
            return "is not valid UTF-8"
        if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
            return f"contains the noncharacter U+{code:04X}"
    return None


def _query_problem(raw: bytes) -> str | None:
    if len(raw) > MAX_QUERY:
        return f"the query string is too long (at most {MAX_QUERY} bytes)"
    for part in raw.split(b"&"):
        for piece in part.split(b"=", 1):
            try:
                text = unquote_to_bytes(piece.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return "the query string is not valid UTF-8"
            why = bad_text(text)
            if why:
                return f"a query parameter {why}"
    return None


class RequestCheckMiddleware:
    """400 for a request whose path or query string is not well-formed text."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "")
            why = f"the path is too long (at most {MAX_PATH} characters)" if len(path) > MAX_PATH else None
            if why is None and bad_text(path):
                why = f"the path {bad_text(path)}"
            why = why or _query_problem(scope.get("query_string") or b"")
            if why:
                return await plain_error(400, f"Bad request: {why}.")(scope, receive, send)
        await self.app(scope, receive, send)


def query(request: Request, limits: Mapping[str, int]) -> dict[str, str]:
    """The parameters of ``limits`` (name -> most characters) that the URL gives, stripped;
    400 when one is given twice, is too long or is no usable text."""
    params = request.query_params
    out: dict[str, str] = {}
    for name, most in limits.items():
        values = params.getlist(name)
        if not values:
            continue
        if len(values) > 1:
            raise HTTPException(400, f"The parameter {name!r} is given {len(values)} times; give it once.")
        value = values[0].strip()
        if len(value) > most:
            raise HTTPException(400, f"The parameter {name!r} is too long (at most {most} characters).")
        why = bad_text(value)
        if why:
            raise HTTPException(400, f"The parameter {name!r} {why}.")
        out[name] = value
    return out


def page_number(value: str | None) -> int:
    """``page``: a whole number 1 to a million (missing or empty: 1); else 400."""
    if not value:
        return 1
    if not (value.isascii() and value.isdigit()) or len(value) > 7 or not 1 <= int(value) <= MAX_PAGE:
        raise HTTPException(400, f"'page' must be a whole number from 1 to {MAX_PAGE}.")
    return int(value)


def row_id(value: object) -> int:
    """A row id from the path (``{id:int}``): 404 when no row can have it."""
    number = int(value)  # type: ignore[arg-type]
    if not 0 < number <= SQLITE_MAX_INT:
        raise HTTPException(404, "No such entry.")
    return number
