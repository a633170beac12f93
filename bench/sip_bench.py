"""SIP benchmark (not a test): N concurrent SIPp calls through Kamailio to the bot.

For each codec (``--codecs``, default G.711 and G.722: the SIPp caller offers only that
one) and each N (default 1, 5, 20) it places N calls at once (one SIPp burst),
``--rounds`` times one after the other, and prints
- INVITE→200 OK latency p50/p99 over those calls (SIPp's per-call response time, in
  whole ms, the Kamailio hop both ways included; targets ≤ 5 ms p50 at 1 call,
  ≤ 20 ms p99 at 20 calls),
- the bot's outgoing RTP packet interval p50/p99/max (per stream, from arrival times),
- the bot process's CPU use (% of one core, from /proc while the calls run),
- calls lost (SIPp failures + calls without a finalized log row): must be 0.

Everything runs on 127.0.0.1; the bot runs as a separate ``callbot run`` process
so its CPU is measured alone. The machine (cores, CPU model) is printed first.
With ``--transport tls`` the bot registers at Kamailio over TLS (Kamailio's TLS module, a
test CA made for the run) and the SIPp callers' calls reach it over that connection; with
``--srtp`` as well, the callers offer SRTP (SDES) and the bot must answer it
(``media_encryption = "required"``): every RTP packet it sends is then SRTP.
Usage: ``python bench/sip_bench.py [--calls 1,5,20] [--rounds 3] [--codecs g711,g722]
[--transport udp|tls] [--srtp]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _bot import REPO, bot_process, intervals_ms, percentile, write_bot_config
from rig import Kamailio, RtpSink, run_sipp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: What the SIPp caller offers per codec (payload types; 101 = telephone-event).
OFFERS = {"g711": "0 8 101", "g722": "9 101"}
#: The payload type the bot must answer with.
ANSWERED = {"g711": 0, "g722": 9}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rtp_intervals(sink: RtpSink) -> tuple[list[float], int]:
    streams: dict[int, list[float]] = defaultdict(list)
    for packet in sink.audio_packets():
        streams[packet.ssrc].append(packet.arrival)
    gaps = []
    for arrivals in streams.values():
        gaps.extend(intervals_ms(arrivals))
    return gaps, len(streams)


def rtt_values(workdir: Path) -> list[float]:
    values = []
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")  # Date_ms;response_time_ms;rtd_no (whole ms)
            if len(parts) >= 3:
                try:
                    values.append(float(parts[1]))
                except ValueError:
                    pass
    return values


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} cores, {model}"


#: The SIPp callers' SDES key when they offer SRTP (they send no RTP; the bot encrypts with its own).
SRTP_OFFER = {"profile": "RTP/SAVP",
              "media_extra": "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + "QUJD" * 10 + "\r\na=ptime:20"}


def run_level(n: int, rounds: int, work: Path, kam: Kamailio, bot_pid: int, db: Path, rows_before: int,
              codec: str = "g711", srtp: bool = False) -> dict:
    level_dir = work / f"level-{codec}-{n}-{rows_before}"
    level_dir.mkdir()
    total = n * rounds
    failed = successful = 0
    with RtpSink() as sink:
        cpu0, t0 = cpu_seconds(bot_pid), time.monotonic()
        for r in range(rounds):
            round_dir = level_dir / f"round-{r}"
            round_dir.mkdir()
            result = run_sipp(
                "uac_anonymous", kam.address, workdir=round_dir,
                keys={"sink_port": sink.port, "payloads": OFFERS[codec], **(SRTP_OFFER if srtp else {})},
                calls=n, concurrent=n, rate=max(1, n) * 10, timeout=60,
                extra_args=["-trace_rtt", "-rtt_freq", "1"],
            )
            failed, successful = failed + result.failed, successful + result.successful
        sink.wait_idle(idle=0.5, timeout=10)
        cpu1, t1 = cpu_seconds(bot_pid), time.monotonic()
        gaps, streams = rtp_intervals(sink)
        wrong_codec = sum(1 for p in sink.audio_packets() if p.payload_type != ANSWERED[codec])
    deadline = time.monotonic() + 10
    finished = 0
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            finished = conn.execute(
                "select count(*) from calls where id > ? and outcome is not null", (rows_before,)
            ).fetchone()[0]
        if finished >= total:
            break
        time.sleep(0.2)
    rtts = [v for round_dir in sorted(level_dir.iterdir()) for v in rtt_values(round_dir)]
    lost = max(failed, total - successful, total - finished)
    return {
        "codec": codec,
        "calls": n,
        "samples": len(rtts),
        "invite_to_200_ms_p50": percentile(rtts, 50),
        "invite_to_200_ms_p99": percentile(rtts, 99),
        "rtp_streams": streams,
        "rtp_interval_ms_p50": percentile(gaps, 50),
        "rtp_interval_ms_p99": percentile(gaps, 99),
        "rtp_interval_ms_max": max(gaps) if gaps else float("nan"),
        "bot_cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0),
        "calls_lost": lost,
        "packets_in_another_codec": wrong_codec,
        "rows_finalized": finished,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,5,20", help="comma-separated concurrency levels")
    parser.add_argument("--rounds", type=int, default=3,
                        help="calls per level = concurrency × rounds (more INVITE→200 samples)")
    parser.add_argument("--codecs", default="g711,g722", help="comma-separated: g711, g722")
    parser.add_argument("--transport", choices=("udp", "tls"), default="udp",
                        help="how the bot registers and gets its calls (the callers reach Kamailio over UDP)")
    parser.add_argument("--srtp", action="store_true", help="callers offer SRTP; the bot requires it (needs tls)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per level")
    args = parser.parse_args()
    levels = [int(x) for x in args.calls.split(",")]
    codecs = [c.strip().lower() for c in args.codecs.split(",")]
    unknown = [c for c in codecs if c not in OFFERS]
    if unknown:
        parser.error(f"unknown codec(s) {', '.join(unknown)}; choose from {', '.join(OFFERS)}")
    if args.srtp and args.transport != "tls":
        parser.error("--srtp needs --transport tls (the bot takes SDES keys only over TLS)")
    print(f"transport: {args.transport.upper()}{' + SRTP' if args.srtp else ''}")
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="callbot-bench-") as tmp:
        work = Path(tmp)
        with Kamailio(work / "kamailio", tls=args.transport == "tls") as kam:
            sip = {} if args.transport == "udp" else {
                "transport": "tls", "port": kam.tls_port, "tls_ca_file": str(kam.ca_file),
                "media_encryption": "required" if args.srtp else "off"}
            config = write_bot_config(work, kam, REPO / "prompts", rtp_ports=(30000, 30399),
                                      speech={"transcription": "off"}, sip=sip)
            with bot_process(config, kam, register_timeout=20) as bot:
                time.sleep(1.0)
                idle0, t0 = cpu_seconds(bot.pid), time.monotonic()
                time.sleep(3.0)
                idle_cpu = 100 * (cpu_seconds(bot.pid) - idle0) / (time.monotonic() - t0)
                print(f"bot idle CPU: {idle_cpu:.2f} % of one core")
                db = work / "calls.db"
                results = []
                for codec in codecs:
                    for n in levels:
                        with sqlite3.connect(db) as conn:
                            rows_before = conn.execute("select coalesce(max(id), 0) from calls").fetchone()[0]
                        results.append(run_level(n, args.rounds, work, kam, bot.pid, db, rows_before, codec,
                                                 args.srtp))
    if args.json:
        for r in results:
            print(json.dumps(r))
        return 0
    header = (f"{'codec':>5} {'calls':>5} {'n':>4} {'200 p50':>8} {'200 p99':>8} {'rtp p50':>8} {'rtp p99':>8} {'rtp max':>8}"
              f" {'cpu %':>6} {'lost':>5}")
    print(header)
    for r in results:
        print(f"{r['codec']:>5} {r['calls']:>5} {r['samples']:>4} {r['invite_to_200_ms_p50']:>6.1f}ms {r['invite_to_200_ms_p99']:>6.1f}ms"
              f" {r['rtp_interval_ms_p50']:>6.2f}ms {r['rtp_interval_ms_p99']:>6.2f}ms"
              f" {r['rtp_interval_ms_max']:>6.2f}ms {r['bot_cpu_percent']:>6.1f} {r['calls_lost']:>5}")
    print("targets: INVITE→200 p50 ≤ 5 ms at 1 call, p99 ≤ 20 ms at 20 calls; RTP interval ≈ 20 ms; "
          "calls lost = 0")
    wrong = sum(r["packets_in_another_codec"] for r in results)
    if wrong:
        print(f"ERROR: {wrong} RTP packets in a codec the caller did not get in the answer")
    return 0 if all(r["calls_lost"] == 0 for r in results) and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
