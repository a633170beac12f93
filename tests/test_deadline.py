"""No caller waits in silence: the decision deadline on a fake call and a fake clock.

After the caller's turn the bot waits ``turns.max_wait`` for the words a branch
needs; then it says the hold phrase and waits at most ``turns.max_hold`` more;
then it decides without the words. The recognizer here is slowed down in virtual
time: its transcript is ready ``delay`` seconds (session clock) after the turn.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace, dataclass

from callbot.audio import FRAME_BYTES
from callbot.call.calllog import CallLog
from callbot.call.screening import HOLD_PROMPT, Screening
from callbot.call.settings import HandoffSettings
from callbot.script.loading import parse_script
from callbot.speech.turns import TurnSettings
from callbot.store.settings import StorageSettings
from tests.conftest import tone
from tests.fakes import CannedTranscript, FakeCall, FakeClock

SCRIPT = """
start = "ask"
[steps.ask]
say = "ask_purpose"
next = "hear"
[steps.hear]
listen = "purpose"
next = "route"
[steps.route]
branch = [
  { when = "label is cold_call", goto = "offer" },
  { else = "take_message" },
]
[steps.offer]
say = "offer"
next = "countered"
[steps.countered]
hangup = "cold_call_countered"
[steps.take_message]
say = "take_message"
next = "taken"
[steps.taken]
hangup = "message_taken"
"""
PROMPT_SECONDS = {"ask_purpose": 1.0, "offer": 1.0, "take_message": 1.0, HOLD_PROMPT: 0.8}
COLD = "ich möchte ihnen ein unverbindliches angebot für ihren strom machen"
SPEECH_SECONDS = 1.5


@dataclass
class Prompt:
    id: str
    text: str = "text"

    @property
    def duration(self) -> float:
        return PROMPT_SECONDS[self.id]

    def frames(self, rate=8000):
        pcm = tone(self.duration, 500 + 100 * sorted(PROMPT_SECONDS).index(self.id))
        return [pcm[i:i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


class Prompts:
    def get(self, prompt_id):
        return Prompt(prompt_id)

    def ids(self):
        return list(PROMPT_SECONDS)


class ClockedFuture(Future):
    """Done once the session clock reaches ``ready_at`` (polled), or when set from outside."""

    def __init__(self, clock: FakeClock, ready_at: float, text: str):
        super().__init__()
        self.clock, self.ready_at, self.text = clock, ready_at, text
        self.waited = False

    def done(self):
        if not super().done() and self.clock.now() >= self.ready_at:
            self.set_result(CannedTranscript(self.text))
        return super().done()

    def result(self, timeout=None):
        self.waited = True
        self.done()
        return super().result(timeout)


class SlowStream:
    def __init__(self, recognizer):
        self.recognizer = recognizer

    def feed(self, pcm):
        pass

    def finish(self):
        r = self.recognizer
        r.future = ClockedFuture(r.clock, r.clock.now() + r.delay, r.text)
        return r.future

    def cancel(self):
        pass


class SlowRecognizer:
    def __init__(self, clock, text, delay):
        self.clock, self.text, self.delay = clock, text, delay
        self.future: ClockedFuture | None = None

    def stream(self, rate=8000):
        return SlowStream(self)


class Store:
    """What CallLog writes, in order."""

    def __init__(self):
        self.events, self.turns, self.updates = [], [], {}

    def add_event(self, call_id, kind, rule, reason):
        self.events.append((kind, rule, reason))

    def add_turn(self, call_id, turn):
        self.turns.append(turn)

    def _caller_turn(self, seq, **fields):
        self.turns = [replace(t, **fields) if t.seq == seq and t.speaker == "caller" else t for t in self.turns]

    def set_turn_text(self, call_id, seq, text, confidence):
        """The transcript comes as a separate write after the turn row (saved as heard)."""
        self._caller_turn(seq, text=text, confidence=confidence)

    def set_turn_recording(self, call_id, seq, recording):
        self._caller_turn(seq, recording=recording)

    def add_lead(self, *args):
        pass

    def update_call(self, call_id, **fields):
        self.updates.update(fields)


def run(delay: float, *, finish_late_after: float | None = None, max_wait=1.2, max_hold=4.0):
    clock = FakeClock()
    prompts_audio = int(PROMPT_SECONDS["ask_purpose"] / 0.02) * [bytes(FRAME_BYTES)]
    speech = tone(SPEECH_SECONDS, 300)
    call = FakeCall(clock, prompts_audio + [speech[i:i + FRAME_BYTES] for i in range(0, len(speech), FRAME_BYTES)])
    recognizer = SlowRecognizer(clock, COLD, delay)
    store = Store()
    turns = TurnSettings(max_wait=max_wait, max_hold=max_hold, detector="energy")  # a tone stands in for speech
    with ThreadPoolExecutor(2) as io:
        screening = Screening(storage=StorageSettings(database="x.db", recordings="rec", record=False),
                              handoff=HandoffSettings(), language="de", turns=turns, recognizer=recognizer,
                              io=io, clock=clock)
        if finish_late_after is not None:  # the transcript arrives (in real time) after the call
            def late():
                while recognizer.future is None:
                    threading.Event().wait(0.01)
                if not recognizer.future.done():
                    recognizer.future.set_result(CannedTranscript(COLD))
            threading.Timer(finish_late_after, late).start()
        script = parse_script(SCRIPT, Prompts().ids())
        outcome = screening.run(call, CallLog(store, 7), Prompts(), script, lambda rec, lang: _ctx(rec, lang))
    return outcome, call, store, recognizer


def _ctx(recording, language):
    from callbot.script.model import CallContext

    return CallContext(recording=recording, language=language)


def said_after_turn(call, recognizer) -> list[tuple[float, str]]:
    """(seconds after the caller stopped talking, prompt) for each bot sound after the caller's turn."""
    freqs = {500 + 100 * i: p for i, p in enumerate(sorted(PROMPT_SECONDS))}
    turn_end = recognizer.future.ready_at - recognizer.delay  # the recognizer was asked when the turn ended
    speech_end = turn_end - TurnSettings().end_silence
    starts, last = [], None
    for at, frame in call.written:
        prompt = _prompt_of(frame, freqs)
        if prompt != last and at > speech_end:
            starts.append((round(at - speech_end, 2), prompt))
        last = prompt
    return starts


