"""The call list (full-text search, filters by outcome, label, number and day, pages)
and the page of one call: its events, turns, leads and what the caller lists say.

Query parameters (:mod:`callbot.web.params`): malformed text, a parameter given twice,
one too long, a ``page`` that is no whole number 1 to a million or a ``number`` with
other than ASCII characters is a 400; an unknown outcome or a date that is not one
shows the page with a message (what the filter form can send)."""

from __future__ import annotations

import math
import time
from datetime import datetime, time as dtime, timedelta, tzinfo
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from callbot.i18n import N_, gettext
from callbot.outcome import OUTCOMES
from callbot.notify.report import deliveries
from callbot.web import data, words
from callbot.web.params import page_number, query, row_id
from callbot.web.render import language_of, office_timezone, render
from callbot.web.state import state_of


def _parse_day(value: str | None, end: bool, tz: tzinfo | None = None) -> datetime | None:
    """A date from the filter form (YYYY-MM-DD, in the office's time zone ``tz``): the start of
    that day, or with ``end`` the start of the next one (the store's ``until`` is exclusive)."""
    if not value:
        return None
    day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    if not 1900 <= day.year <= 9000:
        raise ValueError(f"year {day.year} out of range")
    if end:
        day += timedelta(days=1)
    start = datetime.combine(day, dtime.min)
    return start.replace(tzinfo=tz) if tz is not None else start.astimezone()


def _page_links(page: int, pages: int | None) -> list[int | None]:
    """Page numbers to link to: first, last (when known) and a window around ``page`` (None = a gap)."""
    if pages is None:
        wanted = sorted({1, *range(max(1, page - 3), page + 1)})
    else:
        wanted = sorted({1, pages, *range(max(1, page - 3), min(pages, page + 3) + 1)})
    links: list[int | None] = []
    for n in wanted:
        if links and links[-1] is not None and n - links[-1] > 1:
            links.append(None)
        links.append(n)
    return links


#: The call list's parameters and their most characters.
LIMITS = {"q": 500, "outcome": 40, "label": 40, "number": 40, "from": 20, "to": 20, "page": 10}


def calls_page(request: Request) -> Response:
    state = state_of(request)
    lang, tz = language_of(request), office_timezone(request)
    q = query(request, LIMITS)
    filters = {key: q.get(key, "") for key in ("q", "outcome", "label", "number", "from", "to")}
    if not filters["number"].isascii():
        raise HTTPException(400, gettext("'number' must be a phone number such as +49301234567 or 030 1234.", lang))
    errors: list[str] = []
    outcome = filters["outcome"] or None
    if outcome and outcome not in OUTCOMES:
        errors.append(gettext("unknown outcome %(outcome)r", lang) % {"outcome": outcome})
        outcome = None
    label = filters["label"] or None
    since = until = None
    try:
        since = _parse_day(filters["from"], end=False, tz=tz)
    except ValueError:
        errors.append(gettext("'from' must be a date like 2026-11-22", lang))
    try:
        until = _parse_day(filters["to"], end=True, tz=tz)
    except ValueError:
        errors.append(gettext("'to' must be a date like 2026-11-22", lang))
    page = page_number(q.get("page"))
    per_page = state.config.web.per_page
    started = time.perf_counter()
    records, total = data.search(state.store, text=filters["q"] or None, outcome=outcome,
                                 number=filters["number"] or None, since=since, until=until, label=label,
                                 page=page, per_page=per_page)
    elapsed = time.perf_counter() - started
    if total < 0:  # more than the store counts: no last page, "next" while pages are full
        pages = None
        has_next = len(records) == per_page
    else:
        pages = max(1, math.ceil(total / per_page))
        has_next = page < pages
    active = {k: v for k, v in filters.items() if v}

    def page_url(n: int) -> str:
        return "/calls?" + urlencode({**active, "page": n})

    from callbot.script.model import LABELS

    return render(request, "calls.html", records=records, total=total, page=page, pages=pages,
                  has_next=has_next, links=_page_links(page, pages), page_url=page_url, filters=filters,
                  errors=errors, summaries=data.summaries(state.store, records),
                  outcomes=sorted(OUTCOMES), labels=LABELS, elapsed_ms=elapsed * 1000)


def _call_id(request: Request) -> int:
    return row_id(request.path_params["call_id"])


def call_page(request: Request) -> Response:
    state = state_of(request)
    record = state.store.call(_call_id(request))
    if record is None:
        raise HTTPException(404, N_("No such call."))
    number = record.caller_number if not record.withheld else None
    on_lists = data.number_lists(state.store, number, record.caller_display) if number else None
    turns = state.store.turns(record.id)
    return render(request, "call.html", call=record, events=state.store.events(record.id),
                  turns=turns, leads=state.store.call_leads(record.id),
                  purpose=words.purpose(turns, record.transcript),
                  verdict=words.verdict_of(record, language_of(request)),
                  deliveries=deliveries(state.store, record.id, language_of(request), state.config.web.timezone),
                  number=number, on_lists=on_lists, here=f"/calls/{record.id}")
