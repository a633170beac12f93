"""The call log loses no write: a locked or full database, a stop, a restart (issue #11).

Real SQLite locks (a second connection holding ``BEGIN EXCLUSIVE``), real files, and a
real full disk (``RLIMIT_FSIZE`` in a subprocess: every write past the limit fails with
EFBIG, as on a full disk). The one seam is :data:`callbot.store.journal.FILE_WRITE`, to
make only the journal's disk full.
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from callbot.call.calllog import CallLog
from callbot.outcome import Outcome
from callbot.records import CallerFields, TurnFields
from callbot.store import journal as journal_module
from callbot.store.journal import journal_path
from callbot.store.store import Store
from tests.test_store import raw_rows

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 22, 14, 35, tzinfo=timezone.utc)


def caller(n: int = 1) -> CallerFields:
    return CallerFields(raw=f"<sip:0301234567{n}@fritz.box>", display=None, number=f"+49301234567{n}",
                        dialled=f"0301234567{n}", country=49, region="DE", type="fixed_line",
                        description="Berlin", valid=True, withheld=False, number_source="from")


rows = raw_rows  # the rows of a query, as dicts (tests/test_store.py)


def lock(path: Path) -> sqlite3.Connection:
    """Another process's hold on the file (a backup, a `sqlite3` shell): BEGIN EXCLUSIVE."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def eventually(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def a_call(store: Store, n: int) -> int:
    """What the bot writes for one call, through the call's own CallLog."""
    calllog = CallLog(store, store.start_call(caller(n), f"sip-{n}").call_id)
    calllog.event("decision", "default", f"call {n}")
    calllog.answered()
    calllog.turn(TurnFields(1, "bot", T0, 1.0, prompt_id="greeting", text="Hallo"))
    calllog.turn(TurnFields(2, "caller", T0, 2.0, field="identity", recording=f"{calllog.call_id}/02-identity.wav"))
    calllog.turn_text(2, f"hier ist nummer {n}", 0.9)
    calllog.event("heard", "identity", "2.00 s of audio")
    calllog.finish(Outcome.MESSAGE_TAKEN)
    return calllog.call_id


def assert_complete(path: Path, ids: list[int]) -> None:
    calls = [c for c in rows(path, "SELECT id, outcome, answered_at FROM calls ORDER BY id") if c["id"] in ids]
    assert [c["id"] for c in calls] == ids
    assert all(c["outcome"] == "message_taken" and c["answered_at"] for c in calls)
    for n, call_id in enumerate(ids, 1):
        events = rows(path, "SELECT kind, reason FROM events WHERE call_id = ? ORDER BY id", [call_id])
        assert [(e["kind"]) for e in events] == ["decision", "heard"]  # in the order written
        assert events[0]["reason"] == f"call {n}"
        turns = rows(path, "SELECT seq, speaker, text FROM turns WHERE call_id = ? ORDER BY seq", [call_id])
        assert [(t["seq"], t["speaker"], t["text"]) for t in turns] == [
            (1, "bot", "Hallo"), (2, "caller", f"hier ist nummer {n}")]


@pytest.fixture
def db(tmp_path):
    return tmp_path / "calls.db"


def test_a_locked_database_delays_the_calls_but_loses_nothing(db, caplog):
    store = Store(db)
    store.start()
    store.claim_call_ids()
    holder = lock(db)
    try:
        with caplog.at_level(logging.WARNING, logger="callbot.store"):
            ids = [a_call(store, n) for n in (1, 2, 3)]
            # the writes wait in the journal, on disk, while the file is locked
            eventually(lambda: journal_path(db).exists() and journal_path(db).stat().st_size > 0)
            assert rows(db, "SELECT count(*) AS n FROM calls")[0]["n"] == 0
            assert store.waiting_writes >= 3 * 8
        assert any("does not take writes" in r.getMessage() for r in caplog.records)
    finally:
        holder.rollback()
        holder.close()
    store.flush(60)
    assert_complete(db, ids)
    assert store.waiting_writes == 0
    store.close()
    assert journal_path(db).stat().st_size == 0  # applied, then emptied


def test_close_on_a_locked_database_carries_the_writes_over_to_the_next_start(db, caplog):
    store = Store(db)
    store.start()
    store.claim_call_ids()
    holder = lock(db)
    try:
        ids = [a_call(store, n) for n in (1, 2)]
        with caplog.at_level(logging.WARNING, logger="callbot.store"):
            store.close(timeout=0.2)  # bounded, although the file stays locked
        assert any("carried over" in r.getMessage() and "16 write(s)" in r.getMessage() for r in caplog.records)
        assert len(journal_path(db).read_text().splitlines()) == 16
        assert rows(db, "SELECT count(*) AS n FROM calls")[0]["n"] == 0
    finally:
        holder.rollback()
        holder.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="callbot.store"):
        again = Store(db)
        again.start()
        again.claim_call_ids()  # the bot's start: the journal is replayed first
        new = again.start_call(caller(9), "after").call_id
        again.flush(30)
    assert any("replaying 16" in r.getMessage() for r in caplog.records)
    assert new > max(ids)  # an id waiting in the journal is never handed out again
    again.close()
    assert_complete(db, ids)


