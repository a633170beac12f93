"""The review web page: calls, recordings, leads, caller lists and prompts.

Server-rendered (Starlette + Jinja2, autoescaping on), no JavaScript.
:func:`create_app` builds the ASGI app from a :class:`~callbot.config.Config`: the
routes (handlers in :mod:`callbot.web.views`, one module per resource) and the
middleware stack; ``callbot web`` runs it with uvicorn. What the app keeps between
requests is :class:`~callbot.web.state.WebState`.

Security model
--------------
* Every page except ``/login``, ``/static`` and ``/setup`` needs a login
  (:class:`~callbot.web.middleware.AuthMiddleware`). The configured owner ``[web] user``
  logs in with ``[web] password_hash``; the office's other users (:mod:`callbot.store.users`,
  ``callbot users``) with their own hashes (scrypt, constant-time compare). Each has a role,
  ``owner`` or ``staff``; what a role may use is the route table :data:`ROUTES` (checked by
  :func:`guarded`: 403 for staff on an owner's route) — the one place.
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
import inspect
import secrets
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
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
                                    SecurityHeadersMiddleware, login_of)
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
from callbot.web.views.inbox import add_note, assign, inbox_page, set_due, set_state, take, thread_page
from callbot.web.views.users import setup, setup_page, users_add, users_link, users_page, users_remove

SESSION_COOKIE = "callbot_session"


def owner_can_log_in(config: Config, store: Store) -> bool:
    """Whether the web page can start: the configured owner has a password hash, or the users
    table has an owner with a password (what ``callbot web`` checks before it starts)."""
    return bool(config.web.password_hash) or store.has_owner_user()
STATIC = Path(__file__).resolve().parent / "static"


def home(request: Request) -> Response:
    return redirect("/inbox")


# --------------------------------------------------------------------------
# Roles: THE one place that says who may do what


#: Who may use a route: PUBLIC (no login), STAFF (every login) or OWNER.
PUBLIC, STAFF, OWNER = "public", "staff", "owner"
GET, POST = ["GET"], ["POST"]

#: Every route: (path, handler, methods, role). Staff: the inbox, calls, numbers, leads,
#: recordings, the caller lists to read, a block (kept as a suggestion for the owner to
#: confirm) and confirming a block suggestion. Owner: everything, also allowing, unblocking,
#: adding and removing list entries, the prompts and the script, the users.
ROUTES: list[tuple[str, Callable, list[str], str]] = [
    ("/", home, GET, STAFF),
    ("/login", login_page, GET, PUBLIC),
    ("/login", login, POST, PUBLIC),
    ("/logout", logout, POST, STAFF),
    ("/setup", setup_page, GET, PUBLIC),
    ("/setup", setup, POST, PUBLIC),
    ("/inbox", inbox_page, GET, STAFF),
    ("/inbox/{call_id:int}", thread_page, GET, STAFF),
    ("/inbox/{call_id:int}/take", take, POST, STAFF),
    ("/inbox/{call_id:int}/assign", assign, POST, STAFF),
    ("/inbox/{call_id:int}/state", set_state, POST, STAFF),
    ("/inbox/{call_id:int}/note", add_note, POST, STAFF),
    ("/inbox/{call_id:int}/due", set_due, POST, STAFF),
    ("/calls", calls_page, GET, STAFF),
    ("/calls/{call_id:int}", call_page, GET, STAFF),
    ("/numbers/{number}", number_page, GET, STAFF),
    ("/numbers/{number}/block", block, POST, STAFF),
    ("/numbers/{number}/allow", allow, POST, OWNER),
    ("/numbers/{number}/unblock", unblock, POST, OWNER),
    ("/lists", lists_page, GET, STAFF),
    ("/lists", lists_add, POST, OWNER),
    ("/lists/{entry_id:int}/confirm", lists_confirm, POST, STAFF),
    ("/lists/{entry_id:int}/remove", lists_remove, POST, OWNER),
    ("/leads", leads_page, GET, STAFF),
    ("/recordings/{path:path}", recording, GET, STAFF),
    ("/prompts", prompts_page, GET, OWNER),
    ("/prompts/render", prompts_render, POST, OWNER),
    ("/prompts/{lang}/{prompt_id}/text", prompt_text, POST, OWNER),
    ("/prompts/{lang}/{prompt_id}/recording", prompt_upload, POST, OWNER),
    ("/prompts/{lang}/{prompt_id}/audio.wav", prompt_audio, GET, OWNER),
    ("/users", users_page, GET, OWNER),
    ("/users", users_add, POST, OWNER),
    ("/users/{name}/link", users_link, POST, OWNER),
    ("/users/{name}/remove", users_remove, POST, OWNER),
]


def guarded(role: str, endpoint: Callable) -> Callable:
    """``endpoint``, refused with 403 unless the login's role may use it (PUBLIC and STAFF
    routes: the login check of :class:`~callbot.web.middleware.AuthMiddleware` is enough)."""
    if role != OWNER:
        return endpoint
    is_async = inspect.iscoroutinefunction(endpoint)

    async def owner_only(request: Request) -> Response:
        if not login_of(request).owner:
            raise HTTPException(403, "Only the owner may do this.")
        if is_async:
            return await endpoint(request)
        return await run_in_threadpool(endpoint, request)

    owner_only.__name__ = getattr(endpoint, "__name__", "endpoint")
    return owner_only


def create_app(config: Config, *, store: Store | None = None, session_secret: str | None = None,
               limiter: LoginLimiter | None = None, sessions: SessionTable | None = None) -> Starlette:
    """The ASGI app. Someone must be able to log in as owner: ``config.web.password_hash`` is
    set, or the users table has an owner with a password (:func:`owner_can_log_in`).

    ``sessions``: the live logins; by default ``web-sessions.db`` next to the call log."""
    web = config.web
    secret = session_secret or web.session_secret
    generated = not secret
    if generated:
        secret = secrets.token_urlsafe(32)
    own_store = store is None
    the_store = store if store is not None else Store(config.storage.database,
                                                      default_region=config.phone.default_region)
    if not web.password_hash and not the_store.has_owner_user():
        if own_store:
            the_store.close()
        raise CallbotError("no owner can log in to the web page: set [web] password_hash "
                           "(`callbot web hash-password`) or add one with `callbot users add NAME --role owner`")
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

    routes = [Route(path, guarded(role, endpoint), methods=methods) for path, endpoint, methods, role in ROUTES]
    routes.append(Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"))
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
