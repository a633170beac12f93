"""The users page (``/users``, owner only): who can log in, with which role and how many live
logins; adding a user (the page shows a one-time setup link once), a new setup link (the
password goes, the user's logins end), removing a user (their logins end); the newest changes
(audit). And ``/setup?token=…``, no login needed: the new user sets a password and is logged in.

The configured owner (``[web] user``) is shown but changed in the config only."""

from __future__ import annotations

import hashlib
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from callbot.errors import CallbotError
from callbot.i18n import gettext as _
from callbot.passwords import hash_password
from callbot.store.users import ROLES
from callbot.web.csrf import form_of
from callbot.web.middleware import login_of, start_session
from callbot.web.params import query
from callbot.web.render import flash, language_of, redirect, render
from callbot.web.state import state_of
from callbot.web.views.pages import page

log = logging.getLogger("callbot.web")

WRITE_TIMEOUT = 10.0
MIN_PASSWORD = 8
MAX_TOKEN = 100


def _link(request: Request, token: str) -> str:
    return str(request.base_url).rstrip("/") + f"/setup?token={token}"


def users_page(request: Request, *, link: tuple[str, str] | None = None, status: int = 200) -> Response:
    state = state_of(request)
    return page(request, "users.html", status=status, users=state.store.users(), roles=ROLES,
                owner=state.user if state.password_hash else None, live=state.sessions.users(),
                changes=state.store.changes(50), link=link)


def _name(request: Request) -> str:
    name = request.path_params["name"]
    if state_of(request).store.user(name) is None:
        raise HTTPException(404, "No such user.")
    return name


def users_add(request: Request) -> Response:
    state = state_of(request)
    me = login_of(request).name
    form = form_of(request)
    name, role = form.get("name"), form.get("role")
    name = name.strip() if isinstance(name, str) else ""
    try:
        if name.casefold() == state.user.casefold():
            raise CallbotError(_("That is the configured owner's name; choose another.", language_of(request)))
        token = state.store.add_user(name, role if isinstance(role, str) else "", me).result(WRITE_TIMEOUT)
    except (CallbotError, ValueError) as exc:
        flash(request, "error", str(exc))
        return redirect("/users")
    log.info("%s: added user %s (%s)", me, name, role)
    return users_page(request, link=(name, _link(request, token)))


def users_link(request: Request) -> Response:
    """A new one-time setup link for a user (their password goes; their logins end)."""
    state = state_of(request)
    me = login_of(request).name
    name = _name(request)
    token = state.store.set_user_password(name, None, me).result(WRITE_TIMEOUT)
    state.sessions.remove_user(name)
    log.info("%s: new setup link for %s", me, name)
    return users_page(request, link=(name, _link(request, token)))


def users_remove(request: Request) -> Response:
    state = state_of(request)
    me = login_of(request).name
    name = _name(request)
    user = state.store.user(name)
    if user and user.role == "owner" and not state.password_hash and not any(
            u.role == "owner" and u.has_password and u.name != user.name for u in state.store.users()):
        flash(request, "error", _("This is the last owner who can log in; add another owner first.", language_of(request)))
        return redirect("/users")
    state.store.remove_user(name, me).result(WRITE_TIMEOUT)
    state.sessions.remove_user(name)
    log.info("%s: removed user %s", me, name)
    flash(request, "ok", _("User removed; their logins have ended.", language_of(request)))
    return redirect("/users")


def _token(request: Request, token: object) -> str:
    if not isinstance(token, str) or not token or state_of(request).store.setup_user(token) is None:
        raise HTTPException(404, "This setup link is unknown, used or expired — ask the owner for a new one.")
    return token


def _setup(request: Request, **context) -> Response:
    if "_" not in state_of(request).env.globals:
        context.setdefault("_", _)
    return render(request, "setup.html", **context)


def setup_page(request: Request) -> Response:
    token = _token(request, query(request, {"token": MAX_TOKEN}).get("token"))
    return _setup(request, name=state_of(request).store.setup_user(token).name, token=token)


def setup(request: Request) -> Response:
    state = state_of(request)
    form = form_of(request)
    token = form.get("token")
    token = _token(request, token if isinstance(token, str) and len(token) <= MAX_TOKEN else None)
    user = state.store.setup_user(token)
    password, again = form.get("password"), form.get("again")
    error = None
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        error = _("The password needs at least 8 characters.", language_of(request))
    elif password != again:
        error = _("The two passwords differ.", language_of(request))
    if error:
        return _setup(request, name=user.name, token=token, error=error, status=400)
    encoded = hash_password(password)
    name = state.store.use_setup_token(token, encoded).result(WRITE_TIMEOUT)
    if name is None:
        raise HTTPException(404, "This setup link is unknown, used or expired — ask the owner for a new one.")
    state.sessions.remove_user(name)
    start_session(request.session, state, name, user.role, hashlib.sha256(encoded.encode()).hexdigest()[:16])
    log.info("user %s set a password with the setup link", name)
    flash(request, "ok", _("Password set; you are logged in.", language_of(request)))
    return redirect("/inbox")
