"""One caller's page (``/numbers/{number}``): every call of that number, newest first, what
the caller lists say about it, and the block / allow / unblock buttons."""

from __future__ import annotations

import logging
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from callbot.errors import CallbotError
from callbot.web import data
from callbot.web.csrf import form_of
from callbot.web.render import flash, redirect, render, safe_next
from callbot.web.state import state_of
from callbot.web.views.lists import FormProblem, reason_of

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
                  on_lists=data.number_lists(state.store, number, display), here=f"/numbers/{number}")


def _list_action(request: Request, action: str) -> Response:
    state = state_of(request)
    number = _number(request)
    form = form_of(request)
    back = safe_next(form.get("next"), f"/numbers/{number}")
    try:
        reason = reason_of(form)
        if action == "block":
            data.put_on_list(state.store, data.BLOCK_LIST, number, reason, state.user)
            message = f"{number} is blocked."
        elif action == "allow":
            data.put_on_list(state.store, data.ALLOW_LIST, number, reason, state.user)
            message = f"{number} is allowed."
        else:
            gone = data.take_off_list(state.store, data.BLOCK_LIST, number)
            message = f"{number} is no longer blocked." if gone else f"{number} was not on the block list."
    except (FormProblem, CallbotError) as exc:
        flash(request, "error", str(exc))
        return redirect(back)
    log.info("%s: %s %s (%s)", state.user, action, number, reason)
    flash(request, "ok", message)
    return redirect(back)


def block(request: Request) -> Response:
    return _list_action(request, "block")


def allow(request: Request) -> Response:
    return _list_action(request, "allow")


def unblock(request: Request) -> Response:
    return _list_action(request, "unblock")
