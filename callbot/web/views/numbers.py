"""One caller's page (``/numbers/{number}``): every call of that number, newest first, what
the caller lists say about it, and the block / allow / unblock buttons.

Who did it is the login: ``created_by`` of the entry; an unblock goes into the audit. A block by
staff is a suggestion waiting for the owner's (or another colleague's) confirmation; allowing
and unblocking are the owner's (the route table of :mod:`callbot.web.app`)."""

from __future__ import annotations

import logging
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from callbot.errors import CallbotError
from callbot.web import data
from callbot.web.csrf import form_of
from callbot.web.middleware import login_of
from callbot.web.render import flash, redirect, render, safe_next
from callbot.web.state import state_of
from callbot.i18n import N_
from callbot.web.views.lists import FormProblem, problem_text, reason_of, said

log = logging.getLogger("callbot.web")

_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")


def _number(request: Request) -> str:
    number = request.path_params["number"]
    if not _NUMBER.match(number):
        raise HTTPException(404, "Not a phone number.")
    return number


def number_page(request: Request) -> Response:
    state = state_of(request)
    number = _number(request)
    records = data.timeline(state.store, number)
    display = next((r.caller_display for r in records if r.caller_display), None)
    return render(request, "number.html", number=number, records=records,
                  summaries=data.summaries(state.store, records),
                  on_lists=data.number_lists(state.store, number, display), here=f"/numbers/{number}")


def _list_action(request: Request, action: str) -> Response:
    state = state_of(request)
    number = _number(request)
    form = form_of(request)
    back = safe_next(form.get("next"), f"/numbers/{number}")
    me = login_of(request)
    reason = ""
    try:
        reason = reason_of(form)
        if action == "block" and not me.owner:
            state.store.add_list_entry(data.BLOCK_LIST, data.NUMBER_KIND, number, reason, source="suggested",
                                       created_by=me.name, confirmed=False).result(data.WRITE_TIMEOUT)
            message = said(request, N_("Block of %(number)s suggested; it takes effect once someone else "
                                       "confirms it."), number=number)
        elif action == "block":
            data.put_on_list(state.store, data.BLOCK_LIST, number, reason, me.name)
            message = said(request, N_("%(number)s is blocked."), number=number)
        elif action == "allow":
            data.put_on_list(state.store, data.ALLOW_LIST, number, reason, me.name)
            message = said(request, N_("%(number)s is allowed."), number=number)
        else:
            gone = data.take_off_list(state.store, data.BLOCK_LIST, number)
            message = said(request, N_("%(number)s is no longer blocked.") if gone
                           else N_("%(number)s was not on the block list."), number=number)
            if gone:
                state.store.record_change(me.name, "unblocked", f"{number}: {reason}").result(data.WRITE_TIMEOUT)
    except (FormProblem, CallbotError) as exc:
        flash(request, "error", problem_text(request, exc))
        return redirect(back)
    log.info("%s: %s %s (%s)", me.name, action, number, reason)
    flash(request, "ok", message)
    return redirect(back)


def block(request: Request) -> Response:
    return _list_action(request, "block")


def allow(request: Request) -> Response:
    return _list_action(request, "allow")


def unblock(request: Request) -> Response:
    return _list_action(request, "unblock")
