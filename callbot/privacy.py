"""Data protection: delete old recordings and transcripts, erase or export one caller.

Works on top of the call log's API (:class:`callbot.store.store.Store`) and the
recordings directory; nothing here touches SQLite itself.

* :func:`prune` — retention: what callers said (recordings, transcripts, the
  text of leads, kept withheld evidence) of calls older than N days is deleted;
  the calls themselves and their decision trail stay unless ``keep_call_rows``
  is false.
* :func:`forget` — the right to erasure: every call of a number (its own calls
  and withheld calls whose kept evidence names it) with its events, turns, leads
  and recordings, and the number's list entries; then the write-ahead log is
  emptied so the erased values do not linger in ``<call log>-wal``.
* :func:`export` — the right of access: everything stored about a number as
  ``calls.json`` plus copies of the recordings.

Recordings live in one folder per call, ``<recordings>/<call id>/`` (see
:mod:`callbot.call.screening`). Pruning or forgetting a call removes its whole
folder, WAVs no row points to (a crash, a full disk) included; and prune removes
the folders older than the retention whose call has no row at all.

Recording files are deleted *before* the rows that point to them are cleared,
so a run that stops half-way leaves nothing untracked: running it again picks
up where it stopped. A file that cannot be deleted keeps its call untouched
(and is reported), so the next run retries it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
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
    orphans: int = 0            # files in call folders that no row pointed to, deleted


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
    orphans: int = 0            # files in the calls' folders that no row pointed to, deleted
    wal_truncated: bool = True  # False: another process kept the -wal file (old pages) from being emptied

    @property
    def found(self) -> bool:
        return bool(self.calls or self.list_entries or self.problems)


@dataclass
class _Files:
    deleted: int = 0
    missing: int = 0
    problems: list[str] = field(default_factory=list)
    failed_calls: set[int] = field(default_factory=set)
    orphans: int = 0


def _inside(recordings_dir: Path, relative: str) -> Path | None:
    """The recording's path, or None if ``relative`` points outside the recordings folder."""
    root = recordings_dir.resolve()
    try:
        target = (root / relative).resolve()
    except (ValueError, OSError):  # a NUL byte, a loop of links: not a path to touch
        return None
    return target if target.is_relative_to(root) and target != root else None


#: A file the bot writes into a call's folder: ``<seq>-<field>.wav`` (:mod:`callbot.call.screening`).
_CALL_FILE = re.compile(r"^\d+-")


def _remove_call_dirs(recordings_dir: Path, call_ids: Iterable[int], files: _Files) -> None:
    """Empty and remove the folder ``<recordings>/<call id>/`` of each call whose recordings
    were all deleted: the files the bot writes there (``<seq>-…``) that are left no row
    points to (they count as orphans). Anything else (a subfolder, a file of another layout)
    is not the bot's and stays, with its folder. A file that cannot be deleted marks its
    call failed (kept for the next run)."""
    for call_id in call_ids:
        folder = Path(recordings_dir) / str(int(call_id))
        if call_id in files.failed_calls or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            entries = list(folder.iterdir())
        except OSError as exc:
            entries = []
            files.problems.append(f"call {call_id}: cannot read {folder}: {exc.strerror or exc}")
            files.failed_calls.add(call_id)
        for entry in entries:
            if entry.is_symlink() or not entry.is_file() or not _CALL_FILE.match(entry.name):
                continue
            try:
                os.unlink(entry)
            except FileNotFoundError:
                continue
            except OSError as exc:
                files.problems.append(f"call {call_id}: cannot delete {entry}: {exc.strerror or exc}")
                files.failed_calls.add(call_id)
                continue
            files.orphans += 1
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def _prune_orphan_dirs(store: Store, recordings_dir: Path, cutoff: datetime, files: _Files) -> None:
    """Remove call folders older than ``cutoff`` that no pruned call covered: those of calls
    that started before it, and those whose call has no row and whose newest file is older."""
    try:
        folders = {int(p.name): p for p in Path(recordings_dir).iterdir()
                   if p.name.isdigit() and p.is_dir() and not p.is_symlink()}
    except OSError:
        return
    started = store.call_start_times(list(folders))
    limit = format_time(cutoff)
    old = []
    for call_id, folder in folders.items():
        if call_id in started:
            if started[call_id] < limit:
                old.append(call_id)
            continue
        try:
            newest = max([folder.stat().st_mtime, *(p.lstat().st_mtime for p in folder.rglob("*"))])
        except OSError:
            continue
        if newest < cutoff.timestamp():
            old.append(call_id)
    _remove_call_dirs(Path(recordings_dir), old, files)


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
        _remove_call_dirs(Path(recordings_dir), ids, files)
        ready = [i for i in ids if i not in files.failed_calls]
        if not ready:
            continue
        if keep_call_rows:
            counts += store.erase_call_content(ready).result(_WRITE_TIMEOUT)
            calls += len(ready)
        else:
            counts += store.delete_calls(ready).result(_WRITE_TIMEOUT)
            calls = counts.calls
    _prune_orphan_dirs(store, Path(recordings_dir), cutoff, files)
    for problem in files.problems:
        log.warning("prune: %s", problem)
    return PruneReport(
        days=days, cutoff=format_time(cutoff), keep_call_rows=keep_call_rows, calls=calls,
        transcripts=counts.calls if keep_call_rows else 0, turns=counts.turns, leads=counts.leads,
        events=counts.events, recordings=files.deleted, missing=files.missing, problems=tuple(files.problems),
        orphans=files.orphans,
    )


