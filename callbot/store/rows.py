"""From SQLite rows to the records of :mod:`callbot.records`, and id lists cut for ``IN (...)``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlite_utils import Database

from callbot.records import SCREENING_FIELDS, CallRecord, ListEntry


def chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    """Slices small enough for one ``IN (...)`` (SQLite limits the number of parameters)."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def entry_from_row(row: dict[str, Any]) -> ListEntry:
    return ListEntry(
        id=row["id"], list=row["list"], kind=row["kind"], value=row["value"], reason=row["reason"],
        source=row["source"], created_at=row["created_at"], created_by=row["created_by"],
        expires_at=row["expires_at"], confirmed=bool(row["confirmed"]), removed_at=row["removed_at"],
    )


def call_records(db: Database, rows: list[dict[str, Any]]) -> list[CallRecord]:
    """``calls`` rows as records, each with the reasons of its decision events."""
    reasons: dict[int, list[str]] = {row["id"]: [] for row in rows}
    for chunk in chunks(list(reasons)):
        marks = ",".join("?" * len(chunk))
        for ev in db.query(
            f"SELECT call_id, rule, reason FROM events WHERE kind = 'decision' "
            f"AND call_id IN ({marks}) ORDER BY id",
            chunk,
        ):
            reasons[ev["call_id"]].append(_reason_text(ev["rule"], ev["reason"]))
    return [_record_from_row(row, reasons[row["id"]]) for row in rows]


def _reason_text(rule: str | None, reason: str | None) -> str:
    if rule and reason:
        return f"{rule}: {reason}"
    return rule or reason or ""


def _record_from_row(row: dict[str, Any], reasons: Sequence[str]) -> CallRecord:
    return CallRecord(
        id=row["id"],
        sip_call_id=row["sip_call_id"],
        started_at=row["started_at"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        duration=row["duration"],
        outcome=row["outcome"],
        caller_raw=row["caller_raw"],
        caller_display=row["caller_display"],
        caller_number=row["caller_number"],
        caller_dialled=row["caller_dialled"],
        caller_country=row["caller_country"],
        caller_region=row["caller_region"],
        caller_type=row["caller_type"],
        caller_description=row["caller_description"],
        caller_valid=bool(row["caller_valid"]),
        withheld=bool(row["withheld"]),
        number_source=row["number_source"],
        reasons=tuple(reasons),
        withheld_evidence=row["withheld_evidence"],
        **{name: row.get(name) for name in SCREENING_FIELDS},
    )
