"""What the inbox and users pages share: rendering with the login and the ``_`` of the
templates (until :mod:`callbot.web.render` provides it), and the office's people."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from callbot.i18n import gettext
from callbot.web.middleware import login_of
from callbot.web.render import render
from callbot.web.state import state_of


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """:func:`callbot.web.render.render` with ``login`` (name, role) for the template; ``_``
    falls back to :func:`callbot.i18n.gettext` where the environment has none yet."""
    state = state_of(request)
    if "_" not in state.env.globals:
        context.setdefault("_", gettext)
    return render(request, template, status=status, login=login_of(request), **context)


def people(request: Request) -> list[str]:
    """Everyone who can log in: the configured owner (when it has a password), then the users."""
    state = state_of(request)
    names = [state.user] if state.password_hash else []
    return names + [u.name for u in state.store.users() if u.has_password and u.name not in names]
