"""Times as callbot stores and shows them (pure, a leaf).

Stored times are ISO-8601 UTC strings with milliseconds: ``2026-11-22T14:35:01.123Z``.
"""

from __future__ import annotations

from datetime import datetime, timezone



def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_time(moment: datetime) -> str:
    """``2026-11-22T14:35:01.123Z``. A naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Inverse of :func:`format_time` (accepts any ISO-8601 form with an offset or Z)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def local_time(text: str | None) -> datetime | None:
    """A stored time in this machine's time zone, for display; None when empty or not a time."""
    if not text:
        return None
    try:
        return parse_time(text).astimezone()
    except ValueError:
        return None