def forget(store: Store, recordings_dir: str | Path, number: str) -> ForgetReport:
    """Erase every call of ``number`` (E.164 or as received, or named in a withheld call's
    kept evidence) with its events, turns, leads, search row and recording folder — one
    transaction per call, overwriting what was stored (``secure_delete``) — and every list
    entry of the number. The search index is rewritten afterwards so the erased words leave
    no trace in it, and the write-ahead log is emptied (``wal_checkpoint(TRUNCATE)``, retried
    for a few seconds while another process reads; ``wal_truncated`` says whether it was)."""
    files = _Files()
    counts = EraseCounts()
    for call_id in store.call_ids_for_number(number):
        _delete_files(Path(recordings_dir), store.recordings_of([call_id]), files)
        _remove_call_dirs(Path(recordings_dir), [call_id], files)
        if call_id in files.failed_calls:
            continue
        counts += store.delete_calls([call_id]).result(_WRITE_TIMEOUT)
    entries = store.delete_list_entries_for_number(number).result(_WRITE_TIMEOUT)
    if counts.calls:
        store.optimize_search().result(_WRITE_TIMEOUT)
    truncated = store.truncate_wal()
    for problem in files.problems:
        log.warning("forget: %s", problem)
    if not truncated:
        log.warning("forget: another process kept %s-wal from being emptied; the erased values stay in it "
                    "until its next checkpoint", store.path)
    return ForgetReport(
        number=number, calls=counts.calls, events=counts.events, turns=counts.turns, leads=counts.leads,
        recordings=files.deleted, missing=files.missing, list_entries=entries, problems=tuple(files.problems),
        orphans=files.orphans, wal_truncated=truncated,
    )


#: Columns stored as 0/1 that the export writes as false/true.
_FLAGS = ("caller_valid", "withheld", "confirmed")


def _json_value(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot export {type(value).__name__}")


def _flags(row: dict) -> dict:
    return {k: bool(v) if k in _FLAGS and v is not None else v for k, v in row.items()}


def _call_files(recordings_dir: Path, call_id: int) -> list[str]:
    """Every file in the call's recording folder, relative to the recordings folder."""
    folder = Path(recordings_dir) / str(int(call_id))
    if folder.is_symlink() or not folder.is_dir():
        return []
    return sorted(p.relative_to(recordings_dir).as_posix() for p in folder.rglob("*") if p.is_file())


def export(store: Store, recordings_dir: str | Path, number: str, out_dir: str | Path) -> Path:
    """Write everything stored about ``number`` to ``out_dir``: ``calls.json``
    (every stored column of its calls — those :func:`forget` would erase, withheld
    evidence included — with their events, turns and leads, oldest first, and the
    number's list entries) and the recordings under ``recordings/`` (same relative
    paths as in calls.json; every file of the calls' folders). ``out_dir`` must be
    new or empty. Returns calls.json's path.

    Encoding of calls.json (UTF-8 JSON, lossless whatever the call log holds): text
    that is not valid UTF-8 keeps its bytes — each invalid byte 0xXY is written as the
    escape ``\\udcXY`` (Python's ``surrogateescape``: ``json.loads`` then
    ``.encode("utf-8", "surrogateescape")`` gives the stored bytes back); a value stored
    as a BLOB is written as ``{"base64": "..."}``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CallbotError(f"{out} is a file — give a new or empty folder to export into")
    if out.is_dir() and any(out.iterdir()):
        raise CallbotError(f"{out} is not empty — give a new or empty folder, nothing was written")
    records = store.export_rows(store.call_ids_for_number(number))
    entries = store.list_entry_rows(number)
    try:
        out.mkdir(parents=True, exist_ok=True)
        calls = []
        wanted: dict[str, None] = {}
        for row in records:
            data = _flags(row)
            data["reasons"] = [": ".join(x for x in (e["rule"], e["reason"]) if x) for e in row["events"]
                               if e["kind"] == "decision"]
            for item in row["turns"] + row["leads"]:
                if isinstance(item["recording"], str):
                    wanted[item["recording"]] = None
            wanted.update(dict.fromkeys(_call_files(Path(recordings_dir), row["id"])))
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
            "encoding": "text that is not valid UTF-8: each invalid byte 0xXY as \\udcXY (surrogateescape); "
                        "BLOB values as {\"base64\": ...}",
            "calls": calls,
            "list_entries": [_flags(entry) for entry in entries],
            "recordings": {"folder": "recordings", "copied": copied, "missing": missing},
        }
        text = json.dumps(document, ensure_ascii=False, indent=2, default=_json_value) + "\n"
        path = out / "calls.json"
        path.write_bytes(text.encode("utf-8", "backslashreplace"))  # lone surrogates -> \\udcXY
    except OSError as exc:
        raise CallbotError(f"cannot export into {out}: {exc.strerror or exc}") from None
    return path