def test_a_replay_interrupted_by_a_crash_applies_each_write_once(db):
    store = Store(db)
    store.start()
    store.claim_call_ids()
    holder = lock(db)
    ids = [a_call(store, 1)]
    store.close(timeout=0.2)
    holder.rollback()
    holder.close()
    left = journal_path(db).read_bytes()
    with Store(db) as replay:
        replay.claim_call_ids()
        replay.flush(30)
    assert_complete(db, ids)
    # a crash after the entries were applied but before the journal was emptied
    journal_path(db).write_bytes(left)
    with Store(db) as again:
        again.claim_call_ids()
        again.flush(30)
    assert_complete(db, ids)  # no event, turn or call twice
    assert rows(db, "SELECT count(*) AS n FROM events")[0]["n"] == 2


def test_a_write_that_cannot_succeed_is_logged_and_skipped_without_wedging_the_queue(db, caplog):
    store = Store(db)
    store.start()
    store.claim_call_ids()
    holder = lock(db)
    try:
        bad = store.add_event(424242, "decision", "x", "no such call")  # FOREIGN KEY: will never pass
        ids = [a_call(store, 1)]
        eventually(lambda: journal_path(db).exists() and journal_path(db).stat().st_size > 0)
    finally:
        holder.rollback()
        holder.close()
    with caplog.at_level(logging.ERROR, logger="callbot.store"):
        store.flush(60)
    assert "FOREIGN KEY" in str(bad.exception(1))
    assert any(r.levelno == logging.ERROR and "add_event(424242" in r.getMessage() for r in caplog.records)
    assert_complete(db, ids)
    store.close()


def test_the_call_keeps_its_id_when_its_row_fails(db, caplog):
    """The bug: a failed row set call_id None and every later write of the call was dropped."""
    store = Store(db)
    store.start()
    first = store.start_call(caller(1), "x").result(10)
    calllog = CallLog(store, first)
    row = store._submit_op("start_call", {"id": first, "started_at": "2026-01-01T00:00:00.000Z"}, first,
                           "start_call(duplicate)")  # a constraint violation
    row.add_done_callback(calllog._row_written)
    with caplog.at_level(logging.ERROR):
        store.flush(10)
    assert calllog.call_id == first
    calllog.event("decision", "default", "still logged")
    store.flush(10)
    assert [e.reason for e in store.events(first)] == ["still logged"]
    assert any("start_call(duplicate)" in r.getMessage() for r in caplog.records)
    store.close()


def test_with_no_room_for_the_journal_a_lost_write_is_logged_with_its_call(db, caplog, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module, "FILE_WRITE", full)
    store = Store(db)
    store.start()
    store.claim_call_ids()
    holder = lock(db)
    try:
        with caplog.at_level(logging.ERROR, logger="callbot.store"):
            call_id = store.start_call(caller(1), "x").call_id
            store.add_event(call_id, "decision", "default", "unknown")
            eventually(lambda: any("cannot write the write journal" in r.getMessage() for r in caplog.records))
            store.close(timeout=0.2)
    finally:
        holder.rollback()
        holder.close()
    lost = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "LOST" in r.getMessage()]
    assert any(f"start_call({call_id})" in m for m in lost)
    assert any(f"add_event({call_id}, 'decision')" in m for m in lost)


FULL_DISK = textwrap.dedent("""
    import json, logging, resource, signal, sys, time
    sys.path.insert(0, sys.argv[2])
    from tests.test_durable_log import a_call, rows
    from callbot.store.store import Store
    from pathlib import Path

    import threading
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death, like ENOSPC
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    journal_failed = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record):
            if "cannot write the write journal" in record.getMessage():
                journal_failed.set()

    logging.getLogger("callbot.store").addHandler(Watch())
    db = Path(sys.argv[1])
    store = Store(db)
    store.start()
    store.claim_call_ids()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))  # the disk is full: no byte can be written
    ids = [a_call(store, n) for n in (1, 2, 3)]  # three calls are served
    assert journal_failed.wait(60)  # the writer tried the file and the journal: both full
    during = rows(db, "SELECT count(*) AS n FROM calls")[0]["n"]
    waiting = store.waiting_writes
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space is back
    store.flush(60)
    store.close()
    print(json.dumps({"ids": ids, "during": during, "waiting": waiting}))
""")


def test_a_full_disk_delays_the_calls_rows_until_space_returns(db):
    Store(db).close()
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(db), str(REPO)], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["during"] == 0 and result["waiting"] == 3 * 8
    assert "does not take writes" in done.stderr and "cannot write the write journal" in done.stderr
    assert_complete(db, result["ids"])
    assert not journal_path(db).exists() or journal_path(db).stat().st_size == 0


def test_a_closure_gives_up_on_a_long_lock_like_the_busy_timeout_did(db, monkeypatch):
    from callbot.errors import StoreError
    from callbot.store import writer

    monkeypatch.setattr(writer, "CLOSURE_PATIENCE", 0.3)
    store = Store(db)
    store.start()
    holder = lock(db)
    try:
        change = store._submit("list change", lambda d: d.execute("UPDATE list_generation SET n = n + 1"))
        error = change.exception(30)
    finally:
        holder.rollback()
        holder.close()
    assert isinstance(error, StoreError) and "gave up" in str(error)
    store.close()
