"""The caller lists page: every entry in force (pending suggestions first), adding a number,
a range (``+4930123*``) or a name to the block or allow list, confirming and removing entries.

:func:`reason_of` (every list entry needs a reason) is shared with the number page.
"""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from callbot.errors import CallbotError
from callbot.web import data
from callbot.web.csrf import form_of
from callbot.web.params import row_id
from callbot.web.render import flash, redirect, render, safe_next
from callbot.web.state import state_of

log = logging.getLogger("callbot.web")

MAX_REASON = 500


class FormProblem(Exception):
    """A form was filled in wrongly; the message says how (flashed on the page)."""


def reason_of(form: FormData) -> str:
    """The reason given for a list entry, whitespace collapsed; FormProblem if missing or too long."""
    reason = form.get("reason")
    reason = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not reason:
        raise FormProblem("Give a reason (it is kept with the list entry).")
    if len(reason) > MAX_REASON:
        raise FormProblem(f"The reason is too long (at most {MAX_REASON} characters).")
    return reason


def lists_page(request: Request) -> Response:
    from callbot.lists import describe

    state = state_of(request)
    return render(request, "lists.html", entries=data.current_entries(state.store), describe=describe)


def lists_add(request: Request) -> Response:
    from callbot.numbers import LISTS, guess_kind

    state = state_of(request)
    form = form_of(request)
    list_name = form.get("list")
    raw = form.get("value")
    value = raw.strip() if isinstance(raw, str) else ""
    try:
        if list_name not in LISTS:
            raise FormProblem("Choose the block list or the allow list.")
        if not value:
            raise FormProblem("Give a number, a number range ending in * (+4930123*) or a name.")
        reason = reason_of(form)
        data.put_on_list(state.store, list_name, value, reason, state.user, kind=guess_kind(value))
    except (FormProblem, CallbotError) as exc:
        flash(request, "error", str(exc))
        return redirect("/lists")
    log.info("%s: added %r to the %s list (%s)", state.user, value, list_name, reason)
    flash(request, "ok", f"{value} is on the {list_name} list.")
    return redirect("/lists")


def _entry_action(request: Request, action: str) -> Response:
    state = state_of(request)
    entry_id = row_id(request.path_params["entry_id"])
    back = safe_next(form_of(request).get("next"), "/lists")
    try:
        if action == "confirm":
            data.confirm_entry(state.store, entry_id)
        else:
            data.remove_entry(state.store, entry_id)
    except CallbotError as exc:
        flash(request, "error", str(exc))
        return redirect(back)
    log.info("%s: %s list entry %d", state.user, action, entry_id)
    flash(request, "ok", f"Entry {entry_id} {'confirmed' if action == 'confirm' else 'removed'}.")
    return redirect(back)


def lists_confirm(request: Request) -> Response:
    return _entry_action(request, "confirm")


def lists_remove(request: Request) -> Response:
    return _entry_action(request, "remove")
