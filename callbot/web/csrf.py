"""CSRF protection: THE one place where every unsafe request is checked.

:class:`CSRFMiddleware` reads the form of every POST (any unsafe method, on any path):
the form field ``csrf_token`` (or the header ``X-CSRF-Token``) must equal the session's
token, else 403. Handlers read the already parsed form from :func:`form_of`; pages put
the token into their forms with :func:`csrf_token` (see :func:`callbot.web.render.render`).
"""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callbot.web.auth import new_token, tokens_equal
from callbot.web.middleware import SAFE_METHODS, BodyTooLarge, plain_error

log = logging.getLogger("callbot.web")

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    session = request.session
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = new_token()
    return token


def form_of(request: Request) -> FormData:
    """The form of a POST, parsed (and CSRF-checked) by :class:`CSRFMiddleware`."""
    return request.scope.get("callbot.form") or FormData()


class CSRFMiddleware:
    """THE place where every unsafe request is checked for the session's CSRF token."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        try:
            form = await request.form(max_files=2, max_fields=50)
        except BodyTooLarge:
            raise  # answered (413) by the body limit around this middleware
        except Exception:  # malformed multipart etc.
            return await plain_error(400, "The form could not be read.")(scope, receive, send)
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
                response = plain_error(403, message)
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
