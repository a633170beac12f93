"""What the SIP benchmarks share: the bot as its own ``callbot run`` process behind Kamailio.

Imported by ``bench/sip_bench.py`` and ``bench/turn_bench.py`` (run as scripts,
so ``bench/`` is on ``sys.path``). Loopback only.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from rig import Kamailio, free_udp_port  # noqa: E402


def percentile(values, p: float) -> float:
    """The p-th percentile (0-100), linear between the nearest ranks; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def intervals_ms(times: list[float]) -> list[float]:
    """Milliseconds between consecutive times (seconds) of one stream."""
    return [(b - a) * 1000 for a, b in zip(times, times[1:])]


def write_bot_config(work: Path, kam: Kamailio, prompts: Path, *, rtp_ports: tuple[int, int],
                     speech: Mapping[str, object], sip: Mapping[str, object] | None = None) -> Path:
    """A config.toml in ``work`` that registers the bot at ``kam`` as "callbot" and logs warnings only
    (``sip``: more [sip] keys, e.g. transport, port and tls_ca_file for TLS)."""
    config = work / "config.toml"
    speech_lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in speech.items())
    sip = {"port": kam.port, **(sip or {})}
    sip_lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in sip.items())
    config.write_text(
        f'[sip]\nserver = "127.0.0.1"\n{sip_lines}username = "callbot"\n'
        f'local_ip = "127.0.0.1"\nlocal_port = {free_udp_port()}\n'
        f"rtp_port_min = {rtp_ports[0]}\nrtp_port_max = {rtp_ports[1]}\n"
        f'[storage]\ndatabase = "{work}/calls.db"\nrecordings = "{work}/recordings"\n'
        f'[prompts]\ndir = "{prompts}"\nlanguage = "de"\n'
        f"[speech]\n{speech_lines}"
        '[log]\nlevel = "warning"\n'
    )
    return config


@contextmanager
def bot_process(config: Path, kam: Kamailio, *, register_timeout: float) -> Iterator[subprocess.Popen]:
    """``callbot run --config config`` until the block ends (SIGTERM, then kill).

    Exits the benchmark (status 1, the bot's stderr printed) if the bot does
    not register within ``register_timeout`` seconds.
    """
    bot = subprocess.Popen([sys.executable, "-m", "callbot", "run", "--config", str(config)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        if not kam.wait_registered("callbot", timeout=register_timeout):
            bot.terminate()
            print("bot did not register:", bot.communicate(timeout=10)[1][-2000:], file=sys.stderr)
            raise SystemExit(1)
        yield bot
    finally:
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(30)
            except subprocess.TimeoutExpired:
                bot.kill()
