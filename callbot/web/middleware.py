"""The ASGI middleware around every request, except CSRF (:mod:`callbot.web.csrf`).

* :class:`ClientAddressMiddleware`: the client's real address (``[web] trusted_proxies``,
  see :mod:`callbot.web.proxies`) replaces the peer in ``scope["client"]``.
* :class:`SecurityHeadersMiddleware`: no framing, no sniffing, a strict CSP, no caching of pages.
* :class:`BodyLimitMiddleware`: caps the body of every unsafe request (413).
* :class:`AuthMiddleware`: everything but ``/login``, ``/static`` and ``/setup`` needs a
  logged-in session; :func:`start_session` is what a login puts into the session cookie (and
  records server-side with the role, :class:`~callbot.store.sessions.SessionTable`),
  :func:`end_session` what logging out does, :func:`session_login` the check; the request
  carries the :class:`Login` (name, role) for :func:`login_of`. What each role may do is
  checked in one place, the route table of :mod:`callbot.web.app`.

The stack, outermost first (see :func:`callbot.web.app.create_app`): client address,
security headers, the path and query check (:mod:`callbot.web.params`), session cookie,
body limit, CSRF, auth.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callbot.web.auth import new_token
from callbot.web.proxies import client_address
from callbot.web.state import WebState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_UPLOAD = 20 * 1024 * 1024  # bytes of an uploaded prompt recording
MAX_BODY = MAX_UPLOAD + 64 * 1024  # bytes of any request body (the upload and its form around it)


_now = time.time  # the wall clock of logins (tests replace it)


def plain_error(status: int, text: str) -> Response:
    """An error page without templates or session (for refusals before a handler runs)."""
    return HTMLResponse(f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{text}</p>",
                        status_code=status)


# --------------------------------------------------------------------------
# Client address


class ClientAddressMiddleware:
    """Puts the client's real address into ``scope["client"]``: the peer, or — only when
    the peer is one of ``[web] trusted_proxies`` — the right-most untrusted
    ``X-Forwarded-For`` entry (:func:`callbot.web.proxies.client_address`). The peer
    stays in ``scope["callbot.peer"]``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state: WebState = scope["app"].state.web
            peer = scope.get("client")
            scope["callbot.peer"] = peer
            forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"x-forwarded-for"]
            host = client_address(peer[0] if peer else None, forwarded, state.trusted_proxies)
            if not peer or host != peer[0]:
                scope["client"] = (host, 0)
        await self.app(scope, receive, send)


# --------------------------------------------------------------------------
# Headers


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


# --------------------------------------------------------------------------
# Body size


class BodyTooLarge(Exception):
    """Raised while the body of a request is read, once it is longer than the limit."""


class BodyLimitMiddleware:
    """Refuses (413) an unsafe request whose body is over ``max_body`` bytes: up front by its
    Content-Length, or while it is read (by :class:`~callbot.web.csrf.CSRFMiddleware`, which
    lets :class:`BodyTooLarge` through)."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send)
        length = Request(scope).headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await plain_error(413, "The upload is too large.")(scope, receive, send)

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await plain_error(413, "The upload is too large.")(scope, receive, send)


# --------------------------------------------------------------------------
# Login


@dataclass(frozen=True)
class Login:
    """Who is logged in: the user's name (recorded with every change) and role (owner / staff)."""

    name: str
    role: str

    @property
    def owner(self) -> bool:
        return self.role == "owner"


def login_of(request: Request) -> Login:
    """The login of the request (AuthMiddleware put it there; every page but /login needs one)."""
    login = request.scope.get("callbot.login")
    if login is None:
        raise RuntimeError("no login on this request")
    return login


def start_session(session: MutableMapping[str, Any], state: WebState, name: str | None = None,
                  role: str = "owner", fingerprint: str | None = None) -> None:
    """Log ``session`` in as ``name`` with ``role`` (after the password was checked; default: the
    configured owner): the user, a new session id (also recorded server-side with the role, so
    logging out, removing the user or a new password can end it), a fresh CSRF token, a
    fingerprint of the password hash (for the configured owner: changing the password in the
    config ends every session) and when."""
    end_session(session, state)
    sid = new_token()
    name = name or state.user
    state.sessions.add(sid, name, state.config.web.session_hours * 3600, role)
    session.update(user=name, sid=sid, csrf=new_token(), pw=fingerprint or state.password_fingerprint,
                   since=int(_now()))


def end_session(session: MutableMapping[str, Any], state: WebState) -> None:
    """Log ``session`` out: its id is deleted server-side, so a copy of the cookie is no login either."""
    state.sessions.remove(session.get("sid"))
    session.clear()


def session_login(session: MutableMapping[str, Any] | None, state: WebState) -> Login | None:
    """The login ``session`` is: its user, not older than ``[web] session_hours``, its id still
    live server-side (not logged out, not removed) — and for the configured owner, the current
    password of the config. None when it is none."""
    if not session or not isinstance(session.get("user"), str):
        return None
    user = session["user"]
    if user == state.user and session.get("pw") != state.password_fingerprint:
        return None
    try:
        since = float(session.get("since") or 0)
    except (TypeError, ValueError):
        return None
    if not _now() - since < state.config.web.session_hours * 3600:
        return None
    role = state.sessions.role_of(session.get("sid"), user)
    return Login(user, role) if role in ("owner", "staff") else None


def session_valid(session: MutableMapping[str, Any] | None, state: WebState) -> bool:
    """Whether ``session`` is a login (see :func:`session_login`)."""
    return session_login(session, state) is not None


#: Pages that need no login (besides static files): the login form, the one-time setup link.
PUBLIC_PATHS = ("/login", "/setup")


class AuthMiddleware:
    """Everything but the login page and static files needs a logged-in session."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path in PUBLIC_PATHS or path.startswith("/static/"):
            return await self.app(scope, receive, send)
        state: WebState = scope["app"].state.web
        session = scope.get("session")
        login = session_login(session, state)
        if login is not None:
            scope["callbot.login"] = login
            return await self.app(scope, receive, send)
        if session and session.get("user"):
            # the password changed, the login is too old (the cookie's max-age slides) or was logged out
            session.clear()
        target = path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
        location = "/login" + ("?" + urlencode({"next": target}) if path != "/" else "")
        await RedirectResponse(location, status_code=303)(scope, receive, send)
