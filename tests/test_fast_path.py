"""Nothing but parsing and the policy decision stands before the 200 OK (issue #12, #11).

* the call id comes from the process's own counter, not from the database;
* one process inserts calls into a file: a second bot is refused, the CLI is not;
* the caller lists come from an in-memory index that follows changes made by
  other processes within its poll interval and survives a failing database;
* a call is answered while the database writer is stuck.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from callbot import lists
from callbot.errors import StoreError
from callbot.records import CallerFields
from callbot.store.listindex import ListIndex
from callbot.store.store import Store
from callbot.telephony.democaller import DemoCaller
from tests.conftest import REPO, loopback_config, running_bot

NUMBER = "+493012345678"


def fields(number: str | None = NUMBER) -> CallerFields:
    return CallerFields(raw=f"<sip:{number}@pbx>", display=None, number=number, dialled=number, country=49,
                        region="DE", type="fixed_line", description="Berlin", valid=True, withheld=False,
                        number_source="from")


def stuck_writer(store: Store) -> threading.Event:
    """Block the store's writer thread until the returned event is set."""
    release = threading.Event()
    started = threading.Event()

    def job(db):
        started.set()
        release.wait(30)

    store._submit("stuck", job)
    assert started.wait(5)
    return release


def in_other_process(code: str, db) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=60,
                          cwd=REPO)


def test_start_call_hands_out_the_id_without_waiting_for_the_database(tmp_path):
    with Store(tmp_path / "calls.db") as store:
        first = store.start_call(fields(), "a").result(5)
        release = stuck_writer(store)
        try:
            t0 = time.monotonic()
            second, third = store.start_call(fields(), "b"), store.start_call(fields(), "c")
            assert time.monotonic() - t0 < 0.1
            assert (second.call_id, third.call_id) == (first + 1, first + 2)
            assert not second.done()  # only queued
        finally:
            release.set()
        assert (second.result(5), third.result(5)) == (first + 1, first + 2)
        store.add_event(third.call_id, "decision", "default", "unknown caller").result(5)
        assert store.call(third.call_id).sip_call_id == "c"


def test_ids_are_never_reused_after_deletion_or_a_restart(tmp_path):
    path = tmp_path / "calls.db"
    with Store(path) as store:
        ids = [store.start_call(fields(), str(i)).result(5) for i in range(3)]
        store.delete_calls(ids[1:]).result(5)
    with Store(path) as store:
        assert store.start_call(fields(), "again").result(5) == ids[-1] + 1
        assert store.bulk_insert_calls([{"started_at": "2026-01-01T00:00:00.000Z"}]).result(5) == 1
        assert store.start_call(fields(), "after import").call_id == ids[-1] + 3


def test_two_stores_of_one_process_share_the_counter(tmp_path):
    path = tmp_path / "calls.db"
    with Store(path) as a, Store(path) as b:
        got = {a.start_call(fields(), "a").call_id, b.start_call(fields(), "b").call_id,
               a.start_call(fields(), "c").call_id}
        a.flush()
        b.flush()
    assert len(got) == 3 and len(Store(path).calls(limit=10)) == 3


def test_a_second_bot_on_the_same_database_is_refused_but_the_cli_is_not(tmp_path):
    path = tmp_path / "calls.db"
    with Store(path) as bot:
        bot.claim_call_ids()
        second_bot = in_other_process(
            "import sys\nfrom callbot.store.store import Store\ns = Store(sys.argv[1])\n"
            "try:\n    s.claim_call_ids()\nexcept Exception as e:\n    print(type(e).__name__, e)\n", path)
        assert "StoreError" in second_bot.stdout and "another process" in second_bot.stdout, second_bot
        cli = in_other_process(
            "import sys\nfrom callbot.store.store import Store\nwith Store(sys.argv[1]) as s:\n"
            "    s.add_list_entry('block', 'number', '030 12345678', 'cold caller').result(5)\n"
            "    print(len(s.calls()))\n", path)
        assert cli.returncode == 0 and cli.stdout.strip() == "0", cli
    # Once the bot closed its store, another process may take calls.
    after = in_other_process("import sys\nfrom callbot.store.store import Store\n"
                             "with Store(sys.argv[1]) as s:\n    s.claim_call_ids()\n",
                             path)
    assert after.returncode == 0, after.stderr


