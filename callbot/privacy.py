"""Data protection: delete old recordings and transcripts, erase or export one caller.

Works on top of the call log's API (:class:`callbot.store.store.Store`) and the
recordings directory; nothing here touches SQLite itself.

* :func:`prune` — retention: what callers said (recordings, transcripts, the
  text of leads) of calls older than N days is deleted; the calls themselves
  and their decision trail stay unless ``keep_call_rows`` is false.
* :func:`forget` — the right to erasure: every call of a number with its
  events, turns, leads and recordings, and the number's list entries.
* :func:`export` — the right of access: everything stored about a number as
  ``calls.json`` plus copies of the recordings.

Recording files are deleted *before* the rows that point to them are cleared,
so a run that stops half-way leaves nothing untracked: running it again picks
up where it stopped. A file that cannot be deleted keeps its call untouched
(and is reported), so the next run retries it.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from callbot.errors import CallbotError
from callbot.records import EraseCounts
from callbot.store.store import Store
from callbot.times import format_time

__all__ = ["ForgetReport", "PruneReport", "export", "forget", "prune"]

log = logging.getLogger("callbot.privacy")

#: Calls handled per transaction by prune() (keeps the bot's writes flowing meanwhile).
PRUNE_BATCH = 500
#: How long to wait for one write of the call log.
_WRITE_TIMEOUT = 300.0


@dataclass(frozen=True)
class PruneReport:
    days: int
    cutoff: str | None          # calls started before this were pruned (None: days = 0, nothing done)
    keep_call_rows: bool
    calls: int = 0              # calls whose content was erased (or, keep_call_rows false, deleted)
    transcripts: int = 0        # calls.transcript cleared
    turns: int = 0              # turns cleared (text and recording) or deleted
    leads: int = 0              # leads cleared (text and recording) or deleted
    events: int = 0             # events deleted (only when keep_call_rows is false)
    recordings: int = 0         # WAV files deleted
    missing: int = 0            # recordings that were already gone
    problems: tuple[str, ...] = ()  # files that could not be deleted (their calls were left alone)


@dataclass(frozen=True)
class ForgetReport:
    number: str
    calls: int = 0
    events: int = 0
    turns: int = 0
    leads: int = 0
    recordings: int = 0
    missing: int = 0
    list_entries: int = 0
    problems: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.calls or self.list_entries or self.problems)


@dataclass
class _Files:
    deleted: int = 0
    missing: int = 0
    problems: list[str] = field(default_factory=list)
    failed_calls: set[int] = field(default_factory=set)


def _inside(recordings_dir: Path, relative: str) -> Path | None:
    """The recording's path, or None if ``relative`` points outside the recordings folder."""
    root = recordings_dir.resolve()
    target = (root / relative).resolve()
    return target if target.is_relative_to(root) and target != root else None


def _delete_files(recordings_dir: Path, recordings: Iterable[tuple[int, str]], files: _Files) -> None:
    recordings_dir = Path(recordings_dir)
    emptied: set[Path] = set()
    for call_id, relative in recordings:
        target = _inside(recordings_dir, relative)
        if target is None:
            files.problems.append(f"call {call_id}: recording path {relative!r} lies outside "
                                  f"{recordings_dir}; not touched")
            continue
        try:
            target.unlink()
        except FileNotFoundError:
            files.missing += 1
        except OSError as exc:
            files.problems.append(f"call {call_id}: cannot delete {target}: {exc.strerror or exc}")
            files.failed_calls.add(call_id)
            continue
        else:
            files.deleted += 1
        emptied.add(target.parent)
    root = recordings_dir.resolve()
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        while folder != root and folder.is_relative_to(root):
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
            folder = folder.parent