def _prompt_of(frame, freqs):
    import numpy as np

    samples = np.frombuffer(frame, dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(np.tile(samples, 4) * np.hanning(len(samples) * 4)))
    peak = np.fft.rfftfreq(len(samples) * 4, 1 / 8000)[int(np.argmax(spectrum))]
    return freqs[min(freqs, key=lambda f: abs(f - peak))]


def kinds(store):
    return [(kind, rule) for kind, rule, _ in store.events if kind in ("wait", "hold", "decided")]


def test_words_in_time_no_hold_phrase():
    outcome, call, store, recognizer = run(delay=0.2)
    assert outcome == "cold_call_countered"
    assert kinds(store) == []
    [(gap, prompt)] = said_after_turn(call, recognizer)[:1]
    assert prompt == "offer" and gap <= 0.8 + 0.2 + 0.1  # end_silence + decoding, nothing more
    assert recognizer.future.waited  # the script asked for the words: urgent for the decoder


def test_late_words_bring_the_hold_phrase_then_the_branch_uses_them():
    outcome, call, store, recognizer = run(delay=2.5)
    assert outcome == "cold_call_countered"
    assert kinds(store) == [("wait", "purpose"), ("hold", HOLD_PROMPT)]
    sounds = said_after_turn(call, recognizer)
    assert [p for _, p in sounds] == [HOLD_PROMPT, "offer"]
    # the hold phrase starts max_wait after the caller stopped talking (end_silence included)
    assert 1.2 - 0.05 <= sounds[0][0] <= 1.2 + 0.1


def test_words_too_late_decide_without_them_and_still_land_in_the_log():
    outcome, call, store, recognizer = run(delay=1000.0, finish_late_after=0.3)
    assert kinds(store) == [("wait", "purpose"), ("hold", HOLD_PROMPT), ("decided", "purpose")]
    assert outcome == "message_taken"  # no words: label unclear → the script's else path
    sounds = said_after_turn(call, recognizer)
    assert [p for _, p in sounds] == [HOLD_PROMPT, "take_message"]
    # dead air at most max_wait, then the hold phrase, then at most max_hold
    assert sounds[1][0] - sounds[0][0] <= PROMPT_SECONDS[HOLD_PROMPT] + 4.0 + 0.1
    [caller_turn] = [t for t in store.turns if t.speaker == "caller"]
    assert caller_turn.text == COLD  # the late transcript is in the turn row
    assert store.updates["label"] == "cold_call"  # and the findings use it


