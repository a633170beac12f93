"""Flood benchmark (not a test): INVITE floods at the bot, bounded in count and time.

Two floods, each ``--seconds`` long at ``--rate`` INVITEs per second (default 10 s × 200/s):

1. **through the proxy**: SIPp → Kamailio → the bot (the trusted source). The bot takes what
   ``sip.invite_rate`` (per source) and ``sip.max_calls`` allow, and turns the rest away
   (503 / 486) on its receive thread, without a thread per request;
2. **straight at the bot's port** from one untrusted address (a scanner, a ghost-call
   flood): every INVITE gets 403, no row.

For each it prints calls accepted (answered by the bot) and refused, the bot process's peak
thread count and peak RSS (sampled from /proc every 50 ms), the call rows written by outcome,
rows left open after the flood (must be 0), and whether the next normal call is served.
Then the registrar comes and goes at the default settings (keepalive 8 s, register_expires
300 s): an instant Kamailio restart (it forgets the registration) and a stop of
``--down`` seconds (a FRITZ!Box rebooting); it prints how long after the registrar was back
the bot was registered again (target ≤ 10 s).
The bot runs as its own ``callbot run`` process, registered at Kamailio, everything on
127.0.0.1. Usage: ``python bench/fault_bench.py [--seconds 10] [--rate 200] [--down 20]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

from _bot import REPO, bot_process, write_bot_config
from rig import Kamailio, RtpSink, run_sipp
from sip_bench import machine


class Sampler(threading.Thread):
    """Peak threads and RSS of one process, from /proc/<pid>/status."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.stop_event = pid, threading.Event()
        self.peak_threads = self.peak_rss_kb = 0

    def sample(self) -> tuple[int, int]:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
                      if ":" in line)
        return int(fields["Threads"]), int(fields["VmRSS"].split()[0])

    def run(self) -> None:
        while not self.stop_event.wait(0.05):
            try:
                threads, rss = self.sample()
            except (OSError, KeyError, ValueError):
                return
            self.peak_threads, self.peak_rss_kb = max(self.peak_threads, threads), max(self.peak_rss_kb, rss)


def rows(db: Path, after: int) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        found = conn.execute("select coalesce(outcome, 'OPEN'), count(*) from calls where id > ? group by 1",
                             (after,)).fetchall()
    return dict(found)


def last_id(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("select coalesce(max(id), 0) from calls").fetchone()[0]


def settle(db: Path, after: int, timeout: float = 60.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        found = rows(db, after)
        if not found.get("OPEN") or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def flood(name: str, target: str, work: Path, bot_pid: int, db: Path, args, sink: RtpSink) -> dict:
    before = last_id(db)
    sampler = Sampler(bot_pid)
    threads0, rss0 = sampler.sample()
    sampler.start()
    total = int(args.seconds * args.rate)
    t0 = time.monotonic()
    result = run_sipp("uac_anonymous", target, workdir=work / name, calls=total, rate=args.rate,
                      concurrent=total, keys={"sink_port": sink.port, "answer_timeout_ms": "8000",
                                              "bye_timeout_ms": "30000"},
                      timeout=args.seconds + 60, extra_args=["-trace_err"])
    flood_time = time.monotonic() - t0
    found = settle(db, before)
    sampler.stop_event.set()
    sampler.join()
    return {"name": name, "sent": total, "accepted": result.successful, "refused": result.failed,
            "seconds": flood_time, "threads_before": threads0, "peak_threads": sampler.peak_threads,
            "rss_before_mb": rss0 / 1024, "peak_rss_mb": sampler.peak_rss_kb / 1024, "rows": found,
            "open": found.get("OPEN", 0)}


def comeback(kam: Kamailio, down: float) -> float | None:
    """Seconds from the registrar being back to the bot registered there again (None: > 60 s)."""
    if down:
        kam.stop()
        time.sleep(down)
        kam.start()
    else:
        kam.restart()
    back = time.monotonic()
    while time.monotonic() - back < 60:
        if kam.registered("callbot", timeout=0.5):
            return time.monotonic() - back
        time.sleep(0.1)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--down", type=float, default=20.0, help="seconds the registrar is stopped")
    args = parser.parse_args()
    if args.seconds * args.rate > 5000:
        parser.error("at most 5000 INVITEs per flood")
    print(f"machine: {machine()}")
    results = []
    with tempfile.TemporaryDirectory(prefix="callbot-flood-") as tmp:
        work = Path(tmp)
        for name in ("via-proxy", "direct", "next-call"):
            (work / name).mkdir()
        with Kamailio(work / "kamailio") as kam, RtpSink() as sink:
            config = write_bot_config(work, kam, REPO / "prompts", rtp_ports=(30000, 30399),
                                      speech={"transcription": "off"})
            bot_port = int(next(line.split("=")[1] for line in config.read_text().splitlines()
                                if line.startswith("local_port")))
            with bot_process(config, kam, register_timeout=20) as bot:
                db = work / "calls.db"
                results.append(flood("via-proxy", kam.address, work, bot.pid, db, args, sink))
                results.append(flood("direct", f"127.0.0.1:{bot_port}", work, bot.pid, db, args, sink))
                before = last_id(db)
                normal = run_sipp("uac_anonymous", kam.address, workdir=work / "next-call",
                                  keys={"sink_port": sink.port}, timeout=30)
                after = settle(db, before)
                restarts = {"instant restart": comeback(kam, 0), f"down {args.down:g} s": comeback(kam, args.down)}
    for r in results:
        print(f"{r['name']:>10}: {r['sent']} INVITEs in {r['seconds']:.1f} s → accepted {r['accepted']}, "
              f"refused {r['refused']}; threads {r['threads_before']} → peak {r['peak_threads']}; "
              f"RSS {r['rss_before_mb']:.0f} → peak {r['peak_rss_mb']:.0f} MB; rows {r['rows']}; "
              f"rows left open {r['open']}")
    print(f"next normal call after the floods: {'served' if normal.ok else 'FAILED'} (rows {after})")
    for what, took in restarts.items():
        shown = "not within 60 s" if took is None else f"{took:.1f} s"
        print(f"registrar {what}: bot registered again {shown} after the registrar was back (target ≤ 10 s)")
    ok = normal.ok and all(r["open"] == 0 for r in results) and all(
        t is not None and t <= 10 for t in restarts.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
