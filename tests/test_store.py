"""Tests for callbot.store (the Store and its parts): schema, migrations, writer thread, reads."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from callbot.errors import StoreError
from callbot.store import migrations, search
from callbot.store.migrations import MIGRATIONS, SCHEMA_VERSION
from callbot.store.store import Store
from callbot.outcome import OUTCOMES, Outcome
from callbot.records import CallerFields, CallRecord, EraseCounts, Event, TurnFields
from callbot.times import format_time, local_time

T0 = datetime(2026, 11, 22, 14, 35, 1, 123000, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self, start: datetime = T0):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


def caller(number: str | None = "+441632960001", dialled: str | None = "01632960001",
           withheld: bool = False, **kw) -> CallerFields:
    fields = dict(
        raw=f'"Test" <sip:{dialled or "anonymous"}@example.net>',
        display="Test",
        number=number,
        dialled=dialled,
        country=44 if number else None,
        region="GB" if number else None,
        type="fixed_line" if number else None,
        description="United Kingdom" if number else None,
        valid=number is not None,
        withheld=withheld,
        number_source="from" if number else None,
    )
    fields.update(kw)
    return CallerFields(**fields)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "data" / "calls.db"


@pytest.fixture
def store(db_path, clock):
    s = Store(db_path, clock=clock)
    s.start()
    yield s
    s.close()


def raw_rows(path, sql, params=()):
    conn = sqlite3.connect(str(path))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


# -- opening, schema, migrations ---------------------------------------------


def test_creates_parent_dir_and_records_migrations(db_path):
    assert not db_path.parent.exists()
    s = Store(db_path)
    assert db_path.exists()
    assert s.path == db_path
    names = [name for name, _ in MIGRATIONS]
    assert names[0] == "0001_calls_and_events"
    assert s.applied_migrations() == names
    assert SCHEMA_VERSION == len(MIGRATIONS)
    s.close()


def test_migrations_not_reapplied_on_reopen(db_path, monkeypatch):
    Store(db_path).close()
    before = raw_rows(db_path, "SELECT name, applied_at FROM _migrations")
    assert [r["name"] for r in before] == [name for name, _ in MIGRATIONS]

    calls = []
    wrapped = [(name, lambda db, fn=fn, name=name: (calls.append(name), fn(db)))
               for name, fn in MIGRATIONS]
    monkeypatch.setattr(migrations, "MIGRATIONS", wrapped)
    s = Store(db_path)
    s.close()
    assert calls == []
    assert raw_rows(db_path, "SELECT name, applied_at FROM _migrations") == before


def test_new_migration_applied_once_in_order(db_path, monkeypatch):
    Store(db_path).close()
    ran = []

    def _m0002(db):
        ran.append(1)
        db.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY)")

    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS + [("9999_extra", _m0002)])
    Store(db_path).close()
    Store(db_path).close()
    assert ran == [1]
    assert [r["name"] for r in raw_rows(db_path, "SELECT name FROM _migrations ORDER BY rowid")] == [
        name for name, _ in MIGRATIONS
    ] + ["9999_extra"]


def test_failed_migration_is_rolled_back_and_not_recorded(db_path, monkeypatch):
    Store(db_path).close()

    def _bad(db):
        db.execute("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
        db.execute("THIS IS NOT SQL")

    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS + [("9999_bad", _bad)])
    with pytest.raises(StoreError, match="9999_bad"):
        Store(db_path)
    tables = {r["name"] for r in raw_rows(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "half_done" not in tables
    assert [r["name"] for r in raw_rows(db_path, "SELECT name FROM _migrations")] == [
        name for name, _ in MIGRATIONS
    ]


def test_concurrent_opens_migrate_once(db_path):
    errors = []
    barrier = threading.Barrier(6)

    def open_it():
        try:
            barrier.wait()
            Store(db_path).close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(raw_rows(db_path, "SELECT * FROM _migrations")) == len(MIGRATIONS)


def test_wal_mode_and_schema(store, db_path):
    assert raw_rows(db_path, "PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    assert raw_rows(db_path, "PRAGMA user_version")[0]["user_version"] == SCHEMA_VERSION

    cols = {r["name"]: r for r in raw_rows(db_path, "PRAGMA table_info(calls)")}
    assert set(cols) == {
        "id", "sip_call_id", "started_at", "answered_at", "ended_at", "duration", "outcome",
        "caller_raw", "caller_display", "caller_number", "caller_dialled", "caller_country",
        "caller_region", "caller_type", "caller_description", "caller_valid", "withheld",
        "withheld_evidence", "number_source",
        "person", "company", "transcript", "label", "label_reasons",
    }
    assert cols["started_at"]["notnull"] == 1
    assert cols["withheld"]["notnull"] == 1 and cols["withheld"]["dflt_value"] == "0"
    assert cols["duration"]["type"] == "REAL"
    sql = raw_rows(db_path, "SELECT sql FROM sqlite_master WHERE name='calls'")[0]["sql"]
    assert "AUTOINCREMENT" in sql

    ev_cols = {r["name"] for r in raw_rows(db_path, "PRAGMA table_info(events)")}
    assert ev_cols == {"id", "call_id", "at", "kind", "rule", "reason"}
    fks = raw_rows(db_path, "PRAGMA foreign_key_list(events)")
    assert [(f["from"], f["table"], f["to"]) for f in fks] == [("call_id", "calls", "id")]

    indexed = set()
    for table in ("calls", "events"):
        for idx in raw_rows(db_path, f"PRAGMA index_list({table})"):
            for col in raw_rows(db_path, f"PRAGMA index_info({idx['name']})"):
                indexed.add((table, col["name"]))
    assert {("calls", "started_at"), ("calls", "caller_number"), ("calls", "outcome"),
            ("events", "call_id")} <= indexed


def test_outcome_constants():
    assert OUTCOMES == {
        "withheld_rejected", "cancelled", "answered", "caller_hung_up", "error",
        "interrupted", "timeout", "cold_call_countered", "message_taken", "no_response",
        "blocked", "handed_off", "transferred", "rejected", "refused", "stopped",
    }
    assert Outcome.ANSWERED == "answered" and Outcome.INTERRUPTED == "interrupted"


def test_local_time_reads_a_stored_time_for_display():
    moment = local_time("2026-11-22T14:35:01.123Z")
    assert moment is not None and moment.utcoffset() is not None
    assert moment == T0 and moment.tzinfo == T0.astimezone().tzinfo
    assert local_time(None) is None and local_time("") is None and local_time("soon") is None


def test_format_time():
    assert format_time(T0) == "2026-11-22T14:35:01.123Z"
    plus_one = timezone(timedelta(hours=1))
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=plus_one)) == "2026-01-02T02:04:05.006Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"


# -- StoreError on bad paths ---------------------------------------------------


def test_path_is_directory(tmp_path):
    with pytest.raises(StoreError, match="directory"):
        Store(tmp_path)


def test_path_is_not_a_database(tmp_path):
    bogus = tmp_path / "calls.db"
    bogus.write_text("this is a text file, not a database\n" * 100)
    with pytest.raises(StoreError, match="not a callbot call log"):
        Store(bogus)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_directory_not_writable(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="not writable"):
            Store(ro / "calls.db")
    finally:
        ro.chmod(0o755)


def test_parent_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError):
        Store(tmp_path / "file" / "calls.db")


# -- writes ---------------------------------------------------------------------


def test_start_call_row_exists_with_null_outcome(store, db_path):
    call_id = store.start_call(caller(evidence="P-Asserted-Identity: <sip:x>"), "abc@pbx").result(5)
    assert isinstance(call_id, int)
    rows = raw_rows(db_path, "SELECT * FROM calls WHERE id = ?", (call_id,))
    assert len(rows) == 1
    row = rows[0]
    assert row["outcome"] is None and row["ended_at"] is None and row["duration"] is None
    assert row["started_at"] == "2026-11-22T14:35:01.123Z"
    assert row["sip_call_id"] == "abc@pbx"
    assert row["caller_number"] == "+441632960001"
    assert row["caller_dialled"] == "01632960001"
    assert row["caller_country"] == 44
    assert row["caller_valid"] == 1 and row["withheld"] == 0
    assert row["withheld_evidence"] == "P-Asserted-Identity: <sip:x>"

    rec = store.call(call_id)
    assert isinstance(rec, CallRecord)
    assert rec.outcome is None and rec.caller_valid is True and rec.withheld is False
    assert [c.id for c in store.open_calls()] == [call_id]


def test_withheld_call(store):
    call_id = store.start_call(caller(number=None, dialled=None, withheld=True), None).result(5)
    rec = store.call(call_id)
    assert rec.withheld is True and rec.caller_number is None and rec.caller_dialled is None
    assert rec.caller_valid is False and rec.sip_call_id is None


def test_finish_computes_duration_from_clock(store, clock):
    call_id = store.start_call(caller(), "c1").result(5)
    clock.advance(2.0)
    store.mark_answered(call_id).result(5)
    clock.advance(10.345)
    store.finish_call(call_id, "answered").result(5)
    rec = store.call(call_id)
    assert rec.answered_at == "2026-11-22T14:35:03.123Z"
    assert rec.ended_at == "2026-11-22T14:35:13.468Z"
    assert rec.duration == pytest.approx(12.345)
    assert rec.outcome == "answered"
    assert store.open_calls() == []


def test_finish_twice_keeps_first_outcome(store, clock):
    call_id = store.start_call(caller(), None).result(5)
    clock.advance(5)
    store.finish_call(call_id, "caller_hung_up").result(5)
    clock.advance(5)
    assert store.finish_call(call_id, "error").result(5) is None
    rec = store.call(call_id)
    assert rec.outcome == "caller_hung_up"
    assert rec.duration == pytest.approx(5.0)


def test_unknown_outcome_raises_immediately(store):
    call_id = store.start_call(caller(), None).result(5)
    with pytest.raises(ValueError, match="bogus"):
        store.finish_call(call_id, "bogus")
    store.flush()
    assert store.call(call_id).outcome is None


def test_events_and_reasons(store, clock):
    call_id = store.start_call(caller(), None).result(5)
    store.add_event(call_id, "sip", reason="INVITE received")
    clock.advance(0.5)
    store.add_event(call_id, "decision", "allowlist", "number is on the allow list")
    store.add_event(call_id, "prompt", reason="greeting.wav")
    store.add_event(call_id, "decision", "hours", "within office hours")
    store.add_event(call_id, "hangup", "caller", None).result(5)

    events = store.events(call_id)
    assert [e.kind for e in events] == ["sip", "decision", "prompt", "decision", "hangup"]
    assert all(isinstance(e, Event) and e.call_id == call_id for e in events)
    assert events[0].at == "2026-11-22T14:35:01.123Z"
    assert events[1].at == "2026-11-22T14:35:01.623Z"
    assert events[1].rule == "allowlist" and events[4].reason is None
    assert store.call(call_id).reasons == (
        "allowlist: number is on the allow list",
        "hours: within office hours",
    )
    assert store.calls()[0].reasons == store.call(call_id).reasons


def test_read_missing(store):
    assert store.call(12345) is None
    assert store.events(12345) == []


def test_filters(store, clock):
    a = store.start_call(caller("+441632960001", "01632960001"), None).result(5)
    clock.advance(3600)
    b = store.start_call(caller("+441632960002", "01632960002"), None).result(5)
    clock.advance(3600)
    c = store.start_call(caller(None, None, withheld=True), None).result(5)
    clock.advance(3600)
    d = store.start_call(caller(None, "12345", valid=False), None).result(5)
    store.finish_call(a, "answered")
    store.finish_call(b, "caller_hung_up")
    store.finish_call(c, "withheld_rejected").result(5)

    assert [r.id for r in store.calls()] == [d, c, b, a]  # newest first
    assert [r.id for r in store.calls(limit=2)] == [d, c]
    assert [r.id for r in store.calls(since=T0 + timedelta(minutes=30))] == [d, c, b]
    assert [r.id for r in store.calls(since=T0 + timedelta(hours=2))] == [d, c]
    assert [r.id for r in store.calls(outcome="answered")] == [a]
    assert [r.id for r in store.calls(outcome="withheld_rejected")] == [c]
    assert store.calls(outcome="timeout") == []
    # exact and substring, on caller_number or caller_dialled
    assert [r.id for r in store.calls(number="+441632960002")] == [b]
    assert [r.id for r in store.calls(number="01632960001")] == [a]
    assert [r.id for r in store.calls(number="1632960")] == [b, a]
    assert [r.id for r in store.calls(number="234")] == [d]
    assert store.calls(number="%") == []
    assert [r.id for r in store.calls(number="1632960", since=T0 + timedelta(minutes=1))] == [b]
    assert [r.id for r in store.calls(number="1632960", outcome="answered")] == [a]
    with pytest.raises(ValueError):
        store.calls(outcome="nope")


def test_to_json(store):
    call_id = store.start_call(caller(), "sip-1").result(5)
    store.add_event(call_id, "decision", "default", "unknown caller")
    store.finish_call(call_id, "answered").result(5)
    data = store.call(call_id).to_json()
    for key in ("id", "started_at", "ended_at", "caller_number", "caller_raw", "withheld",
                "outcome", "reasons", "sip_call_id", "answered_at", "duration",
                "caller_display", "caller_dialled", "caller_country", "caller_region",
                "caller_type", "caller_description", "caller_valid", "number_source"):
        assert key in data, key
    assert data["reasons"] == ["default: unknown caller"]
    assert data["withheld"] is False and data["outcome"] == "answered"
    assert json.loads(json.dumps(data)) == data


def test_concurrent_writers_all_land(tmp_path):
    path = tmp_path / "calls.db"
    errors: list[BaseException] = []
    ids: list[int] = []
    lock = threading.Lock()
    with Store(path) as s:
        def worker(n: int) -> None:
            try:
                mine = []
                futures = [s.start_call(caller(f"+4416329{n:02d}{i:03d}"), f"{n}-{i}")
                           for i in range(50)]
                for f in futures:
                    call_id = f.result(30)
                    mine.append(call_id)
                    s.add_event(call_id, "decision", "rule", f"thread {n}")
                    s.finish_call(call_id, "answered")
                with lock:
                    ids.extend(mine)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        # readers concurrently with writers
        for _ in range(20):
            s.calls(limit=10)
        for t in threads:
            t.join()
        s.flush(30)
    assert errors == []
    assert len(set(ids)) == 400
    assert raw_rows(path, "SELECT count(*) AS n FROM calls WHERE outcome = 'answered'")[0]["n"] == 400
    assert raw_rows(path, "SELECT count(*) AS n FROM events")[0]["n"] == 400


def test_close_drains_queue(tmp_path):
    path = tmp_path / "calls.db"
    s = Store(path)
    s.start()
    futures = [s.start_call(caller(), str(i)) for i in range(300)]
    s.close()
    assert all(f.done() and f.exception() is None for f in futures)
    s2 = Store(path)
    assert len(s2.calls(limit=1000)) == 300
    s2.close()


def test_write_after_close_fails_via_future(tmp_path, caplog):
    s = Store(tmp_path / "calls.db")
    s.start()
    s.close()
    with caplog.at_level(logging.ERROR, logger="callbot.store"):
        f = s.start_call(caller(), None)
    assert isinstance(f.exception(1), StoreError)
    s.close()  # closing twice is harmless


def test_writes_start_writer_on_demand(tmp_path):
    s = Store(tmp_path / "calls.db")
    try:
        assert isinstance(s.start_call(caller(), None).result(5), int)
    finally:
        s.close()


def test_failing_write_sets_exception_and_writer_survives(store, caplog):
    with caplog.at_level(logging.ERROR, logger="callbot.store"):
        bad = store.add_event(999999, "decision", "x", "y")
        exc = bad.exception(5)
    assert isinstance(exc, StoreError)
    assert "FOREIGN KEY" in str(exc)
    assert any("FOREIGN KEY" in r.getMessage() and r.name == "callbot.store" for r in caplog.records)

    missing = store.finish_call(999999, "answered").exception(5)
    assert isinstance(missing, StoreError) and "999999" in str(missing)
    assert isinstance(store.mark_answered(999999).exception(5), StoreError)

    call_id = store.start_call(caller(), None).result(5)
    store.add_event(call_id, "decision", "ok", "still works").result(5)
    store.finish_call(call_id, "answered").result(5)
    assert store.call(call_id).reasons == ("ok: still works",)
    assert store.events(999999) == []


def test_finalize_interrupted_after_crash(db_path, clock):
    s = Store(db_path, clock=clock)
    s.start()
    open1 = s.start_call(caller(), "a").result(5)
    done = s.start_call(caller(), "b").result(5)
    open2 = s.start_call(caller(), "c").result(5)
    s.add_event(open1, "decision", "default", "unknown")
    s.finish_call(done, "answered").result(5)
    # simulate a crash: no close(), just a new Store on the same file
    clock.advance(60)
    s2 = Store(db_path, clock=clock)
    s2.start()
    try:
        assert {c.id for c in s2.open_calls()} == {open1, open2}
        assert s2.finalize_interrupted() == 2
        assert s2.open_calls() == []
        for call_id in (open1, open2):
            rec = s2.call(call_id)
            assert rec.outcome == "interrupted"
            assert rec.ended_at == "2026-11-22T14:36:01.123Z"
            last = s2.events(call_id)[-1]
            assert (last.kind, last.rule, last.reason) == (
                "hangup", "restart", "bot restarted; call was open when it stopped"
            )
        assert s2.call(done).outcome == "answered"
        assert s2.events(done) == []
        assert s2.finalize_interrupted() == 0
    finally:
        s2.close()
        s.close()


def test_0002_upgrades_a_database_made_by_0001(db_path, monkeypatch):
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:1])
    old = Store(db_path)
    old.start()
    call_id = old.start_call(caller(), "old").result(5)
    old.close()
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    with Store(db_path) as s:
        assert s.applied_migrations() == [name for name, _ in MIGRATIONS]
        record = s.call(call_id)
        assert record.person is None and record.label is None
        assert s.turns(call_id) == []


def test_turns_and_screening_results(store):
    from datetime import datetime, timezone
    from callbot.records import TurnFields

    call_id = store.start_call(caller(), "t").result(5)
    at = datetime(2026, 11, 22, 10, 0, 0, tzinfo=timezone.utc)
    store.add_turn(call_id, TurnFields(seq=2, speaker="caller", started_at=at, duration=2.5, field="identity",
                                       text="mein name ist thomas müller", confidence=0.91,
                                       recording="1/02-identity.wav", end_reason="speech_stopped"))
    store.add_turn(call_id, TurnFields(seq=1, speaker="bot", started_at=at, duration=4.0, prompt_id="ask_identity",
                                       text="Guten Tag"))
    store.update_call(call_id, person="Thomas Müller", company="Vergleichsportal GmbH",
                      transcript="mein name ist thomas müller", label="cold_call", label_reasons="Angebot")
    store.flush()
    turns = store.turns(call_id)
    assert [(t.seq, t.speaker) for t in turns] == [(1, "bot"), (2, "caller")]
    assert turns[1].confidence == pytest.approx(0.91) and turns[1].recording == "1/02-identity.wav"
    data = store.call(call_id).to_json()
    assert data["person"] == "Thomas Müller" and data["company"] == "Vergleichsportal GmbH"
    assert data["label"] == "cold_call"
    with pytest.raises(ValueError):
        store.update_call(call_id, outcome="answered")
    duplicate = store.add_turn(call_id, TurnFields(seq=1, speaker="bot", started_at=at, duration=1.0))
    with pytest.raises(StoreError):
        duplicate.result(5)


def test_leads_join_the_callers_identity(store):
    call_id = store.start_call(caller(), "lead").result(5)
    store.update_call(call_id, person="Thomas Müller", company="Vergleichsportal GmbH")
    store.add_lead(call_id, 7, "contact_details", "thomas müller at vergleichsportal dot de", "1/07-contact.wav")
    store.flush()
    [lead] = store.leads()
    assert (lead.person, lead.company, lead.number) == ("Thomas Müller", "Vergleichsportal GmbH", "+441632960001")
    assert lead.text.startswith("thomas") and lead.recording == "1/07-contact.wav"
    assert lead.to_json()["call_id"] == call_id
    again = store.add_lead(call_id, 7, "contact_details", "dup", None)
    with pytest.raises(StoreError):
        again.result(5)


# -- caller lists (0004_caller_lists) ------------------------------------------


def test_list_entries_table_and_migration_names(store, db_path):
    names = [name for name, _ in MIGRATIONS]
    assert names[3:5] == ["0004_caller_lists", "0005_call_search"]
    cols = {r["name"] for r in raw_rows(db_path, "PRAGMA table_info(list_entries)")}
    assert cols == {"id", "list", "kind", "value", "reason", "source", "created_at", "created_by", "expires_at",
                    "confirmed", "removed_at"}
    indexed = [[c["name"] for c in raw_rows(db_path, f"PRAGMA index_info({i['name']})")]
               for i in raw_rows(db_path, "PRAGMA index_list(list_entries)")]
    assert ["list", "kind", "value"] in indexed
    with pytest.raises(sqlite3.IntegrityError):  # the schema itself refuses an entry without a reason
        conn = sqlite3.connect(db_path)
        try:
            conn.execute("INSERT INTO list_entries (list, kind, value, reason, created_at) "
                         "VALUES ('block', 'number', '+4930123456', '  ', 'x')")
        finally:
            conn.close()


def test_add_list_entry_normalises_and_reads_back(store, clock):
    from callbot.numbers import ListEntryError

    first = store.add_list_entry("block", "number", "030 123456", "  rang 5 times\n selling power ",
                                 created_by="anna", expires_at=T0 + timedelta(days=30)).result(5)
    second = store.add_list_entry("block", "prefix", "030 999*", "range", source="manual").result(5)
    third = store.add_list_entry("allow", "name", " *Müller* ", "family").result(5)
    [a, b, c] = store.list_entries()
    assert (a.id, a.list, a.kind, a.value, a.reason, a.created_by, a.source, a.confirmed) == (
        first, "block", "number", "+4930123456", "rang 5 times selling power", "anna", "manual", True)
    assert a.expires_at == format_time(T0 + timedelta(days=30)) and a.created_at == format_time(T0)
    assert (b.id, b.value) == (second, "+4930999*") and (c.id, c.value) == (third, "*Müller*")
    assert store.list_entry(first) == a and store.list_entry(999) is None
    for bad in [("block", "number", "+49 abc", "x"), ("block", "number", "030123456", " "),
                ("grey", "number", "030123456", "x"), ("block", "regex", "x", "x")]:
        with pytest.raises(ListEntryError):
            store.add_list_entry(*bad)
    with pytest.raises(ValueError, match="'\\+49 abc' is not a phone number"):
        store.add_list_entry("block", "number", "+49 abc", "x")


def test_a_new_entry_replaces_the_current_one_for_the_same_value(store, clock):
    old = store.add_list_entry("block", "number", "+4930123456", "cold caller").result(5)
    clock.advance(60)
    new = store.add_list_entry("allow", "number", "030 123456", "turned out to be a customer").result(5)
    assert [e.id for e in store.list_entries()] == [new]
    history = store.list_entries(include_removed=True)
    assert [(e.id, e.removed_at) for e in history] == [(old, format_time(T0 + timedelta(seconds=60))), (new, None)]
    # A suggestion never replaces the owner's entry.
    assert store.add_list_entry("block", "number", "+4930123456", "s", source="suggested",
                                confirmed=False).result(5) == new
    assert len(store.list_entries(include_removed=True)) == 2
    # Names compare case-insensitively.
    n1 = store.add_list_entry("block", "name", "*Energie*", "a").result(5)
    n2 = store.add_list_entry("block", "name", "*ENERGIE*", "b").result(5)
    assert [e.id for e in store.list_entries() if e.kind == "name"] == [n2] and n1 != n2


def test_remove_by_id_or_value_keeps_history(store):
    a = store.add_list_entry("block", "number", "+4930123456", "x").result(5)
    b = store.add_list_entry("block", "prefix", "+4940*", "y").result(5)
    c = store.add_list_entry("allow", "number", "+4989123456", "z").result(5)
    assert store.remove_list_entry(a).result(5) == 1
    assert store.remove_list_entry(a).result(5) == 0  # already removed
    assert store.remove_list_entry(("block", "040*")).result(5) == 1
    assert store.remove_list_entry(("block", "+4989123456")).result(5) == 0  # it is on the allow list
    assert [e.id for e in store.list_entries()] == [c]
    assert [e.id for e in store.list_entries(include_removed=True)] == [a, b, c]
    with pytest.raises(StoreError, match="no list entry with id 99"):
        store.remove_list_entry(99).result(5)


def test_expiry_and_active_entries(store, clock):
    soon = store.add_list_entry("block", "number", "+4930123456", "x", expires_at=T0 + timedelta(hours=1)).result(5)
    never = store.add_list_entry("block", "number", "+4930123457", "y").result(5)
    pending = store.add_list_entry("block", "number", "+4930123458", "z", source="suggested",
                                   confirmed=False).result(5)
    assert [e.id for e in store.active_list_entries()] == [soon, never]
    assert [e.id for e in store.list_entries()] == [soon, never, pending]
    clock.advance(3601)
    assert [e.id for e in store.active_list_entries()] == [never]
    assert [e.id for e in store.list_entries()] == [never, pending]
    assert [e.id for e in store.list_entries(include_expired=True)] == [soon, never, pending]
    store.confirm_list_entry(pending).result(5)
    assert [e.id for e in store.active_list_entries()] == [never, pending]
    assert store.list_entry(pending).confirmed
    store.remove_list_entry(never).result(5)
    with pytest.raises(StoreError, match="was removed"):
        store.confirm_list_entry(never).result(5)
    with pytest.raises(StoreError, match="no list entry"):
        store.confirm_list_entry(12345).result(5)


def _cold_call(store, number, label="cold_call"):
    call_id = store.start_call(caller(number=number, dialled="0" + number[3:]), None).result(5)
    store.update_call(call_id, label=label)
    return call_id


def test_suggest_blocks_repeated_cold_callers_once(store):
    a1 = _cold_call(store, "+4930111111")
    _cold_call(store, "+4930222222")
    a2 = _cold_call(store, "+4930111111")
    _cold_call(store, "+4930333333", label="genuine")
    _cold_call(store, "+4930333333", label="genuine")
    _cold_call(store, "+4940111111"), _cold_call(store, "+4940111111")  # covered by a range
    store.add_list_entry("block", "prefix", "+4940*", "Hamburg range").result(5)
    _cold_call(store, "+4950111111"), _cold_call(store, "+4950111111")  # declined before
    declined = store.add_list_entry("block", "number", "+4950111111", "s", source="suggested",
                                    confirmed=False).result(5)
    store.remove_list_entry(declined).result(5)
    store.flush()
    [suggestion] = store.suggest_blocks()
    assert (suggestion.list, suggestion.kind, suggestion.value, suggestion.source, suggestion.confirmed) == (
        "block", "number", "+4930111111", "suggested", False)
    assert suggestion.reason == f"classified as cold call in calls {a1}, {a2}"
    assert store.suggest_blocks() == []  # idempotent
    assert [e.value for e in store.active_list_entries()] == ["+4940*"]  # a suggestion blocks nothing yet
    assert len(store.suggest_blocks(min_cold_calls=1)) == 1  # +4930222222
    with pytest.raises(ValueError):
        store.suggest_blocks(0)


# -- search (0005_call_search) -----------------------------------------------------


def _call(store, clock, number="+4930123456", dialled="030123456", display=None, outcome="answered",
          label=None, transcript=None, person=None, company=None, turns=(), advance=60.0):
    clock.advance(advance)
    call_id = store.start_call(caller(number=number, dialled=dialled, display=display), None).result(5)
    fields = {k: v for k, v in dict(label=label, transcript=transcript, person=person, company=company).items() if v}
    if fields:
        store.update_call(call_id, **fields)
    for seq, (speaker, text) in enumerate(turns, start=1):
        store.add_turn(call_id, TurnFields(seq=seq, speaker=speaker, started_at=clock(), duration=1.0,
                                                     text=text, recording=f"{call_id}/{seq:02d}.wav"))
    store.finish_call(call_id, outcome)
    return call_id


@pytest.fixture
def calls_for_search(store, clock):
    ids = {}
    ids["strom"] = _call(store, clock, transcript="wir bieten günstigen Strom", label="cold_call",
                         company="Stromfix GmbH", outcome="cold_call_countered")
    ids["rechnung"] = _call(store, clock, number="+4940555555", dialled="040555555",
                            turns=[("bot", "Wer ist da? Angebot"), ("caller", "Frage zur Rechnung")],
                            person="Anna Schmidt", label="genuine", outcome="message_taken")
    ids["withheld"] = _call(store, clock, number=None, dialled=None, outcome="withheld_rejected")
    ids["display"] = _call(store, clock, display="Energie Vertrieb", outcome="answered", advance=86400)
    store.flush()
    return ids


def test_search_by_text_finds_transcripts_caller_turns_names_and_companies(store, calls_for_search):
    ids = calls_for_search

    def found(**kw):
        return [r.id for r in store.search_calls(**kw)[0]]

    assert found(text="strom") == [ids["strom"]]              # transcript and company
    assert found(text="GUNSTIG") == [ids["strom"]]            # case, accents and prefixes
    assert found(text="rechnung") == [ids["rechnung"]]        # a caller turn
    assert found(text="angebot") == []                        # the bot's own words are not searched
    assert found(text="schmidt anna") == [ids["rechnung"]]    # all words, any order
    assert found(text="energie") == [ids["display"]]          # the name the caller showed
    assert found(text="strom anna") == []
    assert found(text="  ") == found()                        # blank = no text filter
    assert found(text="!!!") == []
    assert found(text='"strom" OR x*') == []                  # FTS syntax is not interpreted


def test_search_filters(store, calls_for_search, clock):
    ids = calls_for_search

    def found(**kw):
        return [r.id for r in store.search_calls(**kw)[0]]

    assert found() == [ids["display"], ids["withheld"], ids["rechnung"], ids["strom"]]
    assert found(outcome="message_taken") == [ids["rechnung"]]
    assert found(label="cold_call") == [ids["strom"]]
    assert found(number="040 555555") == [ids["rechnung"]]    # any form of a full number
    assert found(number="+4940555555") == [ids["rechnung"]]
    assert found(number="040555555") == [ids["rechnung"]]     # as received
    assert found(number="+4930") == [ids["display"], ids["strom"]]  # a prefix
    assert found(number="030 12") == [ids["display"], ids["strom"]]
    day2 = T0 + timedelta(hours=12)
    assert found(since=day2) == [ids["display"]]
    assert found(until=day2) == [ids["withheld"], ids["rechnung"], ids["strom"]]
    assert found(since=format_time(day2)) == [ids["display"]]
    assert found(text="strom", number="+4930123456") == [ids["strom"]]
    assert found(text="strom", number="+4940555555") == []
    assert found(text="rechnung", number="+4940") == [ids["rechnung"]]  # words and a number prefix
    assert found(text="rechnung", number="+4930") == []
    assert found(text="strom", outcome="answered") == []
    with pytest.raises(ValueError):
        store.search_calls(outcome="nonsense")
    with pytest.raises(ValueError):
        store.search_calls(page=0)
    with pytest.raises(ValueError):
        store.search_calls(per_page=501)


def test_search_pages_and_totals(store, clock, monkeypatch):
    ids = [_call(store, clock, transcript=f"anruf nummer {i}") for i in range(7)]
    store.flush()
    page1, total = store.search_calls(per_page=3)
    assert [r.id for r in page1] == ids[::-1][:3] and total == 7
    page3, total = store.search_calls(per_page=3, page=3)
    assert [r.id for r in page3] == [ids[0]] and total == 7
    assert store.search_calls(per_page=3, page=4) == ([], 7)
    text_page2, total = store.search_calls(text="anruf", per_page=3, page=2)
    assert [r.id for r in text_page2] == ids[::-1][3:6] and total == 7
    monkeypatch.setattr(search, "SEARCH_COUNT_CAP", 5)
    assert store.search_calls(per_page=3)[1] == -1            # "5+": more than the cap
    assert store.search_calls(text="anruf", per_page=3)[1] == -1
    assert store.search_calls(per_page=10)[1] == 7            # one short page: exact
    assert isinstance(page1[0], CallRecord)


def test_search_index_follows_update_call_and_add_turn(store, clock):
    call_id = _call(store, clock)
    store.update_call(call_id, transcript="erste fassung")
    store.flush()
    assert [r.id for r in store.search_calls(text="fassung")[0]] == [call_id]
    store.update_call(call_id, transcript="zweite version", person="Max Mustermann")
    store.add_turn(call_id, TurnFields(seq=9, speaker="caller", started_at=clock(), duration=1.0,
                                                 text="Photovoltaik"))
    store.add_turn(call_id, TurnFields(seq=10, speaker="bot", started_at=clock(), duration=1.0,
                                                 text="Sonderangebot"))
    store.flush()
    assert store.search_calls(text="erste")[1] == 0
    for word in ("zweite", "mustermann", "photovoltaik"):
        assert [r.id for r in store.search_calls(text=word)[0]] == [call_id], word
    assert store.search_calls(text="sonderangebot")[1] == 0


def test_caller_timeline_is_oldest_first_in_any_number_form(store, clock):
    first = _call(store, clock)
    _call(store, clock, number="+4940555555", dialled="040555555")
    second = _call(store, clock, number=None, dialled="030123456")  # not valid at the time: as received only
    third = _call(store, clock)
    for form in ("+4930123456", "030 123456", "030123456"):
        assert [r.id for r in store.caller_timeline(form)] == [first, second, third]
    assert store.caller_timeline("+4989000000") == []


def test_bulk_insert_calls_with_children_and_search(store):
    rows = ({"started_at": T0 + timedelta(minutes=i), "outcome": "answered", "caller_number": f"+49301234{i:02d}",
             "transcript": f"bulk anruf {i}", "withheld": False,
             "events": [{"at": T0, "kind": "decision", "rule": "unknown", "reason": "screening"}],
             "turns": [{"seq": 1, "speaker": "caller", "started_at": T0, "duration": 1.5,
                        "text": f"solaranlage {i}", "recording": f"{i}/01.wav"}],
             "leads": [{"turn_seq": 1, "field": "contact", "created_at": T0, "text": "ruf mich an"}]}
            for i in range(20))
    assert store.bulk_insert_calls(rows).result(30) == 20
    records, total = store.search_calls(text="solaranlage", per_page=5)
    assert total == 20 and records[0].reasons == ("unknown: screening",)
    assert store.search_calls(text="bulk")[1] == 20
    assert len(store.turns(records[0].id)) == 1 and len(store.call_leads(records[0].id)) == 1
    # The triggers are back: ordinary writes still keep the index in sync.
    call_id = store.start_call(caller(), None).result(5)
    store.update_call(call_id, transcript="danach")
    store.flush()
    assert store.search_calls(text="danach")[1] == 1
    # A bad row rolls the whole batch back.
    bad = [{"started_at": T0, "transcript": "rollback"}, {"outcome": "answered"}]
    with pytest.raises(StoreError, match="no started_at"):
        store.bulk_insert_calls(bad).result(5)
    with pytest.raises(StoreError, match="unknown columns"):
        store.bulk_insert_calls([{"started_at": T0, "colour": "red"}]).result(5)
    assert store.search_calls(text="rollback")[1] == 0
    assert len(store.calls(limit=100)) == 21


def test_0005_indexes_calls_made_before_it(db_path, monkeypatch):
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:3])
    with Store(db_path) as old:
        call_id = old.start_call(caller(), "old").result(5)
        old.update_call(call_id, transcript="altes gespräch")
        old.add_turn(call_id, TurnFields(seq=1, speaker="caller", started_at=T0, duration=1.0,
                                                   text="windkraft"))
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    with Store(db_path) as s:
        assert [r.id for r in s.search_calls(text="gesprach windkraft")[0]] == [call_id]
        assert s.list_entries() == []


def test_search_pages_by_index_not_by_sorting(store, db_path):
    plans = {}
    queries = {
        "all": ("SELECT * FROM calls ORDER BY started_at DESC, id DESC LIMIT 50", []),
        "outcome": ("SELECT * FROM calls WHERE outcome = ? ORDER BY started_at DESC, id DESC LIMIT 50", ["x"]),
        "label": ("SELECT * FROM calls WHERE label = ? ORDER BY started_at DESC, id DESC LIMIT 50", ["x"]),
        "text": ("SELECT calls.* FROM calls_fts CROSS JOIN calls ON calls.id = calls_fts.rowid "
                 "WHERE calls_fts MATCH ? ORDER BY calls_fts.rowid DESC LIMIT 50", ['"x"*']),
    }
    for name, (sql, params) in queries.items():
        plans[name] = " | ".join(r["detail"] for r in raw_rows(db_path, "EXPLAIN QUERY PLAN " + sql, params))
    for name, plan in plans.items():
        assert "TEMP B-TREE" not in plan, (name, plan)


# -- data protection writes ----------------------------------------------------------


def test_erase_call_content_keeps_the_call_and_its_trail(store, clock):
    call_id = _call(store, clock, transcript="geheim", person="Max", turns=[("caller", "geheim"), ("bot", "Hallo")])
    store.add_event(call_id, "decision", "unknown", "screening")
    store.add_lead(call_id, 1, "contact", "max at example", f"{call_id}/01.wav")
    store.flush()
    assert store.prunable_calls(T0 + timedelta(days=1)) == [call_id]
    assert store.recordings_of([call_id]) == [(call_id, f"{call_id}/01.wav"), (call_id, f"{call_id}/02.wav")]
    counts = store.erase_call_content([call_id]).result(5)
    assert counts == EraseCounts(calls=1, turns=2, leads=1)
    record = store.call(call_id)
    assert record.transcript is None and record.person == "Max" and record.reasons == ("unknown: screening",)
    assert all(t.text is None and t.recording is None for t in store.turns(call_id))
    assert [(lead.text, lead.recording) for lead in store.call_leads(call_id)] == [(None, None)]
    assert store.search_calls(text="geheim")[1] == 0
    assert store.prunable_calls(T0 + timedelta(days=1)) == []
    assert store.prunable_calls(T0 + timedelta(days=1), content_only=False) == [call_id]
    assert store.erase_call_content([call_id]).result(5) == EraseCounts()


def test_delete_calls_removes_children_first(store, clock):
    keep = _call(store, clock, transcript="bleibt")
    gone = _call(store, clock, transcript="weg", turns=[("caller", "weg")])
    store.add_event(gone, "decision", "unknown", "x")
    store.add_lead(gone, 1, "contact", "weg", None)
    store.flush()
    counts = store.delete_calls([gone]).result(5)
    assert counts == EraseCounts(calls=1, events=1, turns=1, leads=1)
    assert store.call(gone) is None and store.call(keep) is not None
    assert store.search_calls(text="weg")[1] == 0 and store.search_calls(text="bleibt")[1] == 1
    store.optimize_search().result(5)
    assert store.call_ids_for_number("+4930123456") == [keep]


def test_list_entries_of_a_number_can_be_listed_and_erased(store):
    store.add_list_entry("block", "number", "+4930123456", "x").result(5)
    store.add_list_entry("allow", "number", "030123456", "y").result(5)  # replaces the first
    store.add_list_entry("block", "prefix", "+4930*", "range").result(5)
    assert [e.list for e in store.list_entries_for_number("030 123456")] == ["block", "allow"]
    assert store.delete_list_entries_for_number("+4930123456").result(5) == 2
    assert [e.kind for e in store.list_entries(include_removed=True)] == ["prefix"]


def test_a_late_transcript_updates_the_turn_and_the_search(tmp_path):
    from datetime import datetime, timezone

    store = Store(tmp_path / "calls.db")
    store.start()
    try:
        call_id = store.start_call(CallerFields("<sip:1@x>", None, "+4930123", "030123", 49, "DE", "fixed_line",
                                                None, True, False, "from"), "cid-1").result(5)
        store.add_turn(call_id, TurnFields(1, "caller", datetime.now(timezone.utc), 1.5, field="purpose",
                                           recording="1/01-purpose.wav")).result(5)
        assert store.search_calls(text="stromtarif")[1] == 0
        store.set_turn_text(call_id, 1, "es geht um einen stromtarif", 0.8).result(5)
        [turn] = store.turns(call_id)
        assert (turn.text, turn.confidence, turn.recording) == ("es geht um einen stromtarif", 0.8, "1/01-purpose.wav")
        assert store.search_calls(text="stromtarif")[1] == 1
    finally:
        store.close()


def test_invalid_utf8_written_by_another_program_is_read_with_replacement_characters(store, db_path):
    """A row another tool wrote with broken UTF-8 must not crash the call list (CLI, web)."""
    call_id = store.start_call(caller(), "sip-bad-bytes").call_id
    store.flush()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE calls SET caller_display = CAST(X'4D61FF6965' AS TEXT) WHERE id = ?", (call_id,))
    [row] = store.calls(limit=5)
    assert row.caller_display == "Ma\ufffdie"


def test_the_turns_of_several_calls_come_in_one_read(store):
    first = store.start_call(caller(), "a").call_id
    second = store.start_call(caller(), "b").call_id
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    for call_id, seqs in ((first, (1, 2)), (second, (1,))):
        for seq in seqs:
            store.add_turn(call_id, TurnFields(seq=seq, speaker="caller", started_at=t0, duration=1.0,
                                               field="purpose", text=f"{call_id}-{seq}"))
    store.flush()
    got = store.turns_of([second, first, 999])
    assert [t.text for t in got[first]] == [f"{first}-1", f"{first}-2"]
    assert [t.text for t in got[second]] == [f"{second}-1"] and got[999] == []
