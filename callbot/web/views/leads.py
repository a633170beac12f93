"""The leads page: the newest 500 leads found in calls."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from callbot.web.render import render
from callbot.web.state import state_of


def leads_page(request: Request) -> Response:
    state = state_of(request)
    return render(request, "leads.html", leads=state.store.leads(limit=500))