def prune(store: Store, recordings_dir: str | Path, days: int, now: datetime | None = None, *,
          keep_call_rows: bool = True, batch: int = PRUNE_BATCH) -> PruneReport:
    """Delete what callers said in calls that started more than ``days`` days
    before ``now``: their recording files, turn texts, transcripts and lead
    texts. With ``keep_call_rows`` false the old calls are deleted whole.
    ``days`` = 0 keeps everything. Safe to run again: a second run finds
    nothing left to do."""
    if days < 0:
        raise ValueError("days must be 0 (keep forever) or more")
    if days == 0:
        return PruneReport(days=0, cutoff=None, keep_call_rows=keep_call_rows)
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=days)
    files = _Files()
    counts = EraseCounts()
    calls = 0
    after = 0
    while True:
        ids = store.prunable_calls(cutoff, after_id=after, limit=batch, content_only=keep_call_rows)
        if not ids:
            break
        after = ids[-1]
        _delete_files(Path(recordings_dir), store.recordings_of(ids), files)
        ready = [i for i in ids if i not in files.failed_calls]
        if not ready:
            continue
        if keep_call_rows:
            counts += store.erase_call_content(ready).result(_WRITE_TIMEOUT)
            calls += len(ready)
        else:
            counts += store.delete_calls(ready).result(_WRITE_TIMEOUT)
            calls = counts.calls
    for problem in files.problems:
        log.warning("prune: %s", problem)
    return PruneReport(
        days=days, cutoff=format_time(cutoff), keep_call_rows=keep_call_rows, calls=calls,
        transcripts=counts.calls if keep_call_rows else 0, turns=counts.turns, leads=counts.leads,
        events=counts.events, recordings=files.deleted, missing=files.missing, problems=tuple(files.problems),
    )


def forget(store: Store, recordings_dir: str | Path, number: str) -> ForgetReport:
    """Erase every call of ``number`` (E.164 or as received) with its events,
    turns, leads and recordings — one transaction per call — and every list
    entry of the number. The search index is rewritten afterwards so the
    erased words leave no trace in it."""
    files = _Files()
    counts = EraseCounts()
    for call_id in store.call_ids_for_number(number):
        _delete_files(Path(recordings_dir), store.recordings_of([call_id]), files)
        if call_id in files.failed_calls:
            continue
        counts += store.delete_calls([call_id]).result(_WRITE_TIMEOUT)
    entries = store.delete_list_entries_for_number(number).result(_WRITE_TIMEOUT)
    if counts.calls:
        store.optimize_search().result(_WRITE_TIMEOUT)
    for problem in files.problems:
        log.warning("forget: %s", problem)
    return ForgetReport(
        number=number, calls=counts.calls, events=counts.events, turns=counts.turns, leads=counts.leads,
        recordings=files.deleted, missing=files.missing, list_entries=entries, problems=tuple(files.problems),
    )


def export(store: Store, recordings_dir: str | Path, number: str, out_dir: str | Path) -> Path:
    """Write everything stored about ``number`` to ``out_dir``: ``calls.json``
    (calls with events, turns and leads, oldest first, and the number's list
    entries) and the recordings under ``recordings/`` (same relative paths as
    in calls.json). ``out_dir`` must be new or empty. Returns calls.json's path."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CallbotError(f"{out} is a file — give a new or empty folder to export into")
    if out.is_dir() and any(out.iterdir()):
        raise CallbotError(f"{out} is not empty — give a new or empty folder, nothing was written")
    records = store.caller_timeline(number)
    entries = store.list_entries_for_number(number)
    try:
        out.mkdir(parents=True, exist_ok=True)
        calls = []
        wanted: dict[str, None] = {}
        for record in records:
            data = record.to_json()
            data["events"] = [asdict(e) for e in store.events(record.id)]
            data["turns"] = [asdict(t) for t in store.turns(record.id)]
            data["leads"] = [lead.to_json() for lead in store.call_leads(record.id)]
            for item in data["turns"] + data["leads"]:
                if item["recording"]:
                    wanted[item["recording"]] = None
            calls.append(data)
        copied, missing = [], []
        for relative in wanted:
            source = _inside(Path(recordings_dir), relative)
            target = _inside(out / "recordings", relative)
            if source is None or target is None or not source.is_file():
                missing.append(relative)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            copied.append(relative)
        document = {
            "number": number,
            "exported_at": format_time(datetime.now(timezone.utc)),
            "calls": calls,
            "list_entries": [entry.to_json() for entry in entries],
            "recordings": {"folder": "recordings", "copied": copied, "missing": missing},
        }
        path = out / "calls.json"
        path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CallbotError(f"cannot export into {out}: {exc.strerror or exc}") from None
    return path
