"""Turning handler results into pages: the Jinja environment and its filters (times in the
office's time zone and the page's locale), :func:`render`, :func:`flash` messages,
:func:`redirect`, and the error pages.

Templates live in ``callbot/web/templates`` (autoescaping on); every page gets the user,
the CSRF field for its forms, the flashed messages, whether the session secret was generated
and ``page_lang``, the page's language. Texts go through gettext (:mod:`callbot.i18n`): in a template
``{{ _("Calls") }}`` or ``{{ _("%(n)s calls", n=total) }}`` (Jinja's i18n extension, new style:
escaped, filled in); in a view ``gettext("…", language_of(request))``. The language is the
session's ``language`` (a user's own, set at login) if it is one of LANGUAGES, else ``[web]
language``; times are in ``[web] timezone``.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote

from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from callbot import i18n
from callbot.botstatus import read_status, status_path
from callbot.web import words
from callbot.web.csrf import CSRF_FIELD, csrf_token
from callbot.web.middleware import plain_error
from callbot.web.state import state_of

log = logging.getLogger("callbot.web")

HERE = Path(__file__).resolve().parent

#: The page being rendered: its language and the office's time zone (set by :func:`render`).
_page: ContextVar[tuple[str, tzinfo]] = ContextVar(
    "callbot_web_page", default=(i18n.LANGUAGES[0], i18n.timezone_named(i18n.DEFAULT_TIMEZONE)))


def language_of(request: Request) -> str:
    """The language for ``request``: the session's own (a user's setting), else ``[web] language``."""
    if "session" in request.scope:
        own = i18n.normalize_language(request.session.get("language"))
        if own:
            return own
    try:
        return state_of(request).config.web.language
    except AttributeError:
        return i18n.LANGUAGES[0]


def office_timezone(request: Request) -> tzinfo:
    try:
        return i18n.timezone_named(state_of(request).config.web.timezone)
    except (AttributeError, ValueError):
        return i18n.timezone_named(i18n.DEFAULT_TIMEZONE)


def _lang() -> str:
    return _page.get()[0]


# --------------------------------------------------------------------------
# Template filters and gettext callables (they read the page's language and time zone)


def _gettext(message: str) -> str:
    return i18n.gettext(message, _lang())


def _ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(singular, plural, n, _lang())


def _datetime(value: Any, seconds: bool = False) -> str:
    lang, tz = _page.get()
    return i18n.format_datetime(value, lang, tz, seconds=seconds)


def _local(value: Any, fmt: str | None = None) -> str:
    """The former ``local`` filter: now the office's date and time in the page's locale."""
    return _datetime(value)


def _date(value: Any) -> str:
    lang, tz = _page.get()
    return i18n.format_date(value, lang, tz)


def _time(value: Any, seconds: bool = False) -> str:
    lang, tz = _page.get()
    return i18n.format_time(value, lang, tz, seconds=seconds)


def _local_ms(iso: str | None) -> str:
    moment = i18n._moment(iso, _page.get()[1]) if iso else None
    if moment is None:
        return iso or ""
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _number(value: float, digits: int) -> str:
    return format_decimal(value, format="#,##0." + "0" * digits, locale=_lang())


def _offset(iso: str | None, start: str | None) -> str:
    moment, begin = i18n._moment(iso, None), i18n._moment(start, None)
    if moment is None or begin is None:
        return ""
    return f"+{_number((moment - begin).total_seconds(), 2)} s"


def _urlpath(value: str) -> str:
    return quote(value, safe="/+")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{_number(value, 1)} s"


def _duration(value: float | None) -> str:
    return i18n.format_duration(value)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        local=_local, datetime=_datetime, date=_date, time=_time, local_ms=_local_ms, offset=_offset,
        urlpath=_urlpath, seconds=_seconds, duration=_duration, decimal=_number,
        outcome_words=lambda code: words.outcome_words(code, _lang()),
        label_words=lambda code: words.label_words(code, _lang()),
        field_words=lambda code: words.field_words(code, _lang()),
        end_reason_words=lambda code: words.end_reason_words(code, _lang()),
        list_words=lambda code: words.list_words(code, _lang()),
        source_words=lambda code: words.source_words(code, _lang()),
        verdict=lambda record: words.verdict_of(record, _lang()),
    )
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
    lang = language_of(request)
    here = _page.set((lang, office_timezone(request)))
    try:
        page = state.env.get_template(template).render(
            request=request,
            user=user,
            page_lang=lang,
            bot=bot_state(state.config.storage.database, lang) if user else None,
            csrf_field=Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token),
            messages=messages,
            secret_generated=state.secret_generated,
            **context,
        )
    finally:
        _page.reset(here)
    return HTMLResponse(page, status_code=status, headers=headers)


def bot_state(database, language: str | None = None) -> tuple[bool, str] | None:
    """For the header: (all well?, the bot's state in one line) from status.json; None before any run."""
    status = read_status(status_path(database))
    if status is None:
        return None
    _ = lambda message: i18n.gettext(message, language)  # noqa: E731
    if not status.alive():
        return False, _("The bot is not running.")
    if not status.register:
        return True, _("The bot is running (not registering at the PBX).")
    if status.registered:
        return True, _("The bot is running and registered at %(registrar)s.") % {"registrar": status.registrar}
    return False, _("The bot is running but NOT registered at %(registrar)s: %(error)s") % {
        "registrar": status.registrar, "error": status.last_error or "?"}


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
    detail = str(getattr(exc, "detail", "") or i18n.N_("Something went wrong."))
    if "session" not in request.scope:
        return plain_error(status, detail)
    # a view's detail that is a msgid ("No such call.") is shown in the page's language
    detail = i18n.gettext(detail, language_of(request))
    return render(request, "error.html", status=status, status_code=status, detail=detail)


async def busy_error(request: Request, exc: Exception) -> Response:
    """A write that did not land in time (the call log is locked by another program): 503, no trace."""
    log.warning("web: a write timed out: the call log is busy")
    return render(request, "error.html", status=503, status_code=503,
                  detail=i18n.gettext("The call log is busy (another program holds it). Please try again in a "
                                      "moment.", language_of(request)))


async def callbot_error(request: Request, exc: Exception) -> Response:
    log.error("web: %s", exc)
    return render(request, "error.html", status=500, status_code=500, detail=str(exc))