def test_a_zero_hold_decides_right_after_the_hold_phrase():
    outcome, call, store, recognizer = run(delay=1000.0, finish_late_after=0.3, max_hold=0.0)
    assert outcome == "message_taken"
    sounds = said_after_turn(call, recognizer)
    assert sounds[1][0] - sounds[0][0] <= PROMPT_SECONDS[HOLD_PROMPT] + 0.1


def test_the_deadlines_are_config_keys_checked_with_their_key(tmp_path):
    import pytest

    from callbot.config.load import load_config
    from callbot.errors import ConfigError

    path = tmp_path / "config.toml"
    (tmp_path / "prompts" / "de").mkdir(parents=True)
    path.write_text("[turns]\nmax_wait = 2.5\nmax_hold = 0\n[speech]\ntranscription = \"off\"\n")
    turns = load_config(path).turns
    assert (turns.max_wait, turns.max_hold) == (2.5, 0.0)
    path.write_text("[turns]\nmax_wait = 0\nmax_hold = -1\n[speech]\ntranscription = \"off\"\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "turns.max_wait" in text and "turns.max_hold" in text


# -- admission: live while the decoders can follow, else record now, transcribe after the call


def test_capacity_follows_the_measured_real_time_factor():
    from callbot.speech.admission import capacity_for

    assert capacity_for(0.17, 2) == 4          # the Korean model on 2 cores: 2 × 0.4 / 0.17
    assert capacity_for(0.1, 2) == 8
    assert capacity_for(3.0, 2) == 1           # never less than one live caller
    assert capacity_for(0.0, 4) == 4           # nothing measured: one per decoder


def test_measure_rtf_times_a_real_stream():
    from callbot.speech.admission import measure_rtf

    class Timed(SlowRecognizer):
        def stream(self, rate=8000):
            outer = self

            class S:
                def feed(self, pcm):
                    pass

                def finish(self):
                    threading.Event().wait(outer.delay)
                    f = Future()
                    f.set_result(CannedTranscript("x"))
                    return f
            return S()

    rtf = measure_rtf(Timed(None, "x", 0.2), bytes(16000 * 2), rate=8000)  # 2 s of audio, 0.2 s to decode
    assert 0.09 <= rtf <= 0.2


def test_admission_counts_live_slots():
    import pytest

    from callbot.speech.admission import Admission

    admission = Admission(1)
    assert admission.try_admit() and not admission.try_admit()
    admission.release()
    assert admission.try_admit()
    with pytest.raises(ValueError):
        Admission(-1)
    unlimited = Admission(None)
    assert all(unlimited.try_admit() for _ in range(100))


class LateStore(Store):
    def __init__(self):
        super().__init__()
        self.late_texts = {}
        self.late = threading.Event()

    def set_turn_text(self, call_id, seq, text, confidence):
        self.late_texts[seq] = text
        self.late.set()


def test_a_call_beyond_capacity_is_screened_without_waiting_and_transcribed_after():
    from callbot.call.later import AfterCallTranscriber
    from callbot.speech.admission import Admission

    clock = FakeClock()
    prompts_audio = int(PROMPT_SECONDS["ask_purpose"] / 0.02) * [bytes(FRAME_BYTES)]
    speech = tone(SPEECH_SECONDS, 300)
    call = FakeCall(clock, prompts_audio + [speech[i:i + FRAME_BYTES] for i in range(0, len(speech), FRAME_BYTES)])
    store = LateStore()
    admission = Admission(1)
    assert admission.try_admit()  # another caller holds the only live slot

    class Instant:
        streams = 0

        def stream(self, rate=8000):
            Instant.streams += 1
            stream = SlowStream(SlowRecognizer(clock, COLD, 0.0))
            return stream

    later = AfterCallTranscriber(Instant(), admission, store, "de")
    try:
        with ThreadPoolExecutor(2) as io:
            screening = Screening(storage=StorageSettings(database="x.db", recordings="rec", record=False),
                                  handoff=HandoffSettings(), language="de", turns=TurnSettings(),
                                  recognizer=Instant(), io=io, clock=clock, admission=admission, later=later)
            script = parse_script(SCRIPT, Prompts().ids())
            outcome = screening.run(call, CallLog(store, 7), Prompts(), script, _ctx)
        assert outcome == "message_taken"          # no words live: the unclear path, at once
        assert kinds(store) == []                  # no waiting, no hold phrase
        assert ("transcription", "after_call") in [(k, r) for k, r, _ in store.events]
        assert Instant.streams == 0                # nothing decoded while the call ran
        assert not store.late.wait(0.5)            # the decoders are still full
        admission.release()                        # the other caller hangs up
        assert store.late.wait(5)
        assert list(store.late_texts.values()) == [COLD]
        for _ in range(100):  # the findings follow the turn's text
            if store.updates.get("label") == "cold_call":
                break
            threading.Event().wait(0.05)
        assert store.updates["label"] == "cold_call"   # findings from the late words
        assert any(reason == "1 turn(s) transcribed after the call" for _, _, reason in store.events)
    finally:
        later.close()


def test_one_hold_phrase_per_decision_even_when_two_answers_are_late():
    two = SCRIPT.replace('''[steps.hear]
listen = "purpose"
next = "route"''', '''[steps.hear]
listen = "identity"
next = "ask_again"
[steps.ask_again]
say = "ask_purpose"
next = "hear_purpose"
[steps.hear_purpose]
listen = "purpose"
next = "route"''')
    clock = FakeClock()
    silence = int(PROMPT_SECONDS["ask_purpose"] / 0.02) * [bytes(FRAME_BYTES)]
    speech = tone(SPEECH_SECONDS, 300)
    spoken = [speech[i:i + FRAME_BYTES] for i in range(0, len(speech), FRAME_BYTES)]
    gap = int(0.9 / 0.02) * [bytes(FRAME_BYTES)]  # end_silence before the next prompt
    call = FakeCall(clock, silence + spoken + gap + silence + spoken)
    recognizer = SlowRecognizer(clock, COLD, 1000.0)  # neither answer's words come in time
    store = Store()
    with ThreadPoolExecutor(2) as io:
        screening = Screening(storage=StorageSettings(database="x.db", recordings="rec", record=False),
                              handoff=HandoffSettings(), language="de", turns=TurnSettings(detector="energy"),
                              recognizer=recognizer, io=io, clock=clock)
        futures = []
        original = recognizer.stream

        def stream(rate=8000):
            s = original(rate)
            finish = s.finish
            s.finish = lambda: futures.append(finish()) or futures[-1]
            return s
        recognizer.stream = stream

        def late():
            for _ in range(200):
                if len(futures) == 2:
                    break
                threading.Event().wait(0.01)
            for f in futures:
                if not f.done():
                    f.set_result(CannedTranscript(COLD))
        threading.Timer(0.3, late).start()
        outcome = screening.run(call, CallLog(store, 7), Prompts(), parse_script(two, Prompts().ids()), _ctx)
    assert outcome == "message_taken"
    assert [k for k, _ in kinds(store)].count("hold") == 1, kinds(store)


def test_after_call_work_goes_at_real_time_while_callers_need_the_machine(monkeypatch):
    from callbot.call import later as later_module
    from callbot.call.later import AfterCallTranscriber, RecordedTurn
    from callbot.speech.admission import Admission

    monkeypatch.setattr(later_module, "PIECE", 0.5)
    fed = []

    class Counting:
        def stream(self, rate=8000):
            class S:
                def feed(self, pcm):
                    fed.append(len(pcm))

                def finish(self):
                    f = Future()
                    f.set_result(CannedTranscript("x"))
                    return f

                def cancel(self):
                    pass
            return S()

    store = LateStore()
    admission = Admission(2)
    admission.call_started()                      # a caller is on the line
    worker = AfterCallTranscriber(Counting(), admission, store, "de")
    try:
        worker.submit(7, [RecordedTurn(1, "purpose", bytes(4 * 8000 * 2))])  # 4 s of audio = 8 pieces
        threading.Event().wait(0.3)
        assert 1 <= len(fed) <= 2                 # paced: one piece per half second
        admission.call_ended()                    # nobody on the line: the rest at once
        assert store.late.wait(5)
        assert sum(fed) == 4 * 8000 * 2
    finally:
        worker.close()
