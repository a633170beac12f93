"""The login page, logging in (the configured owner — ``[web] user`` — against ``[web] password_hash``,
any other user against their hash in the users table, :mod:`callbot.store.users`; rate limited per
client address — the one :class:`~callbot.web.middleware.ClientAddressMiddleware` established,
``[web] trusted_proxies`` — and per account by :class:`~callbot.web.auth.LoginLimiter`) and
logging out (which ends the session server-side too).

The form's ``user`` field is optional: empty means the configured owner, so the login form
of a single-user office stays one password field."""

from __future__ import annotations

import hashlib
import logging
import math

from starlette.requests import Request
from starlette.responses import Response

from callbot.passwords import hash_password, verify_password
from callbot.i18n import N_, gettext
from callbot.web.csrf import form_of
from callbot.web.middleware import end_session, session_valid, start_session
from callbot.web.params import query
from callbot.web.proxies import limit_key
from callbot.web.render import language_of, redirect, render, safe_next
from callbot.web.state import state_of

log = logging.getLogger("callbot.web")

MAX_NEXT = 4000  # characters of the page to go back to after logging in
MAX_USER = 64
#: Checked when the user is unknown, so the answer takes as long as for a known one.
_NOBODY = hash_password("callbot: no such user", n=2**14)


def account(state, name: str) -> tuple[str, str, str] | None:
    """(name, role, password hash) of the account ``name``: the configured owner (``[web] user``
    with ``[web] password_hash``) or a user of the users table who has a password."""
    if name.casefold() == state.user.casefold():
        return (state.user, "owner", state.password_hash) if state.password_hash else None
    return state.store.user_login(name)


def login_page(request: Request) -> Response:
    state = state_of(request)
    target = safe_next(query(request, {"next": MAX_NEXT}).get("next"), "/")  # the start page: the inbox
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
    name = form.get("user")
    name = name.strip()[:MAX_USER] if isinstance(name, str) and name.strip() else state.user
    who = name.casefold()
    wait = state.limiter.attempt(key, who)  # counts as a failure until it succeeds
    if wait <= 0:
        password = form.get("password")
        found = account(state, name)
        good = isinstance(password, str) and bool(password) and verify_password(
            password, found[2] if found else _NOBODY)
        if good and found is not None:
            state.limiter.succeeded(key, who)
            fingerprint = None if found[0] == state.user else hashlib.sha256(found[2].encode()).hexdigest()[:16]
            start_session(request.session, state, found[0], found[1], fingerprint)
            own = state.store.user(found[0]) if found[0] != state.user else None
            if own is not None and own.language:
                request.session["language"] = own.language  # the page in this user's language
            log.info("web login by %s (%s) from %s", found[0], found[1], client)
            return redirect(target)
        log.warning("failed web login from %s", client)
        wait = state.limiter.retry_after(key, who)
        if wait <= 0:
            return render(request, "login.html", status=401, next=target,
                          error=gettext(N_("Wrong password."), language_of(request)))
    seconds = math.ceil(wait)
    return render(request, "login.html", status=429, headers={"Retry-After": str(seconds)}, next=target,
                  error=gettext(N_("Too many wrong passwords. Try again in %(seconds)d s."),
                                language_of(request)) % {"seconds": seconds})


def logout(request: Request) -> Response:
    end_session(request.session, state_of(request))
    return redirect("/login")
