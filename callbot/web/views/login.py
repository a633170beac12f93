"""The login page, logging in (checked against ``[web] password_hash``, rate limited per
client address — the one :class:`~callbot.web.middleware.ClientAddressMiddleware` established,
``[web] trusted_proxies`` — and per account by :class:`~callbot.web.auth.LoginLimiter`) and
logging out (which ends the session server-side too)."""

from __future__ import annotations

import logging
import math

from starlette.requests import Request
from starlette.responses import Response

from callbot.passwords import verify_password
from callbot.web.csrf import form_of
from callbot.web.middleware import end_session, session_valid, start_session
from callbot.web.params import query
from callbot.web.proxies import limit_key
from callbot.web.render import redirect, render, safe_next
from callbot.web.state import state_of

log = logging.getLogger("callbot.web")

MAX_NEXT = 4000  # characters of the page to go back to after logging in


def login_page(request: Request) -> Response:
    state = state_of(request)
    target = safe_next(query(request, {"next": MAX_NEXT}).get("next"), "/calls")
    if session_valid(request.session, state):
        return redirect(target)
    if request.session.get("user"):  # logged out elsewhere, expired, or the password changed
        request.session.clear()
    return render(request, "login.html", next=target)


def login(request: Request) -> Response:
    state = state_of(request)
    form = form_of(request)
    client = request.client.host if request.client else "unknown"
    key = limit_key(client)
    target = safe_next(form.get("next"), "/calls")
    wait = state.limiter.attempt(key, state.user)  # counts as a failure until it succeeds
    if wait <= 0:
        password = form.get("password")
        if isinstance(password, str) and password and verify_password(password, state.password_hash):
            state.limiter.succeeded(key, state.user)
            start_session(request.session, state)
            log.info("web login by %s from %s", state.user, client)
            return redirect(target)
        log.warning("failed web login from %s", client)
        wait = state.limiter.retry_after(key, state.user)
        if wait <= 0:
            return render(request, "login.html", status=401, next=target, error="Wrong password.")
    seconds = math.ceil(wait)
    return render(request, "login.html", status=429, headers={"Retry-After": str(seconds)}, next=target,
                  error=f"Too many wrong passwords. Try again in {seconds} s.")


def logout(request: Request) -> Response:
    end_session(request.session, state_of(request))
    return redirect("/login")
