"""Search for the review page: :meth:`Search.search_calls` over the full-text
index ``calls_fts`` and the per-filter indexes, and :meth:`Search.caller_timeline`.

The index and its triggers are made by migration 0005 (:mod:`callbot.store.migrations`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from callbot import numbers
from callbot.outcome import OUTCOMES
from callbot.records import CallRecord
from callbot.store.base import StoreBase
from callbot.store.rows import call_records
from callbot.times import format_time, parse_time

#: search_calls() counts matches up to this many; beyond it the total is -1 ("10 000+").
SEARCH_COUNT_CAP = 10_000
#: Largest page search_calls() returns.
SEARCH_MAX_PER_PAGE = 500


class Search(StoreBase):
    """Finding calls: by words, outcome, number, time and label; every call of one number."""

    def search_calls(
        self,
        *,
        text: str | None = None,
        outcome: str | None = None,
        number: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        label: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> tuple[list[CallRecord], int]:
        """One page of calls, newest first, and how many match in all.

        ``text``: words (each also as a prefix: 'Energ' finds 'Energie', case
        and accents ignored; all words must occur) in the transcript, the
        caller's turns, person, company or display name. ``number``: a full
        number (any form) matches exactly, E.164 or as received; anything
        shorter is a prefix ('+4930', '030 12'). ``since`` inclusive, ``until``
        exclusive. ``label``: cold_call / genuine / unclear.

        Order: newest first by started_at; a ``text`` search (unless with a
        full number) is ordered by call id instead — the order calls started
        in, as the bot logs them — so the index walk can stop at the page.

        The total is exact up to :data:`SEARCH_COUNT_CAP` (10 000); beyond that
        it is ``-1``: show "10 000+". Paging is LIMIT/OFFSET over an index
        (started_at per filter, or the text index), never a sort of all matches
        — except for a number prefix, which sorts that number range's calls.
        """
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"unknown call outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
        if page < 1:
            raise ValueError("page must be at least 1")
        if not 1 <= per_page <= SEARCH_MAX_PER_PAGE:
            raise ValueError(f"per_page must be 1-{SEARCH_MAX_PER_PAGE}")
        where: list[str] = []
        params: list[Any] = []
        fts_query: str | None = None
        if text is not None and text.strip():
            words = re.findall(r"\w+", text)
            if not words:
                return [], 0
            fts_query = " ".join(f'"{w}"*' for w in words)
        if outcome is not None:
            where.append("calls.outcome = ?")
            params.append(outcome)
        if label is not None:
            where.append("calls.label = ?")
            params.append(label)
        if since is not None:
            where.append("calls.started_at >= ?")
            params.append(format_time(parse_time(since) if isinstance(since, str) else since))
        if until is not None:
            where.append("calls.started_at < ?")
            params.append(format_time(parse_time(until) if isinstance(until, str) else until))
        exact: list[str] = []
        if number is not None and number.strip():
            exact, prefixes = numbers.number_search_terms(number, self.default_region)
            if exact:
                marks = ",".join("?" * len(exact))
                where.append(f"(calls.caller_number IN ({marks}) OR calls.caller_dialled IN ({marks}))")
                params.extend(exact + exact)
            else:
                ranges = []
                for prefix in prefixes:
                    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
                    ranges.append("(calls.caller_number >= ? AND calls.caller_number < ?)")
                    ranges.append("(calls.caller_dialled >= ? AND calls.caller_dialled < ?)")
                    params.extend([prefix, end, prefix, end])
                where.append("(" + " OR ".join(ranges) + ")")
        if fts_query is not None and not exact:
            # Words (plus cheap filters, a number prefix included): walk the index's matches
            # newest id first and stop at the page, instead of sorting every match by started_at.
            source = "calls_fts CROSS JOIN calls ON calls.id = calls_fts.rowid"  # CROSS: the index drives
            where.insert(0, "calls_fts MATCH ?")
            params.insert(0, fts_query)
            order = "calls_fts.rowid DESC"
        else:
            # A full number narrows to few calls: find them by its index, then keep those among
            # the text matches (collected once; the unary + keeps calls.id from driving).
            source = "calls"
            if fts_query is not None:
                where.append("+calls.id IN (SELECT rowid FROM calls_fts WHERE calls_fts MATCH ?)")
                params.append(fts_query)
            order = "calls.started_at DESC, calls.id DESC"
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self._reader() as db:
            rows = list(db.query(
                f"SELECT calls.* FROM {source}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                params + [per_page, (page - 1) * per_page],
            ))
            if len(rows) < per_page and (rows or page == 1):
                total = (page - 1) * per_page + len(rows)
            else:
                total = db.execute(f"SELECT count(*) FROM (SELECT 1 FROM {source}{clause} LIMIT ?)",
                                   params + [SEARCH_COUNT_CAP + 1]).fetchone()[0]
                if total > SEARCH_COUNT_CAP:
                    total = -1
            return call_records(db, rows), total

    def caller_timeline(self, number: str) -> list[CallRecord]:
        """Every call of ``number`` (E.164 or as received), oldest first."""
        clause, params = self._number_clause(number)
        with self._reader() as db:
            rows = list(db.query(f"SELECT * FROM calls WHERE {clause} ORDER BY started_at, id", params))
            return call_records(db, rows)
