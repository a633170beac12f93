"""The review web page: calls, recordings, leads, caller lists and prompts.

Server-rendered (Starlette + Jinja2, autoescaping on), no JavaScript.
:func:`create_app` builds the ASGI app from a :class:`~callbot.config.Config`;
``callbot web`` runs it with uvicorn.

Security model
--------------
* Every page except ``/login`` and ``/static`` needs a login
  (:class:`AuthMiddleware`); there is one user, ``[web] user``, whose password
  is checked against ``[web] password_hash`` (scrypt, constant-time compare).
  After 5 wrong passwords from one client address that client is locked out
  for 30 s (:class:`~callbot.web.auth.LoginLimiter`, in memory).
* The session is a signed cookie (Starlette's SessionMiddleware, itsdangerous):
  HttpOnly, SameSite=Lax, Secure when ``[web] secure_cookies``. It holds the
  user name, the CSRF token and a fingerprint of the password hash, so
  changing the password ends every session.
* Every POST (any unsafe method, on any path) is checked in ONE place,
  :class:`CSRFMiddleware`: the form field ``csrf_token`` (or the header
  ``X-CSRF-Token``) must equal the session's token, else 403. It also caps the
  request body size. Handlers read the already parsed form from
  :func:`form_of`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import os
import re
import secrets
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time as dtime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callbot.config import LANGUAGES, Config
from callbot.errors import CallbotError, PromptError, ScriptError
from callbot.outcome import OUTCOMES
from callbot.store import Store
from callbot.times import local_time
from callbot.web import data
from callbot.web.auth import LoginLimiter, new_token, tokens_equal
from callbot.passwords import verify_password
from callbot.web.promptfiles import PROMPT_ID, PromptEditError, save_recording, set_prompt_text

log = logging.getLogger("callbot.web")

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "callbot_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 25 * 1024 * 1024  # bytes of any request body (a prompt recording upload)
MAX_UPLOAD = 20 * 1024 * 1024
MAX_REASON = 500
AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".mp3": "audio/mpeg"}
CHUNK = 64 * 1024
_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")


_now = time.time  # the wall clock of logins (tests replace it)


# --------------------------------------------------------------------------
# State


@dataclass
class WebState:
    config: Config
    store: Store
    user: str
    password_hash: str
    env: Environment
    limiter: LoginLimiter
    secret_generated: bool = False
    prompt_lock: threading.Lock = field(default_factory=threading.Lock)
    _reports: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def password_fingerprint(self) -> str:
        return hashlib.sha256(b"callbot-web\0" + self.password_hash.encode()).hexdigest()[:16]


def state_of(request: Request) -> WebState:
    return request.app.state.web


def form_of(request: Request) -> FormData:
    """The form of a POST, parsed (and CSRF-checked) by :class:`CSRFMiddleware`."""
    return request.scope.get("callbot.form") or FormData()


# --------------------------------------------------------------------------
# Middleware


class SecurityHeadersMiddleware:
    """Headers on every response: no framing, no sniffing, a strict CSP, no caching of pages."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy",
         b"default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; "
         b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ]

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.HEADERS if k not in names]
                if b"cache-control" not in names:
                    static = scope["path"].startswith("/static/")
                    headers.append((b"cache-control", b"private, max-age=3600" if static else b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    pass


def _plain_error(status: int, text: str) -> Response:
    return HTMLResponse(f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{text}</p>",
                        status_code=status)


class CSRFMiddleware:
    """THE place where every unsafe request is checked for the session's CSRF token."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _plain_error(413, "The upload is too large.")(scope, receive, send)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge()
            return message

        request = Request(scope, limited_receive)
        try:
            form = await request.form(max_files=2, max_fields=50)
        except _BodyTooLarge:
            return await _plain_error(413, "The upload is too large.")(scope, receive, send)
        except Exception:  # malformed multipart etc.
            return await _plain_error(400, "The form could not be read.")(scope, receive, send)
        try:
            session = scope.get("session") or {}
            sent = form.get(CSRF_FIELD)
            if not isinstance(sent, str):
                sent = request.headers.get(CSRF_HEADER)
            if not tokens_equal(sent, session.get("csrf")):
                log.warning("refused %s %r: missing or wrong CSRF token", scope["method"], scope["path"])
                message = ("This form has expired or did not come from this page — go back, reload "
                           "the page and try again.")
                state = scope["app"].state.web
                if scope.get("scheme") == "http" and state.config.web.secure_cookies:
                    message += (" (The page is set up for https — [web] secure_cookies = true — so over "
                                "plain http the login cookie is never sent.)")
                response = _plain_error(403, message)
                return await response(scope, receive, send)
            scope["callbot.form"] = form
            sent_empty = False

            async def empty_receive() -> Message:
                nonlocal sent_empty
                if not sent_empty:
                    sent_empty = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                return await receive()

            await self.app(scope, empty_receive, send)
        finally:
            await form.close()


class AuthMiddleware:
    """Everything but the login page and static files needs a logged-in session."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == "/login" or path.startswith("/static/"):
            return await self.app(scope, receive, send)
        state: WebState = scope["app"].state.web
        session = scope.get("session")
        if session is not None and session.get("user"):
            fresh = _now() - float(session.get("since") or 0) < state.config.web.session_hours * 3600
            if session.get("pw") == state.password_fingerprint and fresh:
                return await self.app(scope, receive, send)
            session.clear()  # the password changed or the login is too old (the cookie's max-age slides)
        target = path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
        location = "/login" + ("?" + urlencode({"next": target}) if path != "/" else "")
        await RedirectResponse(location, status_code=303)(scope, receive, send)


# --------------------------------------------------------------------------
# Rendering


def _local(iso: str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    moment = local_time(iso)
    return moment.strftime(fmt) if moment else iso or ""


def _local_ms(iso: str | None) -> str:
    moment = local_time(iso)
    if moment is None:
        return iso or ""
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _offset(iso: str | None, start: str | None) -> str:
    moment, begin = local_time(iso), local_time(start)
    if moment is None or begin is None:
        return ""
    return f"+{(moment - begin).total_seconds():.2f} s"


def _urlpath(value: str) -> str:
    return quote(value, safe="/+")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(local=_local, local_ms=_local_ms, offset=_offset, urlpath=_urlpath, seconds=_seconds)
    return env


def csrf_token(request: Request) -> str:
    session = request.session
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = new_token()
    return token


def flash(request: Request, kind: str, text: str) -> None:
    messages = list(request.session.get("flash", []))
    messages.append([kind, text[:400]])
    request.session["flash"] = messages[-5:]


def render(request: Request, template: str, status: int = 200, headers: dict | None = None,
           **context: Any) -> HTMLResponse:
    state = state_of(request)
    token = csrf_token(request)
    messages = request.session.pop("flash", [])
    page = state.env.get_template(template).render(
        request=request,
        user=request.session.get("user"),
        csrf_field=Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token),
        messages=messages,
        secret_generated=state.secret_generated,
        **context,
    )
    return HTMLResponse(page, status_code=status, headers=headers)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(value: Any, default: str) -> str:
    """A local path to go back to after a form (never another site)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") \
            and "\\" not in value and not any(ord(c) < 0x20 for c in value):
        return value
    return default


# --------------------------------------------------------------------------
# Login


def login_page(request: Request) -> Response:
    if request.session.get("user") and request.session.get("pw") == state_of(request).password_fingerprint:
        return redirect(_safe_next(request.query_params.get("next"), "/calls"))
    return render(request, "login.html", next=_safe_next(request.query_params.get("next"), "/calls"))


def login(request: Request) -> Response:
    state = state_of(request)
    form = form_of(request)
    client = request.client.host if request.client else "unknown"
    target = _safe_next(form.get("next"), "/calls")
    wait = state.limiter.attempt(client)  # counts as a failure until it succeeds
    if wait <= 0:
        password = form.get("password")
        if isinstance(password, str) and password and verify_password(password, state.password_hash):
            state.limiter.succeeded(client)
            request.session.clear()
            request.session.update(user=state.user, csrf=new_token(), pw=state.password_fingerprint,
                                   since=int(_now()))
            log.info("web login by %s from %s", state.user, client)
            return redirect(target)
        log.warning("failed web login from %s", client)
        wait = state.limiter.retry_after(client)
        if wait <= 0:
            return render(request, "login.html", status=401, next=target, error="Wrong password.")
    seconds = math.ceil(wait)
    return render(request, "login.html", status=429, headers={"Retry-After": str(seconds)}, next=target,
                  error=f"Too many wrong passwords. Try again in {seconds} s.")


def logout(request: Request) -> Response:
    request.session.clear()
    return redirect("/login")


# --------------------------------------------------------------------------
# Calls


def _parse_day(value: str | None, end: bool) -> datetime | None:
    """A date from the filter form (YYYY-MM-DD, local time): the start of that day, or with
    ``end`` the start of the next one (the store's ``until`` is exclusive)."""
    if not value:
        return None
    day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, dtime.min).astimezone()


def _page_links(page: int, pages: int | None) -> list[int | None]:
    """Page numbers to link to: first, last (when known) and a window around ``page`` (None = a gap)."""
    if pages is None:
        wanted = sorted({1, *range(max(1, page - 3), page + 1)})
    else:
        wanted = sorted({1, pages, *range(max(1, page - 3), min(pages, page + 3) + 1)})
    links: list[int | None] = []
    for n in wanted:
        if links and links[-1] is not None and n - links[-1] > 1:
            links.append(None)
        links.append(n)
    return links


def calls_page(request: Request) -> Response:
    state = state_of(request)
    q = request.query_params
    filters = {key: (q.get(key) or "").strip() for key in ("q", "outcome", "label", "number", "from", "to")}
    errors: list[str] = []
    outcome = filters["outcome"] or None
    if outcome and outcome not in OUTCOMES:
        errors.append(f"unknown outcome {outcome!r}")
        outcome = None
    label = filters["label"] or None
    since = until = None
    try:
        since = _parse_day(filters["from"], end=False)
    except ValueError:
        errors.append("'from' must be a date like 2026-11-22")
    try:
        until = _parse_day(filters["to"], end=True)
    except ValueError:
        errors.append("'to' must be a date like 2026-11-22")
    try:
        page = max(1, int(q.get("page") or 1))
    except ValueError:
        page = 1
    per_page = state.config.web.per_page
    started = time.perf_counter()
    records, total = data.search(state.store, text=filters["q"] or None, outcome=outcome,
                                 number=filters["number"] or None, since=since, until=until, label=label,
                                 page=page, per_page=per_page)
    elapsed = time.perf_counter() - started
    if total < 0:  # more than the store counts: no last page, "next" while pages are full
        pages = None
        has_next = len(records) == per_page
    else:
        pages = max(1, math.ceil(total / per_page))
        has_next = page < pages
    active = {k: v for k, v in filters.items() if v}

    def page_url(n: int) -> str:
        return "/calls?" + urlencode({**active, "page": n})

    from callbot.script import LABELS

    return render(request, "calls.html", records=records, total=total, page=page, pages=pages,
                  has_next=has_next, links=_page_links(page, pages), page_url=page_url, filters=filters,
                  errors=errors,
                  outcomes=sorted(OUTCOMES), labels=LABELS, elapsed_ms=elapsed * 1000)


def _call_id(request: Request) -> int:
    return int(request.path_params["call_id"])


def call_page(request: Request) -> Response:
    state = state_of(request)
    record = state.store.call(_call_id(request))
    if record is None:
        raise HTTPException(404, "No such call.")
    number = record.caller_number if not record.withheld else None
    on_lists = data.number_lists(state.store, number, record.caller_display) if number else None
    return render(request, "call.html", call=record, events=state.store.events(record.id),
                  turns=state.store.turns(record.id), leads=state.store.call_leads(record.id),
                  number=number, on_lists=on_lists, here=f"/calls/{record.id}")


def _number(request: Request) -> str:
    number = request.path_params["number"]
    if not _NUMBER.match(number):
        raise HTTPException(404, "Not a phone number.")
    return number


def number_page(request: Request) -> Response:
    state = state_of(request)
    number = _number(request)
    records = data.timeline(state.store, number)
    display = next((r.caller_display for r in records if r.caller_display), None)
    return render(request, "number.html", number=number, records=records,
                  on_lists=data.number_lists(state.store, number, display), here=f"/numbers/{number}")


def _reason(form: FormData) -> str:
    reason = form.get("reason")
    reason = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not reason:
        raise _FormProblem("Give a reason (it is kept with the list entry).")
    if len(reason) > MAX_REASON:
        raise _FormProblem(f"The reason is too long (at most {MAX_REASON} characters).")
    return reason


class _FormProblem(Exception):
    pass


def _list_action(request: Request, action: str) -> Response:
    state = state_of(request)
    number = _number(request)
    form = form_of(request)
    back = _safe_next(form.get("next"), f"/numbers/{number}")
    try:
        reason = _reason(form)
        if action == "block":
            data.put_on_list(state.store, data.BLOCK_LIST, number, reason, state.user)
            message = f"{number} is blocked."
        elif action == "allow":
            data.put_on_list(state.store, data.ALLOW_LIST, number, reason, state.user)
            message = f"{number} is allowed."
        else:
            gone = data.take_off_list(state.store, data.BLOCK_LIST, number)
            message = f"{number} is no longer blocked." if gone else f"{number} was not on the block list."
    except (_FormProblem, CallbotError) as exc:
        flash(request, "error", str(exc))
        return redirect(back)
    log.info("%s: %s %s (%s)", state.user, action, number, reason)
    flash(request, "ok", message)
    return redirect(back)


def block(request: Request) -> Response:
    return _list_action(request, "block")


def allow(request: Request) -> Response:
    return _list_action(request, "allow")


def unblock(request: Request) -> Response:
    return _list_action(request, "unblock")


# --------------------------------------------------------------------------
# Lists and leads


def lists_page(request: Request) -> Response:
    from callbot.lists import describe

    state = state_of(request)
    return render(request, "lists.html", entries=data.current_entries(state.store), describe=describe)


def lists_add(request: Request) -> Response:
    from callbot.lists import LISTS, guess_kind

    state = state_of(request)
    form = form_of(request)
    list_name = form.get("list")
    raw = form.get("value")
    value = raw.strip() if isinstance(raw, str) else ""
    try:
        if list_name not in LISTS:
            raise _FormProblem("Choose the block list or the allow list.")
        if not value:
            raise _FormProblem("Give a number, a number range ending in * (+4930123*) or a name.")
        reason = _reason(form)
        data.put_on_list(state.store, list_name, value, reason, state.user, kind=guess_kind(value))
    except (_FormProblem, CallbotError) as exc:
        flash(request, "error", str(exc))
        return redirect("/lists")
    log.info("%s: added %r to the %s list (%s)", state.user, value, list_name, reason)
    flash(request, "ok", f"{value} is on the {list_name} list.")
    return redirect("/lists")


def _entry_action(request: Request, action: str) -> Response:
    state = state_of(request)
    entry_id = int(request.path_params["entry_id"])
    back = _safe_next(form_of(request).get("next"), "/lists")
    try:
        if action == "confirm":
            data.confirm_entry(state.store, entry_id)
        else:
            data.remove_entry(state.store, entry_id)
    except CallbotError as exc:
        flash(request, "error", str(exc))
        return redirect(back)
    log.info("%s: %s list entry %d", state.user, action, entry_id)
    flash(request, "ok", f"Entry {entry_id} {'confirmed' if action == 'confirm' else 'removed'}.")
    return redirect(back)


def lists_confirm(request: Request) -> Response:
    return _entry_action(request, "confirm")


def lists_remove(request: Request) -> Response:
    return _entry_action(request, "remove")


def leads_page(request: Request) -> Response:
    state = state_of(request)
    return render(request, "leads.html", leads=state.store.leads(limit=500))


# --------------------------------------------------------------------------
# Audio with Range support


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
    if not relative or "\x00" in relative or "\\" in relative or relative.startswith("/"):
        return None
    parts = PurePosixPath(relative).parts
    if any(part in ("..", ".") for part in parts):
        return None
    try:
        base = root.resolve()
        path = (base / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    if path.suffix.lower() not in AUDIO_TYPES:
        return None
    return path


def recording(request: Request) -> Response:
    state = state_of(request)
    path = resolve_recording(Path(state.config.storage.recordings), request.path_params["path"])
    if path is None:
        raise HTTPException(404, "No such recording.")
    st = path.stat()
    etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    return ranged_response(request, media_type=AUDIO_TYPES[path.suffix.lower()], path=path, etag=etag,
                           last_modified=st.st_mtime)


# --------------------------------------------------------------------------
# Prompts


def _languages(state: WebState) -> list[str]:
    root = Path(state.config.prompts.dir)
    return [lang for lang in LANGUAGES if (root / lang).is_dir()]


def _language(request: Request, value: Any = None) -> str:
    state = state_of(request)
    lang = value if value is not None else request.query_params.get("lang")
    if not lang:
        return state.config.prompts.language
    if lang not in _languages(state):
        raise HTTPException(404, "No prompts for that language.")
    return lang


def _dir_stamp(lang_dir: Path) -> tuple:
    stamp = []
    with contextlib.suppress(OSError), os.scandir(lang_dir) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file():
                    st = entry.stat()
                    stamp.append((entry.name, st.st_mtime_ns, st.st_size))
    return tuple(sorted(stamp))


def _report(state: WebState, lang: str, fresh: bool = False):
    """The render report of a language (what callers hear and every problem), cached until a file changes."""
    from callbot.call.policy import POLICY_PROMPTS
    from callbot.prompts import PromptLibrary, config_kwargs

    lang_dir = Path(state.config.prompts.dir) / lang
    stamp = _dir_stamp(lang_dir)
    with state.prompt_lock:
        cached = state._reports.get(lang)
        if cached is not None and cached[0] == stamp and not fresh:
            return cached[1]
        report = PromptLibrary.render(**config_kwargs(state.config, lang), required=POLICY_PROMPTS)
        state._reports[lang] = (stamp, report)
        return report


def _script_check(state: WebState, lang: str, report) -> dict[str, Any]:
    from callbot.script import load_owner_script, script_path

    path = script_path(state.config.prompts.dir, lang)
    ids = set(report.prompts) | set(report.texts)
    try:
        script = load_owner_script(state.config.prompts.dir, lang, sorted(ids))
    except ScriptError as exc:
        return {"ok": False, "path": path, "problems": exc.problems or [str(exc)]}
    except CallbotError as exc:
        return {"ok": False, "path": path, "problems": [str(exc)]}
    return {"ok": True, "path": path, "steps": len(script.steps), "start": script.start,
            "used": state.config.calls.unknown == "screen"}


def _prompt_rows(report) -> list[dict[str, Any]]:
    ids = sorted(set(report.prompts) | set(report.texts) | {p.prompt_id for p in report.problems if p.prompt_id}
                 | set(report.required))
    rows = []
    for prompt_id in ids:
        prompt = report.prompts.get(prompt_id)
        if prompt is None:
            source = ""
        elif prompt.kind == "recording":
            source = f"recording {prompt.source.name}"
        else:
            source = f"TTS {prompt.tts}"
        rows.append({
            "id": prompt_id,
            "prompt": prompt,
            "source": source,
            "duration": prompt.duration if prompt is not None else None,
            "text": report.texts.get(prompt_id, ""),
            "problems": report.problems_of(prompt_id),
            "version": prompt.key[:12] if prompt is not None else "",
            "required": prompt_id in report.required,
        })
    return rows


def prompts_page(request: Request, *, fresh: bool = False, lang: str | None = None, status: int = 200) -> Response:
    state = state_of(request)
    lang = lang or _language(request)
    try:
        report = _report(state, lang, fresh=fresh)
    except PromptError as exc:
        return render(request, "prompts.html", status=500, lang=lang, languages=_languages(state), rows=[],
                      fatal=exc.problems, general=[], script=None, rendered=fresh)
    return render(request, "prompts.html", status=status, lang=lang, languages=_languages(state),
                  rows=_prompt_rows(report), fatal=[], rendered=fresh,
                  general=[p.message for p in report.problems if p.prompt_id is None],
                  problem_count=len(report.problems), script=_script_check(state, lang, report),
                  lang_dir=Path(state.config.prompts.dir) / lang)


def prompts_render(request: Request) -> Response:
    lang = _language(request, form_of(request).get("lang") or None)
    return prompts_page(request, fresh=True, lang=lang)


def _prompt_id(request: Request) -> str:
    prompt_id = request.path_params["prompt_id"]
    if not PROMPT_ID.match(prompt_id):
        raise HTTPException(404, "No such prompt.")
    return prompt_id


def _known_prompt(state: WebState, lang: str, prompt_id: str):
    report = _report(state, lang)
    known = set(report.prompts) | set(report.texts) | set(report.required) | {
        p.prompt_id for p in report.problems if p.prompt_id}
    if prompt_id not in known:
        raise HTTPException(404, "No such prompt.")
    return report


def prompt_text(request: Request) -> Response:
    state = state_of(request)
    lang = _language(request, request.path_params["lang"])
    prompt_id = _prompt_id(request)
    _known_prompt(state, lang, prompt_id)
    text = form_of(request).get("text")
    back = f"/prompts?lang={lang}#prompt-{prompt_id}"
    try:
        with state.prompt_lock:
            stored = set_prompt_text(Path(state.config.prompts.dir) / lang, prompt_id,
                                     text if isinstance(text, str) else "")
    except PromptEditError as exc:
        flash(request, "error", f"{prompt_id}: {exc}")
        return redirect(back)
    log.info("%s: changed the text of prompt %s/%s", state.user, lang, prompt_id)
    report = _report(state, lang, fresh=True)
    problems = report.problems_of(prompt_id)
    if problems:
        flash(request, "error", f"{prompt_id}: text saved, but: {problems[0]}")
    else:
        flash(request, "ok", f"{prompt_id}: text saved ({len(stored)} characters); callers hear it from the next call on.")
    return redirect(back)


def prompt_upload(request: Request) -> Response:
    state = state_of(request)
    lang = _language(request, request.path_params["lang"])
    prompt_id = _prompt_id(request)
    _known_prompt(state, lang, prompt_id)
    upload = form_of(request).get("file")
    back = f"/prompts?lang={lang}#prompt-{prompt_id}"
    if not isinstance(upload, UploadFile) or not upload.filename:
        flash(request, "error", f"{prompt_id}: choose a recording file to upload.")
        return redirect(back)
    try:
        upload.file.seek(0)
        with state.prompt_lock:
            saved = save_recording(Path(state.config.prompts.dir) / lang, prompt_id, upload.filename,
                                   upload.file, MAX_UPLOAD)
    except PromptEditError as exc:
        flash(request, "error", f"{prompt_id}: {exc}")
        return redirect(back)
    log.info("%s: uploaded a recording for prompt %s/%s", state.user, lang, prompt_id)
    report = _report(state, lang, fresh=True)
    problems = report.problems_of(prompt_id)
    if problems:
        flash(request, "error", f"{prompt_id}: saved as {saved.name}, but: {problems[0]}")
    else:
        prompt = report.prompts[prompt_id]
        flash(request, "ok", f"{prompt_id}: saved as {saved.name} ({prompt.duration:.1f} s as callers hear it).")
    return redirect(back)


def prompt_audio(request: Request) -> Response:
    state = state_of(request)
    lang = _language(request, request.path_params["lang"])
    prompt_id = _prompt_id(request)
    report = _report(state, lang)
    prompt = report.prompts.get(prompt_id)
    if prompt is None:
        raise HTTPException(404, "This prompt cannot be played (see its problems).")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(prompt.pcm)
    return ranged_response(request, media_type="audio/wav", body=buffer.getvalue(), etag=f'"{prompt.key[:24]}"')


# --------------------------------------------------------------------------
# Errors


async def http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or "Something went wrong."
    if "session" not in request.scope:
        return _plain_error(status, str(detail))
    return render(request, "error.html", status=status, status_code=status, detail=detail)


async def callbot_error(request: Request, exc: Exception) -> Response:
    log.error("web: %s", exc)
    return render(request, "error.html", status=500, status_code=500, detail=str(exc))


# --------------------------------------------------------------------------
# The app


def home(request: Request) -> Response:
    return redirect("/calls")


def create_app(config: Config, *, store: Store | None = None, session_secret: str | None = None,
               limiter: LoginLimiter | None = None) -> Starlette:
    """The ASGI app. ``config.web.password_hash`` must be set (see ``callbot web``)."""
    web = config.web
    if not web.password_hash:
        raise CallbotError("no password hash configured for the web page ([web] password_hash)")
    secret = session_secret or web.session_secret
    generated = not secret
    if generated:
        secret = secrets.token_urlsafe(32)
    own_store = store is None
    the_store = store if store is not None else Store(config.storage.database,
                                                      default_region=config.phone.default_region)
    state = WebState(config=config, store=the_store, user=web.user, password_hash=web.password_hash,
                     env=_environment(), limiter=limiter or LoginLimiter(), secret_generated=generated)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            yield
        finally:
            if own_store:
                the_store.close()

    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/calls", calls_page),
        Route("/calls/{call_id:int}", call_page),
        Route("/numbers/{number}", number_page),
        Route("/numbers/{number}/block", block, methods=["POST"]),
        Route("/numbers/{number}/allow", allow, methods=["POST"]),
        Route("/numbers/{number}/unblock", unblock, methods=["POST"]),
        Route("/lists", lists_page),
        Route("/lists", lists_add, methods=["POST"]),
        Route("/lists/{entry_id:int}/confirm", lists_confirm, methods=["POST"]),
        Route("/lists/{entry_id:int}/remove", lists_remove, methods=["POST"]),
        Route("/leads", leads_page),
        Route("/recordings/{path:path}", recording),
        Route("/prompts", prompts_page),
        Route("/prompts/render", prompts_render, methods=["POST"]),
        Route("/prompts/{lang}/{prompt_id}/text", prompt_text, methods=["POST"]),
        Route("/prompts/{lang}/{prompt_id}/recording", prompt_upload, methods=["POST"]),
        Route("/prompts/{lang}/{prompt_id}/audio.wav", prompt_audio),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                   max_age=web.session_hours * 3600, same_site="lax", https_only=web.secure_cookies),
        Middleware(CSRFMiddleware),
        Middleware(AuthMiddleware),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, CallbotError: callbot_error})
    app.state.web = state
    return app
