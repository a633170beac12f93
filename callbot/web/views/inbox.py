"""The office inbox (``/inbox``, the start page): the calls that need a person, newest first,
one card per caller (thread); "mine" and "everyone's"; a thread (``/inbox/{call_id}``) with
every call of the number, its notes and changes and what the caller lists say; taking,
assigning, closing, noting and setting a due time (:mod:`callbot.web.threads`).

Every change records the logged-in user (:func:`callbot.web.middleware.login_of`)."""

from __future__ import annotations

import logging
from datetime import datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from callbot.errors import CallbotError
from callbot.i18n import gettext as _
from callbot.store.inbox import MAX_NOTE, STATES
from callbot.notify.report import failed as failed_deliveries
from callbot.web import data, threads
from callbot.web.csrf import form_of
from callbot.web.middleware import login_of
from callbot.web.params import page_number, query, row_id
from callbot.web.render import language_of, flash, redirect
from callbot.web.state import state_of
from callbot.web.views.pages import page, people

log = logging.getLogger("callbot.web")

PER_PAGE = 50


def inbox_page(request: Request) -> Response:
    state = state_of(request)
    me = login_of(request).name
    params = query(request, {"who": 10, "page": 10})
    who = params.get("who") or "all"
    if who not in ("all", "mine"):
        raise HTTPException(400, "'who' is 'all' or 'mine'.")
    number = page_number(params.get("page"))
    assignee = me if who == "mine" else None
    items = state.store.inbox_page(assignee=assignee, page=number, per_page=PER_PAGE)
    groups: dict[object, list] = {}
    for item in items:  # one card per thread: its newest item first
        groups.setdefault(threads.thread_key(item.call) or ("call", item.call.id), []).append(item)
    failed = failed_deliveries(state.store, language_of(request), state.config.web.timezone)
    return page(request, "inbox.html", who=who, page_no=number, threads=list(groups.values()),
                count=state.store.inbox_open_count(assignee), has_next=len(items) == PER_PAGE,
                mine=state.store.inbox_open_count(me), failed=failed)


def thread_page(request: Request) -> Response:
    state = state_of(request)
    call_id = row_id(request.path_params["call_id"])
    try:
        thread = threads.thread(state.store, call_id)
    except threads.NoSuchCall:
        raise HTTPException(404, "No such call.") from None
    on_lists = None
    if thread.key and thread.focus.call.caller_number:
        on_lists = data.number_lists(state.store, thread.focus.call.caller_number, thread.focus.call.caller_display)
    return page(request, "thread.html", thread=thread, focus=thread.focus, on_lists=on_lists,
                people=people(request), states=STATES, max_note=MAX_NOTE, here=f"/inbox/{call_id}")


def _change(request: Request, done: str, **change) -> Response:
    state = state_of(request)
    me = login_of(request).name
    call_id = row_id(request.path_params["call_id"])
    back = f"/inbox/{call_id}"
    try:
        count = threads.change_thread(state.store, call_id, me, **change)
    except threads.NoSuchCall:
        raise HTTPException(404, "No such call.") from None
    except (CallbotError, ValueError) as exc:
        flash(request, "error", str(exc))
        return redirect(back)
    log.info("%s: inbox item %d: %s", me, call_id, ", ".join(f"{k}={v!r}" for k, v in change.items()))
    flash(request, "ok", done if count else _("Nothing changed.", language_of(request)))
    return redirect(back)


def _note(request: Request) -> str | None:
    note = form_of(request).get("note")
    return note if isinstance(note, str) and note.strip() else None


def take(request: Request) -> Response:
    return _change(request, _("You have it now.", language_of(request)), assignee=login_of(request).name, state="in_progress")


def assign(request: Request) -> Response:
    who = form_of(request).get("assignee")
    who = who.strip() if isinstance(who, str) else ""
    if who and who not in people(request):
        flash(request, "error", _("There is no such user.", language_of(request)))
        return redirect(f"/inbox/{row_id(request.path_params['call_id'])}")
    return _change(request, _("Assigned.", language_of(request)) if who else _("Nobody has it now.", language_of(request)), assignee=who or None)


def set_state(request: Request) -> Response:
    value = form_of(request).get("state")
    if value not in STATES:
        raise HTTPException(400, "Unknown state.")
    return _change(request, _("Done.", language_of(request)) if value == "done" else _("State changed.", language_of(request)), state=value, note=_note(request))


def add_note(request: Request) -> Response:
    note = _note(request)
    if note is None:
        flash(request, "error", _("Write a note first.", language_of(request)))
        return redirect(f"/inbox/{row_id(request.path_params['call_id'])}")
    return _change(request, _("Note saved.", language_of(request)), note=note)


def set_due(request: Request) -> Response:
    raw = form_of(request).get("due")
    raw = raw.strip() if isinstance(raw, str) else ""
    due = None
    if raw:
        try:  # <input type=datetime-local>: this machine's local time
            due = datetime.fromisoformat(raw)
            due = due.astimezone() if due.tzinfo is None else due
        except ValueError:
            flash(request, "error", _("That is not a date and time.", language_of(request)))
            return redirect(f"/inbox/{row_id(request.path_params['call_id'])}")
    return _change(request, _("Due time saved.", language_of(request)) if due else _("Due time removed.", language_of(request)), due_at=due)