def test_the_list_index_follows_another_connection_within_its_poll_interval(tmp_path):
    path = tmp_path / "calls.db"
    with Store(path) as store:
        store.add_list_entry("allow", "number", "+4940111", "Steuerberater").result(5)
        index = ListIndex(store, interval=0.2)
        index.start()
        try:
            assert [e.value for e in index.entries()] == ["+4940111"]
            with Store(path) as cli:  # its own connection and writer, as `callbot lists add` has
                cli.add_list_entry("block", "number", NUMBER, "cold caller").result(5)
            deadline = time.monotonic() + 2
            while len(index.entries()) < 2:
                assert time.monotonic() < deadline, "the index did not pick up the new entry"
                time.sleep(0.02)
            assert lists.match(index.entries(), NUMBER, None).list == "block"
            # Changes through this process's own store are in the index before the future answers.
            store.remove_list_entry(("block", NUMBER)).result(5)
            assert lists.match(index.entries(), NUMBER, None) is None
        finally:
            index.stop()


def test_an_entry_that_expires_stops_matching_without_a_reload(tmp_path):
    with Store(tmp_path / "calls.db") as store:
        soon = datetime.now(timezone.utc) + timedelta(minutes=5)
        store.add_list_entry("block", "number", NUMBER, "for a while", expires_at=soon).result(5)
        index = ListIndex(store, interval=60)
        index.start()
        try:
            assert lists.match(index.entries(), NUMBER, None) is not None
            assert lists.match(index.entries(), NUMBER, None, now=soon + timedelta(seconds=1)) is None
        finally:
            index.stop()


def test_a_failing_database_keeps_the_last_index_and_is_logged_once(tmp_path, monkeypatch, caplog):
    with Store(tmp_path / "calls.db") as store:
        store.add_list_entry("block", "number", NUMBER, "cold caller").result(5)
        index = ListIndex(store, interval=60)
        index.start()
        try:
            def locked(known=None):
                raise StoreError("cannot read the call log: database is locked")

            monkeypatch.setattr(store, "list_snapshot", locked)
            with caplog.at_level(logging.INFO, logger="callbot.store"):
                assert [index.refresh() for _ in range(3)] == [False, False, False]
                assert [e.value for e in index.entries()] == [NUMBER]
                warnings = [r for r in caplog.records if "could not be re-read" in r.getMessage()]
                assert len(warnings) == 1 and "database is locked" in warnings[0].getMessage()
                monkeypatch.undo()
                with Store(tmp_path / "calls.db") as cli:
                    cli.add_list_entry("allow", "number", "+4940111", "Steuerberater").result(5)
                assert index.refresh() is True
            assert len(index.entries()) == 2
            assert "caller lists readable again" in caplog.text
        finally:
            index.stop()


def test_a_call_is_answered_while_the_database_writer_is_stuck(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts)
    config = replace(config, sip=replace(config.sip, answer_delay=0))
    with running_bot(config) as bot:
        bot.store.add_list_entry("block", "number", NUMBER, "cold caller").result(5)
        release = stuck_writer(bot.store)
        reads = []
        original = bot.store._reader
        monkey = lambda: (reads.append(threading.current_thread().name), original())[1]  # noqa: E731
        bot.store._reader = monkey
        try:
            report = DemoCaller("127.0.0.1", config.sip.local_port).call("<sip:03012345678@fritz.box>",
                                                                        timeout=20)
        finally:
            release.set()
            bot.store._reader = original
        assert report.answer_latency is not None and report.answer_latency < 0.5, report
        bot.store.flush()
        row = bot.store.calls(limit=1)[0]
    assert row.outcome == "blocked"  # decided from the in-memory lists while SQLite was unavailable
    call_threads = [name for name in reads if name not in ("callbot-lists", "callbot-retention")]
    assert not call_threads, call_threads
