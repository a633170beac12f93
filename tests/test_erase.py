"""Erase really erases (issue #11, requirement 8) and retention removes whole call folders
(requirement 2): real calls into a running bot on loopback, then `callbot forget` / `prune`,
then the raw bytes of the call log, its -wal file and the recordings folder are searched."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from callbot import privacy
from callbot.cli.main import main
from callbot.records import CallerFields, TurnFields
from callbot.store.store import Store
from callbot.telephony.democaller import DemoCaller
from tests.conftest import loopback_config, tone
from tests.fakes import CannedRecognizer

NUMBER = "+4930555123"
OTHER = "+4940777888"
#: Words only the erased caller says (the recognizer hears them), and only the kept one.
SECRET_WORDS = ("Zylinderkopfdichtung", "Quarkstrudelfabrik")
KEPT_WORDS = ("Rhabarberkompott",)
SECRET_NAME = "Erwin Loeschmich"


def config_file(tmp_path: Path, config) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[storage]\ndatabase = "{config.storage.database}"\nrecordings = "{config.storage.recordings}"\n'
                    f'[prompts]\ndir = "{config.prompts.dir}"\nlanguage = "de"\n', encoding="utf-8")
    return path


def wait_finished(store: Store, count: int, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        store.flush()
        rows = store.calls(limit=50)
        if len(rows) >= count and all(r.outcome for r in rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"expected {count} finished calls, got {store.calls(limit=50)}")


def raw_bytes(*paths: Path) -> bytes:
    """Every byte of these files, and of every file under these folders, lower-cased."""
    blob = bytearray()
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []
        for file in files:
            blob += file.read_bytes()
    return bytes(blob).lower()


def leftovers(blob: bytes, values) -> list[str]:
    return [v for v in values if v.lower().encode() in blob]


@pytest.fixture
def bot_setup(tmp_path, short_prompts):
    config = loopback_config(tmp_path, short_prompts, unknown="screen")
    config = replace(config, calls=replace(config.calls, keep_withheld_evidence=True))
    return config, config_file(tmp_path, config)


def test_forget_leaves_no_trace_in_the_database_the_wal_or_the_recordings(bot_setup):
    from callbot.app import Bot

    config, config_path = bot_setup
    speech = tone(1.2, 300, dbfs=-12)
    texts = (f"hier ist {SECRET_NAME} von der {SECRET_WORDS[0]}", f"es geht um die {SECRET_WORDS[1]}",
             f"hier ist Klara Behalt vom {KEPT_WORDS[0]}", "es geht um meine rechnung")
    bot = Bot(config, recognizer=CannedRecognizer(*texts))
    bot.start()
    try:
        caller = DemoCaller("127.0.0.1", config.sip.local_port)
        caller.call(f'"{SECRET_NAME}" <sip:030555123@fritz.box>', answers=(speech, speech), timeout=30)
        caller.call("<sip:040777888@fritz.box>", answers=(speech, speech), timeout=30)
        # The same person, number withheld; the bot keeps the network's asserted identity.
        caller.call('"Anonymous" <sip:anonymous@anonymous.invalid>', timeout=30,
                    extra_headers=("Privacy: id", f"P-Asserted-Identity: <sip:{NUMBER}@carrier.example;user=phone>"))
        rows = wait_finished(bot.store, 3)
        erased = [r for r in rows if r.caller_number == NUMBER or r.withheld]
        [kept] = [r for r in rows if r.caller_number == OTHER]
        assert len(erased) == 2 and any(r.withheld_evidence for r in erased)
        call_ids = [r.sip_call_id for r in erased]
        recordings = Path(config.storage.recordings)
        mine = next(r for r in erased if not r.withheld)
        assert any((recordings / str(mine.id)).glob("*.wav"))
        # a WAV no row points to (a crash before the turn was logged) belongs to the call as well
        (recordings / str(mine.id) / "99-orphan.wav").write_bytes(b"RIFF" + SECRET_WORDS[0].encode())
        database = Path(config.storage.database)
        wal = Path(f"{database}-wal")
        secrets = [NUMBER, "030555123", SECRET_NAME, *SECRET_WORDS, *call_ids]
        before = raw_bytes(database, wal, recordings)
        assert set(leftovers(before, secrets)) == set(secrets)  # the search below can see them

        # forget, while the bot runs (it keeps its connections, and so the -wal file, open)
        result = CliRunner().invoke(main, ["forget", "030 555123", "--yes", "--config", str(config_path)])
        assert result.exit_code == 0, result.output
        assert "erased 2 call(s)" in result.output
        assert wal.exists() and wal.stat().st_size == 0
        after = raw_bytes(database, wal, recordings)
        assert leftovers(after, secrets) == []
        assert not (recordings / str(mine.id)).exists()
        assert all(bot.store.call(r.id) is None for r in erased)
        # the other caller is untouched
        assert bot.store.call(kept.id).transcript and leftovers(after, [OTHER, *KEPT_WORDS]) == [OTHER, *KEPT_WORDS]
        assert [r.id for r in bot.store.search_calls(text=KEPT_WORDS[0])[0]] == [kept.id]
    finally:
        bot.stop()


def test_a_busy_wal_is_reported_and_forget_exits_non_zero(bot_setup, tmp_path):
    config, config_path = bot_setup
    store = Store(config.storage.database)
    store.start()
    fields = CallerFields(raw=f"<sip:{NUMBER}@x>", display=None, number=NUMBER, dialled=NUMBER, country=49,
                          region="DE", type=None, description=None, valid=True, withheld=False, number_source="From")
    store.start_call(fields, "busy@x").result(5)
    store.flush()
    # another process reading: an open read transaction pins the WAL
    reader = sqlite3.connect(str(config.storage.database))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM calls").fetchone()
    try:
        report = privacy.forget(store, config.storage.recordings, NUMBER)
        assert report.calls == 1 and report.wal_truncated is False
        store.start_call(fields, "busy2@x").result(5)
        store.flush()
        result = CliRunner().invoke(main, ["forget", NUMBER, "--yes", "--config", str(config_path)])
        assert result.exit_code == 1 and "-wal" in result.output, result.output
    finally:
        reader.close()
        store.close()
    result = CliRunner().invoke(main, ["forget", NUMBER, "--yes", "--config", str(config_path)])
    assert result.exit_code == 0, result.output  # nothing left, and the -wal file could be emptied now


# -- retention: whole call folders ------------------------------------------------------------

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)


def _old_call(store: Store, recordings: Path, *, orphan: bool) -> tuple[int, Path]:
    fields = CallerFields(raw="<sip:030111@x>", display=None, number="+4930111", dialled="030111", country=49,
                          region="DE", type=None, description=None, valid=True, withheld=False, number_source="From")
    call_id = store.start_call(fields, None).result(5)
    folder = recordings / str(call_id)
    folder.mkdir(parents=True)
    (folder / "02-identity.wav").write_bytes(b"RIFF")
    store.add_turn(call_id, TurnFields(2, "caller", T0, 1.0, field="identity", text="hallo",
                                       recording=f"{call_id}/02-identity.wav"))
    if orphan:
        (folder / "03-purpose.wav").write_bytes(b"RIFF")  # written, then the bot died before the row
    store.update_call(call_id, transcript="hallo")
    store.finish_call(call_id, "message_taken")
    store.flush()
    return call_id, folder


@pytest.mark.parametrize("keep_rows", [True, False])
def test_prune_removes_the_whole_call_folder_with_orphan_wavs(tmp_path, keep_rows):
    recordings = tmp_path / "rec"
    with Store(tmp_path / "calls.db", clock=lambda: T0) as store:
        call_id, folder = _old_call(store, recordings, orphan=True)
        report = privacy.prune(store, recordings, 30, T0 + timedelta(days=31), keep_call_rows=keep_rows)
        assert report.calls == 1 and report.recordings == 1 and report.orphans == 1, report
        assert not folder.exists()


def test_prune_removes_old_call_folders_without_a_row_and_keeps_young_ones(tmp_path):
    recordings = tmp_path / "rec"
    now = datetime.now(timezone.utc)
    with Store(tmp_path / "calls.db", clock=lambda: now - timedelta(days=40)) as store:
        pruned_before, pruned_folder = _old_call(store, recordings, orphan=False)
    with Store(tmp_path / "calls.db") as store:
        assert privacy.prune(store, recordings, 30, now).calls == 1  # content gone, row kept
        pruned_folder.mkdir()
        (pruned_folder / "07-late.wav").write_bytes(b"RIFF")  # a file of an already pruned call
        stale = recordings / "900001"                       # a call whose row never made it
        stale.mkdir()
        (stale / "02-identity.wav").write_bytes(b"RIFF")
        young = recordings / "900002"                       # the same, but recent: maybe in progress
        young.mkdir()
        (young / "02-identity.wav").write_bytes(b"RIFF")
        other = recordings / "2026"                          # not a call folder: never touched
        other.mkdir()
        (other / "keep.wav").write_bytes(b"RIFF")
        old = (now - timedelta(days=31)).timestamp()
        for path in (stale / "02-identity.wav", stale, pruned_folder / "07-late.wav", other / "keep.wav", other):
            os.utime(path, (old, old))
        report = privacy.prune(store, recordings, 30, now)
    assert report.calls == 0 and report.orphans == 2 and report.problems == ()
    assert not stale.exists() and not pruned_folder.exists()
    assert (young / "02-identity.wav").exists() and (other / "keep.wav").exists()


def test_forget_covers_kept_withheld_evidence_and_export_shows_it(tmp_path):
    recordings = tmp_path / "rec"
    with Store(tmp_path / "calls.db", clock=lambda: T0) as store:
        withheld = CallerFields(raw='"Anonymous" <sip:anonymous@anonymous.invalid>', display=None, number=None,
                                dialled=None, country=None, region=None, type=None, description=None, valid=False,
                                withheld=True, number_source=None,
                                evidence=f"<sip:{NUMBER}@carrier;user=phone>; <tel:{NUMBER}>")
        longer = replace(withheld, evidence=f"<tel:{NUMBER}9>")  # a longer number is another number
        mine = store.start_call(withheld, "w1@x").result(5)
        other = store.start_call(longer, "w2@x").result(5)
        store.flush()
        document = json.loads(privacy.export(store, recordings, "030 555123", tmp_path / "out").read_text())
        assert [c["id"] for c in document["calls"]] == [mine]
        assert document["calls"][0]["withheld_evidence"].startswith(f"<sip:{NUMBER}@")
        report = privacy.forget(store, recordings, NUMBER)
        assert report.calls == 1 and report.wal_truncated
        assert store.call(mine) is None and store.call(other) is not None


def test_prune_clears_kept_withheld_evidence(tmp_path):
    with Store(tmp_path / "calls.db", clock=lambda: T0) as store:
        withheld = CallerFields(raw="<sip:anonymous@anonymous.invalid>", display=None, number=None, dialled=None,
                                country=None, region=None, type=None, description=None, valid=False, withheld=True,
                                number_source=None, evidence=f"<tel:{NUMBER}>")
        call_id = store.start_call(withheld, None).result(5)
        store.finish_call(call_id, "withheld_rejected")
        store.flush()
        report = privacy.prune(store, tmp_path / "rec", 30, T0 + timedelta(days=31))
        assert report.calls == 1 and store.call(call_id).withheld_evidence is None
        assert store.call(call_id).outcome == "withheld_rejected"


def test_export_keeps_every_stored_byte(tmp_path):
    database = tmp_path / "calls.db"
    with Store(database, clock=lambda: T0) as store:
        fields = CallerFields(raw=f"<sip:{NUMBER}@x>", display="x", number=NUMBER, dialled=NUMBER, country=49,
                              region="DE", type=None, description=None, valid=True, withheld=False,
                              number_source="From")
        call_id = store.start_call(fields, "bytes@x").result(5)
        store.add_turn(call_id, TurnFields(2, "caller", T0, 1.0, field="identity", text="hallo"))
        store.flush()
    # what another tool (or an old version) may have written: invalid UTF-8, a BLOB
    raw = sqlite3.connect(str(database))
    raw.execute("UPDATE calls SET caller_display = CAST(? AS TEXT) WHERE id = ?", (b"M\xfcller \xff\x1b[31m", call_id))
    raw.execute("UPDATE turns SET text = ? WHERE call_id = ?", (b"\x00\x01binary\xfe", call_id))
    raw.commit()
    raw.close()
    with Store(database) as store:
        path = privacy.export(store, tmp_path / "rec", NUMBER, tmp_path / "out")
    text = path.read_bytes().decode("utf-8")  # valid UTF-8 throughout
    assert "\\udcfc" in text and "\\udcff" in text
    document = json.loads(text)
    [call] = document["calls"]
    assert call["caller_display"].encode("utf-8", "surrogateescape") == b"M\xfcller \xff\x1b[31m"
    [turn] = call["turns"]
    assert turn["text"] == {"base64": "AAFiaW5hcnn+"}
    assert "surrogateescape" in document["encoding"]
    result = CliRunner().invoke(main, ["export", "--help"])
    assert "udcXY" in result.output and "base64" in result.output
