"""Tests for callbot.privacy: retention (prune), erasure (forget) and access (export)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from callbot import privacy
from callbot.errors import CallbotError
from callbot.records import CallerFields, TurnFields
from callbot.store.store import Store

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
NUMBER = "+4930123456"


class Clock:
    def __init__(self):
        self.now = T0
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            return self.now


def fields(number: str | None = NUMBER, dialled: str | None = "030123456") -> CallerFields:
    return CallerFields(raw=f"<sip:{dialled}@fritz.box>", display="Büro", number=number, dialled=dialled,
                        country=49, region="DE", type="fixed_line", description="Berlin", valid=True,
                        withheld=False, number_source="From")


@pytest.fixture
def env(tmp_path):
    clock = Clock()
    store = Store(tmp_path / "calls.db", clock=clock)
    store.start()
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    yield store, recordings, clock
    store.close()


def add_call(store, recordings, clock, *, at, number=NUMBER, dialled="030123456", said="ich verkaufe Strom",
             lead=True):
    clock.now = at
    call_id = store.start_call(fields(number, dialled), None).result(5)
    store.add_event(call_id, "decision", "unknown", "screening")
    store.add_turn(call_id, TurnFields(seq=1, speaker="bot", started_at=at, duration=2.0, prompt_id="greeting",
                                       text="Guten Tag"))
    paths = []
    for seq in (2, 3):
        relative = f"{call_id}/{seq:02d}-answer.wav"
        (recordings / str(call_id)).mkdir(exist_ok=True)
        (recordings / relative).write_bytes(b"RIFF....WAVE")
        paths.append(relative)
        store.add_turn(call_id, TurnFields(seq=seq, speaker="caller", started_at=at, duration=3.0, field="purpose",
                                           text=f"{said} {seq}", recording=relative))
    if lead:
        store.add_lead(call_id, 3, "contact", "ruf mich an unter null drei null", paths[-1])
    store.update_call(call_id, transcript=said, person="Max Mustermann", company="Stromfix", label="cold_call")
    store.finish_call(call_id, "cold_call_countered")
    store.flush()
    return call_id, paths


# -- prune -----------------------------------------------------------------------------


def test_prune_clears_old_content_and_keeps_the_calls(env):
    store, recordings, clock = env
    old, old_paths = add_call(store, recordings, clock, at=T0)
    new, new_paths = add_call(store, recordings, clock, at=T0 + timedelta(days=80))
    now = T0 + timedelta(days=100)
    report = privacy.prune(store, recordings, 90, now)
    assert (report.calls, report.transcripts, report.turns, report.leads, report.recordings, report.missing) == (
        1, 1, 3, 1, 2, 0)
    assert report.cutoff == "2026-01-11T09:00:00.000Z" and report.problems == ()
    assert not any((recordings / p).exists() for p in old_paths)
    assert not (recordings / str(old)).exists()  # the emptied call folder goes too
    assert all((recordings / p).exists() for p in new_paths)
    record = store.call(old)
    assert record.transcript is None and record.outcome == "cold_call_countered"
    assert record.reasons == ("unknown: screening",) and record.person == "Max Mustermann"
    assert all(t.text is None and t.recording is None for t in store.turns(old))
    assert [(lead.text, lead.recording) for lead in store.call_leads(old)] == [(None, None)]
    assert store.call(new).transcript == "ich verkaufe Strom"
    assert [r.id for r in store.search_calls(text="verkaufe")[0]] == [new]
    again = privacy.prune(store, recordings, 90, now)  # safe to run twice
    assert (again.calls, again.turns, again.recordings) == (0, 0, 0)


def test_prune_with_keep_call_rows_false_deletes_old_calls(env):
    store, recordings, clock = env
    old, _ = add_call(store, recordings, clock, at=T0)
    new, _ = add_call(store, recordings, clock, at=T0 + timedelta(days=80))
    report = privacy.prune(store, recordings, 90, T0 + timedelta(days=100), keep_call_rows=False)
    assert (report.calls, report.events, report.turns, report.leads, report.recordings) == (1, 1, 3, 1, 2)
    assert store.call(old) is None and store.call(new) is not None
    assert store.events(old) == [] and store.turns(old) == []


def test_prune_zero_days_keeps_everything(env):
    store, recordings, clock = env
    call_id, paths = add_call(store, recordings, clock, at=T0)
    report = privacy.prune(store, recordings, 0, T0 + timedelta(days=1000))
    assert report.cutoff is None and report.calls == 0
    assert store.call(call_id).transcript and all((recordings / p).exists() for p in paths)
    with pytest.raises(ValueError):
        privacy.prune(store, recordings, -1, T0)


def test_prune_batches_and_counts_missing_files(env):
    store, recordings, clock = env
    ids = [add_call(store, recordings, clock, at=T0 + timedelta(minutes=i), lead=False)[0] for i in range(5)]
    (recordings / f"{ids[0]}/02-answer.wav").unlink()
    report = privacy.prune(store, recordings, 1, T0 + timedelta(days=2), batch=2)
    assert report.calls == 5 and report.recordings == 9 and report.missing == 1


def test_a_recording_that_cannot_be_deleted_keeps_its_call_for_the_next_run(env, monkeypatch):
    store, recordings, clock = env
    stuck, _ = add_call(store, recordings, clock, at=T0)
    fine, _ = add_call(store, recordings, clock, at=T0 + timedelta(hours=1))
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        if self.parent.name == str(stuck):
            raise PermissionError(13, "Permission denied")
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    report = privacy.prune(store, recordings, 1, T0 + timedelta(days=2))
    assert report.calls == 1 and len(report.problems) == 2 and "cannot delete" in report.problems[0]
    assert store.call(stuck).transcript is not None and store.call(fine).transcript is None
    monkeypatch.setattr(Path, "unlink", real_unlink)
    retry = privacy.prune(store, recordings, 1, T0 + timedelta(days=2))
    assert retry.calls == 1 and retry.recordings == 2 and store.call(stuck).transcript is None


def test_recording_paths_outside_the_folder_are_never_touched(env, tmp_path):
    store, recordings, clock = env
    outside = tmp_path / "precious.wav"
    outside.write_bytes(b"x")
    clock.now = T0
    call_id = store.start_call(fields(), None).result(5)
    store.add_turn(call_id, TurnFields(seq=1, speaker="caller", started_at=T0, duration=1.0, text="x",
                                       recording="../precious.wav"))
    store.flush()
    report = privacy.prune(store, recordings, 1, T0 + timedelta(days=2))
    assert outside.exists() and "outside" in report.problems[0]
    assert store.turns(call_id)[0].recording is None


# -- forget ------------------------------------------------------------------------------


def test_forget_erases_every_call_and_list_entry_of_a_number(env):
    store, recordings, clock = env
    mine = [add_call(store, recordings, clock, at=T0)[0],
            add_call(store, recordings, clock, at=T0 + timedelta(days=1), number=None, dialled="030123456")[0]]
    other, other_paths = add_call(store, recordings, clock, at=T0 + timedelta(days=2), number="+4940555555",
                                  dialled="040555555", said="ganz anders")
    store.add_list_entry("block", "number", NUMBER, "cold caller").result(5)
    store.add_list_entry("block", "prefix", "+4930*", "Berlin").result(5)
    report = privacy.forget(store, recordings, "030 123456")
    assert (report.calls, report.events, report.turns, report.leads, report.recordings, report.list_entries) == (
        2, 2, 6, 2, 4, 1)
    assert report.found and report.problems == ()
    assert all(store.call(i) is None for i in mine)
    assert not any((recordings / str(i)).exists() for i in mine)
    assert store.call(other) is not None and all((recordings / p).exists() for p in other_paths)
    assert [e.kind for e in store.list_entries(include_removed=True)] == ["prefix"]
    assert store.search_calls(text="verkaufe")[1] == 0 and store.search_calls(text="anders")[1] == 1
    nothing = privacy.forget(store, recordings, NUMBER)
    assert not nothing.found and nothing.calls == 0


# -- export -------------------------------------------------------------------------------


def test_export_writes_everything_about_a_number(env, tmp_path):
    store, recordings, clock = env
    call_id, paths = add_call(store, recordings, clock, at=T0)
    add_call(store, recordings, clock, at=T0 + timedelta(days=1), number="+4940555555", dialled="040555555")
    (recordings / paths[0]).unlink()
    store.add_list_entry("block", "number", NUMBER, "cold caller", created_by="anna").result(5)
    out = tmp_path / "export"
    path = privacy.export(store, recordings, "+49 30 123456", out)
    assert path == out / "calls.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["number"] == "+49 30 123456"
    [call] = document["calls"]
    assert call["id"] == call_id and call["transcript"] == "ich verkaufe Strom"
    assert [e["rule"] for e in call["events"]] == ["unknown"]
    assert [t["seq"] for t in call["turns"]] == [1, 2, 3]
    assert call["leads"][0]["text"].startswith("ruf mich an")
    assert [e["reason"] for e in document["list_entries"]] == ["cold caller"]
    assert document["recordings"] == {"folder": "recordings", "copied": [paths[1]], "missing": [paths[0]]}
    assert (out / "recordings" / paths[1]).read_bytes() == b"RIFF....WAVE"


def test_export_refuses_a_folder_that_is_not_empty(env, tmp_path):
    store, recordings, _ = env
    out = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(CallbotError, match="not empty"):
        privacy.export(store, recordings, NUMBER, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    document = json.loads(privacy.export(store, recordings, NUMBER, empty).read_text())
    assert document["calls"] == [] and document["list_entries"] == []
