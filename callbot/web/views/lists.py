"""The caller lists page: every entry in force (pending suggestions first), adding a number,
a range (``+4930123*``) or a name to the block or allow list, confirming and removing entries.

Who did it is the login (:func:`callbot.web.middleware.login_of`): ``created_by`` of a new
entry; confirming and removing go into the audit (``changes``). Staff may confirm a block
suggestion someone else made (the owner confirms anything); adding and removing are the
owner's (the route table of :mod:`callbot.web.app`).

:func:`reason_of` (every list entry needs a reason) is shared with the number page.
"""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from callbot.errors import CallbotError
from callbot.i18n import N_, gettext
from callbot.web import data
from callbot.web.csrf import form_of
from callbot.web.middleware import login_of
from callbot.web.params import row_id
from callbot.web.render import flash, language_of, redirect, render, safe_next
from callbot.web.state import state_of

log = logging.getLogger("callbot.web")

MAX_REASON = 500


class FormProblem(Exception):
    """A form was filled in wrongly; the message says how (flashed on the page, translated:
    ``text`` is a msgid marked with N_, ``values`` fill its %(name)s placeholders)."""

    def __init__(self, text: str, **values):
        super().__init__(text % values if values else text)
        self.text, self.values = text, values

    def said(self, request: Request) -> str:
        translated = gettext(self.text, language_of(request))
        return translated % self.values if self.values else translated


def problem_text(request: Request, exc: Exception) -> str:
    """What to flash for a failed form: a FormProblem in the page's language, else the error's text."""
    return exc.said(request) if isinstance(exc, FormProblem) else str(exc)


def said(request: Request, text: str, **values) -> str:
    """``text`` (a msgid) in the page's language with its %(name)s placeholders filled."""
    translated = gettext(text, language_of(request))
    return translated % values if values else translated


def reason_of(form: FormData) -> str:
    """The reason given for a list entry, whitespace collapsed; FormProblem if missing or too long."""
    reason = form.get("reason")
    reason = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not reason:
        raise FormProblem(N_("Give a reason (it is kept with the list entry)."))
    if len(reason) > MAX_REASON:
        raise FormProblem(N_("The reason is too long (at most %(max)d characters)."), max=MAX_REASON)
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
            raise FormProblem(N_("Choose the block list or the allow list."))
        if not value:
            raise FormProblem(N_("Give a number, a number range ending in * (+4930123*) or a name."))
        reason = reason_of(form)
        data.put_on_list(state.store, list_name, value, reason, login_of(request).name, kind=guess_kind(value))
    except (FormProblem, CallbotError) as exc:
        flash(request, "error", problem_text(request, exc))
        return redirect("/lists")
    log.info("%s: added %r to the %s list (%s)", login_of(request).name, value, list_name, reason)
    text = N_("%(value)s is on the block list.") if list_name == "block" else N_("%(value)s is on the allow list.")
    flash(request, "ok", said(request, text, value=value))
    return redirect("/lists")


def _entry_action(request: Request, action: str) -> Response:
    state = state_of(request)
    entry_id = row_id(request.path_params["entry_id"])
    back = safe_next(form_of(request).get("next"), "/lists")
    me = login_of(request)
    entry = next((e for e in state.store.list_entries() if e.id == entry_id), None)
    try:
        if action == "confirm":
            if not me.owner and (entry is None or entry.list != "block" or not entry.pending
                                 or (entry.created_by or "").casefold() == me.name.casefold()):
                raise FormProblem(N_("Staff confirm block suggestions made by someone else; "
                                     "the owner confirms the rest."))
            data.confirm_entry(state.store, entry_id)
        else:
            data.remove_entry(state.store, entry_id)
        what = f"{entry.list} {entry.kind} {entry.value}" if entry else f"entry {entry_id}"
        state.store.record_change(me.name, f"list entry {'confirmed' if action == 'confirm' else 'removed'}",
                                  f"{entry_id}: {what}").result(data.WRITE_TIMEOUT)
    except (FormProblem, CallbotError) as exc:
        flash(request, "error", problem_text(request, exc))
        return redirect(back)
    log.info("%s: %s list entry %d", me.name, action, entry_id)
    text = N_("Entry %(id)d confirmed.") if action == "confirm" else N_("Entry %(id)d removed.")
    flash(request, "ok", said(request, text, id=entry_id))
    return redirect(back)


def lists_confirm(request: Request) -> Response:
    return _entry_action(request, "confirm")


def lists_remove(request: Request) -> Response:
    return _entry_action(request, "remove")
