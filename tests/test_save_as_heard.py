"""A caller's answer is saved the moment the turn ends, not after its transcript (issue #11).

The screening runs for real (Screening, Conversation, TurnRecorder, CallLog, Store, the
writer) on a fake call and a fake clock; the recognizer's words never come in time.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from callbot.call import screening as screening_module
from callbot.call.calllog import CallLog
from callbot.call.screening import Screening
from callbot.call.settings import HandoffSettings
from callbot.script.loading import parse_script
from callbot.script.model import CallContext
from callbot.speech.turns import TurnSettings
from callbot.store.settings import StorageSettings
from callbot.store.store import Store
from tests.fakes import CannedRecognizer, FakeCall, FakeClock
from tests.test_durable_log import caller

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
start = "ask"
[steps.ask]
say = "ask_identity"
next = "hear"
[steps.hear]
listen = "identity"
next = "ask2"
[steps.ask2]
say = "ask_purpose"
next = "hear2"
[steps.hear2]
listen = "purpose"
next = "bye"
[steps.bye]
hangup = "message_taken"
"""


class Prompt:
    def __init__(self, prompt_id: str):
        self.id, self.text, self.duration = prompt_id, "text", 1.0

    def frames(self, rate=8000):
        return [bytes(320)] * 50


class Prompts:
    def get(self, prompt_id):
        return Prompt(prompt_id)

    def ids(self):
        return ["ask_identity", "ask_purpose", "one_moment"]


def speech(seconds: float) -> list[bytes]:
    """A loud tone: speech to the energy detector, in 20 ms frames."""
    import math
    import struct

    samples = [int(8000 * math.sin(2 * math.pi * 300 * n / 8000)) for n in range(int(seconds * 8000))]
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    return [pcm[i:i + 320] for i in range(0, len(pcm), 320)]


def caller_audio() -> list[bytes]:
    return [bytes(320)] * 50 + speech(1.5) + [bytes(320)] * 100 + speech(1.2)


def screen(store: Store, recordings: Path, call_id: int, recognizer) -> str:
    clock = FakeClock()
    call = FakeCall(clock, caller_audio())
    with ThreadPoolExecutor(2) as io:
        screening = Screening(storage=StorageSettings(database="x.db", recordings=str(recordings), record=True),
                              handoff=HandoffSettings(), language="de", turns=TurnSettings(detector="energy"),
                              recognizer=recognizer, io=io, clock=clock)
        script = parse_script(SCRIPT, Prompts().ids())
        return screening.run(call, CallLog(store, call_id), Prompts(), script,
                             lambda rec, lang: CallContext(recording=rec, language=lang))


def test_a_recording_the_full_disk_cut_short_is_deleted_and_its_row_says_so(tmp_path, monkeypatch, caplog):
    def full_disk(path, pcm, rate=8000):
        Path(path).write_bytes(b"RIFF" + bytes(100))  # a truncated WAV, as ENOSPC leaves it
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(screening_module, "write_wav", full_disk)
    recordings = tmp_path / "rec"
    with Store(tmp_path / "calls.db") as store:
        call_id = store.start_call(caller(1), "x").call_id
        with caplog.at_level(logging.ERROR, logger="callbot.call"):
            screen(store, recordings, call_id, CannedRecognizer("hier ist schmidt", "es geht um strom"))
        store.flush(10)
        turns = [t for t in store.turns(call_id) if t.speaker == "caller"]
        events = store.events(call_id)
    assert [t.field for t in turns] == ["identity", "purpose"]
    assert all(t.recording is None for t in turns)             # the rows point to no WAV …
    assert [t.text for t in turns] == ["hier ist schmidt", "es geht um strom"]  # … and keep the words
    assert list(recordings.rglob("*")) == [recordings / str(call_id)]  # no WAV left behind
    assert [(e.kind, e.rule) for e in events if e.kind == "error"] == [("error", "recording")]  # once per call
    assert len([r for r in caplog.records if "cannot write recording" in r.getMessage()]) == 1


CHILD = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, sys.argv[3])
    from pathlib import Path
    from callbot.call.conversation import Conversation
    from callbot.store.store import Store
    from tests.fakes import CannedRecognizer
    from tests.test_durable_log import caller
    from tests.test_save_as_heard import screen

    listen = Conversation.listen
    turns = []

    def heard(self, field):
        if turns:                          # the next question: the caller is still thinking when killed
            threading.Event().wait()
        turns.append(listen(self, field))
        print("TURN ENDED", flush=True)    # the parent kills this process 0.3 s from now
        return turns[-1]

    Conversation.listen = heard
    store = Store(Path(sys.argv[1]))
    store.start()
    call_id = store.start_call(caller(1), "x").call_id
    print(call_id, flush=True)
    screen(store, Path(sys.argv[2]), call_id, CannedRecognizer("hier ist schmidt", delay=1000))  # words: never
""")


def test_an_answer_survives_a_kill_right_after_the_turn_ends(tmp_path):
    db, recordings = tmp_path / "calls.db", tmp_path / "rec"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(recordings), str(REPO)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        call_id = int(child.stdout.readline())
        assert child.stdout.readline().strip() == "TURN ENDED", child.stderr.read()
        try:
            child.wait(0.3)
        except subprocess.TimeoutExpired:
            pass
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stdout.close()
        child.stderr.close()
    conn = sqlite3.connect(str(db))
    try:
        turns = conn.execute("SELECT seq, speaker, field, text, recording FROM turns WHERE call_id = ? "
                             "AND speaker = 'caller'", [call_id]).fetchall()
    finally:
        conn.close()
    assert turns == [(2, "caller", "identity", None, f"{call_id}/02-identity.wav")]  # the row, no words yet
    wav = recordings / str(call_id) / "02-identity.wav"
    assert wav.stat().st_size > 1.5 * 8000 * 2  # the whole answer
