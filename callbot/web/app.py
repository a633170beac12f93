"""The review web page: calls, recordings, leads, caller lists and prompts.

Server-rendered (Starlette + Jinja2, autoescaping on), no JavaScript.
:func:`create_app` builds the ASGI app from a :class:`~callbot.config.Config`: the
routes (handlers in :mod:`callbot.web.views`, one module per resource) and the
middleware stack; ``callbot web`` runs it with uvicorn. What the app keeps between
requests is :class:`~callbot.web.state.WebState`.

Security model
--------------
* Every page except ``/login`` and ``/static`` needs a login
  (:class:`~callbot.web.middleware.AuthMiddleware`); there is one user, ``[web] user``,
  whose password is checked against ``[web] password_hash`` (scrypt, constant-time compare).
* Login lockout (:class:`~callbot.web.auth.LoginLimiter`, in memory): after 5 wrong
  passwords from one client address that client waits 30 s; after 20 for the account
  from any addresses the account waits 5 min. The client address is the TCP peer;
  ``X-Forwarded-For`` is believed only from ``[web] trusted_proxies`` (a list of addresses
  or networks, default empty: never) — see :mod:`callbot.web.proxies`. ``callbot web`` runs
  uvicorn with its own proxy-header handling off.
* The session is a signed cookie (Starlette's SessionMiddleware, itsdangerous):
  HttpOnly, SameSite=Lax, Secure when ``[web] secure_cookies``. It holds the
  user name, a session id, the CSRF token and a fingerprint of the password hash, so
  changing the password ends every session. The session id is recorded server-side
  (:class:`~callbot.store.sessions.SessionTable`, ``web-sessions.db`` next to the call
  log); logging out deletes it, so a copy of the cookie stops working too.
* Every POST (any unsafe method, on any path) is checked in ONE place,
  :class:`~callbot.web.csrf.CSRFMiddleware`: the form field ``csrf_token`` (or the header
  ``X-CSRF-Token``) must equal the session's token, else 403. Handlers read the
  already parsed form from :func:`~callbot.web.csrf.form_of`. The body of every
  unsafe request is capped by :class:`~callbot.web.middleware.BodyLimitMiddleware` (413).
* Query parameters are checked (:mod:`callbot.web.params`): nonsense is a 400, never a 500.
  Uploaded recordings are checked by their header before anything is decoded
  (:mod:`callbot.web.uploads`: at most 120 s, 8-192 kHz), and decoded in a worker thread.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from callbot.config.model import Config
from callbot.errors import CallbotError
from callbot.store.sessions import FILE_NAME as SESSIONS_FILE, SessionTable
from callbot.store.store import Store
from callbot.web.auth import LoginLimiter
from callbot.web.csrf import CSRFMiddleware
from callbot.web.middleware import (AuthMiddleware, BodyLimitMiddleware, ClientAddressMiddleware,
                                    SecurityHeadersMiddleware)
from callbot.web.params import RequestCheckMiddleware
from callbot.web.proxies import TrustedProxies
from callbot.web.render import busy_error, callbot_error, environment, http_error, redirect
from callbot.web.state import WebState
from callbot.web.views.calls import call_page, calls_page
from callbot.web.views.leads import leads_page
from callbot.web.views.lists import lists_add, lists_confirm, lists_page, lists_remove
from callbot.web.views.login import login, login_page, logout
from callbot.web.views.numbers import allow, block, number_page, unblock
from callbot.web.views.prompts import prompt_audio, prompt_text, prompt_upload, prompts_page, prompts_render
from callbot.web.views.recordings import recording

SESSION_COOKIE = "callbot_session"
STATIC = Path(__file__).resolve().parent / "static"


def home(request: Request) -> Response:
    return redirect("/calls")


def create_app(config: Config, *, store: Store | None = None, session_secret: str | None = None,
               limiter: LoginLimiter | None = None, sessions: SessionTable | None = None) -> Starlette:
    """The ASGI app. ``config.web.password_hash`` must be set (see ``callbot web``).

    ``sessions``: the live logins; by default ``web-sessions.db`` next to the call log."""
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
    own_sessions = sessions is None
    the_sessions = sessions if sessions is not None else SessionTable(
        Path(config.storage.database).parent / SESSIONS_FILE)
    state = WebState(config=config, store=the_store, user=web.user, password_hash=web.password_hash,
                     env=environment(), limiter=limiter or LoginLimiter(), sessions=the_sessions,
                     trusted_proxies=TrustedProxies(web.trusted_proxies), secret_generated=generated)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            yield
        finally:
            if own_store:
                the_store.close()
            if own_sessions:
                the_sessions.close()

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
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
    middleware = [
        Middleware(ClientAddressMiddleware),
        Middleware(SecurityHeadersMiddleware),
        Middleware(RequestCheckMiddleware),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                   max_age=web.session_hours * 3600, same_site="lax", https_only=web.secure_cookies),
        Middleware(BodyLimitMiddleware),
        Middleware(CSRFMiddleware),
        Middleware(AuthMiddleware),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, CallbotError: callbot_error,
                                        TimeoutError: busy_error})
    app.state.web = state
    return app
