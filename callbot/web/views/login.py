"""The login page, logging in (checked against ``[web] password_hash``, rate limited per
client address by :class:`~callbot.web.auth.LoginLimiter`) and logging out."""

from __future__ import annotations

import logging
import math

from starlette.requests import Request
from starlette.responses import Response

from callbot.passwords import verify_password
from callbot.web.csrf import form_of
from callbot.web.middleware import start_session
from callbot.web.render import redirect, render, safe_next
from callbot.web.state import state_of

log = logging.getLogger("callbot.web")


def login_page(request: Request) -> Response:
    if request.session.get("user") and request.session.get("pw") == state_of(request).password_fingerprint:
        return redirect(safe_next(request.query_params.get("next"), "/calls"))
    return render(request, "login.html", next=safe_next(request.query_params.get("next"), "/calls"))


def login(request: Request) -> Response:
    state = state_of(request)
    form = form_of(request)
    client = request.client.host if request.client else "unknown"
    target = safe_next(form.get("next"), "/calls")
    wait = state.limiter.attempt(client)  # counts as a failure until it succeeds
    if wait <= 0:
        password = form.get("password")
        if isinstance(password, str) and password and verify_password(password, state.password_hash):
            state.limiter.succeeded(client)
            start_session(request.session, state)
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
