"""Turning handler results into pages: the Jinja environment and its filters (times in
local time), :func:`render`, :func:`flash` messages, :func:`redirect`, and the error pages.

Templates live in ``callbot/web/templates`` (autoescaping on); every page gets the user,
the CSRF field for its forms, the flashed messages and whether the session secret was generated.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from callbot.botstatus import read_status, status_path
from callbot.times import local_time
from callbot.web.csrf import CSRF_FIELD, csrf_token
from callbot.web.middleware import plain_error
from callbot.web.state import state_of

log = logging.getLogger("callbot.web")

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------
# Template filters


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


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(local=_local, local_ms=_local_ms, offset=_offset, urlpath=_urlpath, seconds=_seconds)
    return env


# --------------------------------------------------------------------------
# Pages, messages, redirects


def flash(request: Request, kind: str, text: str) -> None:
    messages = list(request.session.get("flash", []))
    messages.append([kind, text[:400]])
    request.session["flash"] = messages[-5:]


def render(request: Request, template: str, status: int = 200, headers: dict | None = None,
           **context: Any) -> HTMLResponse:
    state = state_of(request)
    token = csrf_token(request)
    messages = request.session.pop("flash", [])
    user = request.session.get("user")
    page = state.env.get_template(template).render(
        request=request,
        user=user,
        bot=bot_state(state.config.storage.database) if user else None,
        csrf_field=Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token),
        messages=messages,
        secret_generated=state.secret_generated,
        **context,
    )
    return HTMLResponse(page, status_code=status, headers=headers)


def bot_state(database) -> tuple[bool, str] | None:
    """For the header: (all well?, the bot's state in one line) from status.json; None before any run."""
    status = read_status(status_path(database))
    if status is None:
        return None
    lines = status.lines()
    if not status.alive():
        return False, lines[0]
    if not status.register:
        return True, "bot running (not registering)"
    return status.registered, lines[1]


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(value: Any, default: str) -> str:
    """A local path to go back to after a form (never another site)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") \
            and "\\" not in value and not any(ord(c) < 0x20 for c in value):
        return value
    return default


# --------------------------------------------------------------------------
# Errors


async def http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or "Something went wrong."
    if "session" not in request.scope:
        return plain_error(status, str(detail))
    return render(request, "error.html", status=status, status_code=status, detail=detail)


async def busy_error(request: Request, exc: Exception) -> Response:
    """A write that did not land in time (the call log is locked by another program): 503, no trace."""
    log.warning("web: a write timed out: the call log is busy")
    return render(request, "error.html", status=503, status_code=503,
                  detail="The call log is busy (another program holds it). Please try again in a moment.")


async def callbot_error(request: Request, exc: Exception) -> Response:
    log.error("web: %s", exc)
    return render(request, "error.html", status=500, status_code=500, detail=str(exc))
