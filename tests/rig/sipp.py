"""Run SIPp scenarios (callers, and test callees) against the rig's Kamailio.

Usage::

    from tests.rig.sipp import run_sipp, start_sipp, scenario_path, anonymous_headers

    res = run_sipp("uac_call", kam.address, workdir=tmp_path,
                   keys={"sink_port": sink.port}, from_user="+4930111222",
                   extra_headers=["Privacy: id"], timeout=20)
    assert res.ok, res.describe()
    bye = res.find("received", "BYE")          # the bot's BYE, full text
    assert res.last_status_received() == ...

    caller = start_sipp("uac_call", kam.address, workdir=tmp_path,
                        keys={"sink_port": sink.port})       # non-blocking
    with caller:                                              # killed on exit
        answer = caller.wait_message("received", 200, timeout=5)   # live trace
        sink.send_to(answer.sdp_audio(), pcm)                 # caller talks
        res = caller.wait()                                   # -> SippResult

Scenarios live in ``tests/rig/scenarios``; pass a bare name (``"uac_call"``),
a file name, or any path.  Values reach a scenario as ``[name]`` via SIPp's
``-key name value``.  run_sipp supplies defaults for every key the bundled
scenarios use (:data:`DEFAULT_KEYS`), and two rig additions make keys usable
everywhere:

* SIPp 3.6 does NOT substitute ``-key`` values inside XML *attributes*
  (``timeout="[bye_timeout_ms]"`` is rejected: "not a valid integer"), so the
  scenario is first *rendered* into the workdir with ``[key]`` replaced in
  attribute values (timeouts, pause lengths, the pcap path).  Message text
  keeps using ``-key``.
* a message line consisting only of ``[key]`` whose value is empty is deleted
  at render time (an empty line would end the SIP header block).  That is how
  the optional ``[extra_headers]`` works; multi-line values are passed as one
  ``-key`` value joined with CRLF (SIPp inserts it verbatim) --
  ``extra_headers=[...]`` does that for you.

Every SIPp process binds 127.0.0.1 only: ``-i``/``-mi``/``-ci`` 127.0.0.1,
``-bind_local``, free ``-p``/``-mp``/``-cp`` ports (``-mp`` needs 4
consecutive free ports: SIPp binds audio RTP/RTCP and video RTP/RTCP).  It
runs as a child in its own process group (no ``-bg``), with ``-nostdin``,
``-m calls``, ``-timeout <timeout>s -timeout_error``, and is killed (group)
if it outlives ``timeout + 10 s``.  Traces written per run in ``workdir``:
``<name>.messages.log`` (``-trace_msg``: every SIP message sent/received),
``<name>.errors.log``, ``<name>.stat.csv``, ``<name>.screen.log``,
``<name>.stdout``/``.stderr``.

SIPp exit codes: 0 all calls succeeded, 1 at least one failed, 97 internal
exit command, 99 normal exit without calls processed, 255 fatal error,
254 could not bind a socket.

SIPp quirks found while building the rig (SIPp 3.6.1):

* ``play_pcap_audio`` sends through a *raw* socket (needs root or
  CAP_NET_RAW) and the packets arrive with UDP **source port 0** from
  127.0.0.1.  A bot must send its RTP to the address/port in the caller's
  SDP, not "latch" onto the source of received RTP.  Playback is
  asynchronous (the scenario goes on immediately) and stops when the call
  ends; ``[pcap]`` must be an absolute path (run_sipp resolves it).
* ``-mp P`` binds P..P+3 (audio and video RTP/RTCP): two SIPps whose media
  ports are 2 apart collide ("Unable to bind audio RTP socket").
* a ``<pause>`` doesn't receive: a SIP message arriving during it is
  "unexpected" and aborts the call (e.g. the bot's BYE while
  uac_caller_bye still holds).  In-dialog OPTIONS/INFO/UPDATE from the bot
  also count as unexpected unless you pass ``extra_args=["-aa"]``.
* a variable set by ``<ereg assign_to=...>`` but never used is a fatal
  scenario error ("Variable $x is referenced 1 times!").
* on an unexpected final response (e.g. 480) SIPp ACKs it and counts the
  call as failed (rc 1); the status is visible in ``SippResult.messages()``.
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence
from xml.sax.saxutils import escape as _xml_escape

from .kamailio import kill_process_group
from .rtp import free_udp_port

__all__ = [
    "SCENARIO_DIR",
    "DEFAULT_KEYS",
    "SippError",
    "SippResult",
    "SippProcess",
    "SipTraceMessage",
    "filter_messages",
    "parse_message_log",
    "run_sipp",
    "start_sipp",
    "scenario_path",
    "render_scenario",
    "sipp_binary",
    "anonymous_headers",
]

LOOPBACK = "127.0.0.1"
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

#: Defaults for every key used by the bundled scenarios (all overridable).
#: ``sink_port`` defaults to SIPp's own media port (i.e. "nobody listens").
DEFAULT_KEYS: dict[str, str] = {
    "caller": "rigcaller",  # From user (from_user=...)
    "caller_host": "127.0.0.1",  # From host
    "display": "Rig Caller",  # From display name
    "extra_headers": "",  # CRLF-joined header lines, "" = none
    "pai_number": "+4930123456",  # uac_anonymous
    "payloads": "0 8 101",  # uac_anonymous: audio payload types offered (9 = G.722)
    "profile": "RTP/AVP",  # uac_anonymous: the media profile (RTP/SAVP: SRTP)
    "media_extra": "a=ptime:20",  # uac_anonymous: attribute lines after the rtpmaps (a=crypto …)
    "answer_timeout_ms": "10000",  # wait for 200 (uac_*) / 180 (uac_cancel)
    "bye_timeout_ms": "30000",  # wait for BYE / final responses
    "hold_ms": "1000",  # uac_caller_bye, uas_answer_bye: talk time before BYE
    "cancel_after_ms": "500",  # uac_cancel: ring time before CANCEL
    "cancel_timeout_ms": "10000",  # uas_ring: wait for CANCEL
    "ring_ms": "100",  # uas_*: 180 -> 200 delay
    "pcap": "",  # uac_play: pcap file (absolute path)
    "expires": "300",  # uac_register
    "contact_port": "5060",  # uac_register: port in Contact
}

_counter = itertools.count(1)
_counter_lock = threading.Lock()


class SippError(RuntimeError):
    pass


def sipp_binary() -> str | None:
    """``sipp`` (Debian package ``sip-tester``) or None."""
    for name in ("sipp", "sip-tester"):
        found = shutil.which(name)
        if found:
            return found
    return None


def scenario_path(scenario: str | Path) -> Path:
    """Resolve ``"uac_call"``, ``"uac_call.xml"`` or a path to an existing file."""
    p = Path(scenario)
    if p.is_file():
        return p.resolve()
    for cand in (SCENARIO_DIR / p, SCENARIO_DIR / f"{p}.xml"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"SIPp scenario not found: {scenario!r} (looked in {SCENARIO_DIR})")


_CDATA_RE = re.compile(r"(<!\[CDATA\[.*?\]\]>)", re.S)
_ATTR_RE = re.compile(r'="([^"]*)"')
_KEY_RE = re.compile(r"\[([A-Za-z_][A-Za-z0-9_]*)\]")


def render_scenario(src: Path, keys: Mapping[str, str], dest: Path) -> Path:
    """Copy ``src`` to ``dest`` substituting ``[key]`` in XML attribute values
    and removing message lines that are exactly an empty-valued ``[key]``."""
    text = src.read_text(encoding="iso-8859-1")
    empty = {k for k, v in keys.items() if v == ""}

    def sub_attr(m: re.Match[str]) -> str:
        value = _KEY_RE.sub(
            lambda k: _xml_escape(keys[k.group(1)], {'"': "&quot;"}) if k.group(1) in keys else k.group(0),
            m.group(1),
        )
        return f'="{value}"'

    out = []
    for part in _CDATA_RE.split(text):
        if part.startswith("<![CDATA["):
            for name in empty:
                part = re.sub(r"^[ \t]*\[" + re.escape(name) + r"\][ \t]*\r?\n", "", part, flags=re.M)
        else:
            part = _ATTR_RE.sub(sub_attr, part)
        out.append(part)
    dest.write_text("".join(out), encoding="iso-8859-1")
    return dest


def anonymous_headers(number: str = "+4930123456", host: str = "carrier.example") -> list[str]:
    """``Privacy: id`` + two P-Asserted-Identity lines (sip: and tel:) for
    ``extra_headers=``; combine with ``keys={"display": "Anonymous", ...}``."""
    return [
        "Privacy: id",
        f"P-Asserted-Identity: <sip:{number}@{host};user=phone>",
        f"P-Asserted-Identity: <tel:{number}>",
    ]


# --------------------------------------------------------------------------
# Message trace parsing
# --------------------------------------------------------------------------

_TRACE_SPLIT = re.compile(r"^-{20,} (\S+ \S+)\s*$", re.M)
_TRACE_HDR = re.compile(r"^(\w+) message (sent|received)\b[^\n]*\n", re.M)


@dataclass(frozen=True)
class SipTraceMessage:
    """One SIP message from SIPp's ``-trace_msg`` log."""

    direction: str  # "sent" | "received"
    timestamp: str
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def is_response(self) -> bool:
        return self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int | None:
        if not self.is_response:
            return None
        try:
            return int(self.first_line.split()[1])
        except (IndexError, ValueError):
            return None

    @property
    def method(self) -> str | None:
        """Request method, or the CSeq method for responses."""
        if not self.is_response:
            return self.first_line.split(" ", 1)[0]
        cseq = self.header("CSeq")
        return cseq.split()[-1] if cseq else None

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        return values[0] if values else None

    def headers(self, name: str) -> list[str]:
        head = re.split(r"\r?\n\r?\n", self.text, maxsplit=1)[0]
        out = []
        for line in head.splitlines()[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                if k.strip().lower() == name.lower():
                    out.append(v.strip())
        return out

    @property
    def body(self) -> str:
        parts = re.split(r"\r?\n\r?\n", self.text, maxsplit=1)
        return parts[1] if len(parts) > 1 else ""

    def sdp_audio(self) -> tuple[str, int] | None:
        """``(ip, port)`` of the first ``m=audio`` in an SDP body (session or
        media ``c=`` line), or None -- e.g. where the bot wants its RTP."""
        session_ip = media_ip = None
        port = None
        section = None  # None = session level, else the m= media type
        for raw in self.body.splitlines():
            line = raw.strip()
            if line.startswith("m="):
                if port is not None:
                    break  # past the first audio section
                section = line[2:].split(" ", 1)[0]
                if section == "audio":
                    port = int(line.split()[1])
            elif line.startswith("c=IN IP4 "):
                if section is None:
                    session_ip = line.split()[2]
                elif section == "audio":
                    media_ip = line.split()[2]
        ip = media_ip or session_ip
        if ip is None or port is None:
            return None
        return ip, port


def filter_messages(
    msgs: Iterable[SipTraceMessage], direction: str | None = None, what: str | int | None = None
) -> list[SipTraceMessage]:
    """Filter by direction ("sent"/"received"/None) and by a request method
    (``"BYE"``) or a response status (``480``)."""
    out = []
    for m in msgs:
        if direction and m.direction != direction:
            continue
        if isinstance(what, int):
            if m.status != what:
                continue
        elif isinstance(what, str):
            if m.is_response or m.method != what.upper():
                continue
        out.append(m)
    return out


def parse_message_log(text: str) -> list[SipTraceMessage]:
    msgs = []
    pieces = _TRACE_SPLIT.split(text)
    # pieces: [prefix, ts1, block1, ts2, block2, ...]
    for ts, block in zip(pieces[1::2], pieces[2::2]):
        m = _TRACE_HDR.search(block)
        if not m:
            continue
        body = block[m.end() :].lstrip("\r\n")
        msgs.append(SipTraceMessage(m.group(2), ts, body.rstrip("\r\n") + "\n"))
    return msgs


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass
class SippResult:
    """Outcome of one SIPp run.

    ``ok`` is True when SIPp exited 0, no call failed and ``successful``
    equals the number of requested calls.  ``messages()`` parses the
    ``-trace_msg`` log; ``find(direction, what)`` returns matching messages
    (``what``: a method like ``"BYE"`` or a status code like ``480``).
    """

    returncode: int
    successful: int
    failed: int
    calls: int
    stdout: str
    stderr: str
    cmd: list[str]
    scenario: Path
    message_log: Path
    error_log: Path
    stat_csv: Path
    screen_log: Path
    elapsed: float
    killed: bool = False
    port: int = 0
    media_port: int = 0
    _msgs: list[SipTraceMessage] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.successful >= self.calls

    def message_text(self) -> str:
        try:
            return self.message_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def error_text(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def messages(self) -> list[SipTraceMessage]:
        if self._msgs is None:
            self._msgs = parse_message_log(self.message_text())
        return self._msgs

    def find(self, direction: str | None = None, what: str | int | None = None) -> list[SipTraceMessage]:
        """Messages filtered by direction ("sent"/"received"/None) and by a
        request method (``"BYE"``) or response status (``480``)."""
        return filter_messages(self.messages(), direction, what)

    def statuses_received(self) -> list[int]:
        return [m.status for m in self.messages() if m.direction == "received" and m.status is not None]

    def last_status_received(self) -> int | None:
        s = self.statuses_received()
        return s[-1] if s else None

    def describe(self) -> str:
        """Multi-line diagnostic text (for assertion messages)."""
        msgs = "\n".join(f"  {m.direction:8s} {m.first_line}" for m in self.messages())
        return (
            f"sipp rc={self.returncode} successful={self.successful} failed={self.failed} "
            f"calls={self.calls} killed={self.killed} elapsed={self.elapsed:.2f}s\n"
            f"cmd: {shlex.join(self.cmd)}\n"
            f"messages:\n{msgs}\n"
            f"errors:\n{self.error_text()[-3000:]}\n"
            f"stderr:\n{self.stderr[-2000:]}"
        )

    def assert_ok(self) -> "SippResult":
        if not self.ok:
            raise AssertionError(self.describe())
        return self


def _parse_stat_csv(path: Path) -> tuple[int, int] | None:
    try:
        rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    except FileNotFoundError:
        return None
    rows = [r for r in rows if r]
    if len(rows) < 2:
        return None
    header, last = rows[0], rows[-1]
    try:
        s = int(last[header.index("SuccessfulCall(C)")])
        f = int(last[header.index("FailedCall(C)")])
    except (ValueError, IndexError):
        return None
    return s, f


def _parse_screen(text: str) -> tuple[int, int] | None:
    s = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    f = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    if s and f:
        return int(s[-1]), int(f[-1])
    return None


# --------------------------------------------------------------------------
# Process
# --------------------------------------------------------------------------


class SippProcess:
    """A running SIPp (from :func:`start_sipp`).  ``wait(timeout)`` -> SippResult;
    ``kill()``; context manager kills on exit.  ``port``: SIPp's SIP port
    (e.g. the Contact port to register a SIPp UAS), ``media_port``."""

    def __init__(self, proc: subprocess.Popen, info: dict) -> None:
        self._proc = proc
        self._info = info
        self.port: int = info["port"]
        self.media_port: int = info["media_port"]
        self.cmd: list[str] = info["cmd"]
        self.timeout: float = info["timeout"]
        self._started = time.monotonic()
        self._result: SippResult | None = None
        self._killed = False

    @property
    def pid(self) -> int:
        return self._proc.pid

    def messages(self) -> list[SipTraceMessage]:
        """SIP messages traced so far (SIPp writes the trace as it goes)."""
        try:
            text = Path(self._info["message_log"]).read_text(errors="replace")
        except FileNotFoundError:
            return []
        return parse_message_log(text)

    def wait_message(
        self, direction: str | None = None, what: str | int | None = None, timeout: float = 10.0
    ) -> SipTraceMessage | None:
        """Poll the live trace (every 50 ms, bounded) until a matching message
        appears, e.g. ``wait_message("received", 200)`` for the answer (its
        ``sdp_audio()`` tells where the callee wants RTP).  None on timeout or
        if SIPp exited without it."""
        deadline = time.monotonic() + timeout
        while True:
            found = filter_messages(self.messages(), direction, what)
            if found:
                return found[0]
            if self._proc.poll() is not None or time.monotonic() >= deadline:
                found = filter_messages(self.messages(), direction, what)
                return found[0] if found else None
            time.sleep(0.05)

    def poll(self) -> int | None:
        return self._proc.poll()

    def running(self) -> bool:
        return self._proc.poll() is None

    def kill(self) -> None:
        """Kill SIPp's process group (SIGTERM, then SIGKILL); idempotent."""
        if self._proc.poll() is None:
            self._killed = True
        kill_process_group(self._proc, 3.0)

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for exit (default: SIPp's own timeout + 10 s), kill on expiry,
        and return the parsed :class:`SippResult`."""
        if self._result is not None:
            return self._result
        if timeout is None:
            timeout = max(0.0, self._started + self.timeout + 10.0 - time.monotonic())
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        kill_process_group(self._proc, 3.0)  # stray group members (none expected)
        self._result = self._collect()
        return self._result

    def _collect(self) -> SippResult:
        info = self._info
        for fh in info["fhs"]:
            fh.close()
        stdout = Path(info["stdout"]).read_text(errors="replace")
        stderr = Path(info["stderr"]).read_text(errors="replace")
        counts = _parse_stat_csv(info["stat_csv"])
        if counts is None:
            screen = ""
            try:
                screen = info["screen_log"].read_text(errors="replace")
            except FileNotFoundError:
                pass
            counts = _parse_screen(screen) or _parse_screen(stdout) or (0, 0)
        rc = self._proc.returncode
        if rc is not None and rc < 0:  # killed by signal
            rc = 128 - rc
        return SippResult(
            returncode=rc if rc is not None else -1,
            successful=counts[0],
            failed=counts[1],
            calls=info["calls"],
            stdout=stdout,
            stderr=stderr,
            cmd=self.cmd,
            scenario=info["scenario"],
            message_log=info["message_log"],
            error_log=info["error_log"],
            stat_csv=info["stat_csv"],
            screen_log=info["screen_log"],
            elapsed=time.monotonic() - self._started,
            killed=self._killed,
            port=self.port,
            media_port=self.media_port,
        )

    def __enter__(self) -> "SippProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._result is None:
            self.kill()
            self.wait(5.0)

    def __del__(self) -> None:
        try:
            if self._proc.poll() is None:
                kill_process_group(self._proc, 1.0)
        except Exception:
            pass


def start_sipp(
    scenario: str | Path,
    target: str | None = None,
    *,
    workdir: Path | str,
    keys: Mapping[str, object] | None = None,
    calls: int = 1,
    rate: float | None = None,
    concurrent: int | None = None,
    timeout: float = 30,
    service: str = "callbot",
    from_user: str | None = None,
    extra_headers: Sequence[str] | str | None = None,
    auth: tuple[str, str] | None = None,
    port: int | None = None,
    media_port: int | None = None,
    extra_args: Iterable[str] = (),
    name: str | None = None,
) -> SippProcess:
    """Start SIPp without waiting.  Arguments as for :func:`run_sipp`."""
    binary = sipp_binary()
    if binary is None:
        raise SippError("sipp not found (apt-get install sip-tester)")
    if target is not None:
        host = target.rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost") and not host.startswith("127."):
            raise ValueError(f"rig only targets loopback, not {target!r}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    src = scenario_path(scenario)
    with _counter_lock:
        n = next(_counter)
    stem = name or f"{src.stem}-{os.getpid()}-{n}"
    port = port or free_udp_port()
    media_port = media_port or free_udp_port(4)
    ctrl_port = free_udp_port()

    allkeys = dict(DEFAULT_KEYS)
    allkeys["sink_port"] = str(media_port)
    if from_user is not None:
        allkeys["caller"] = from_user
    for k, v in (keys or {}).items():
        allkeys[k] = "" if v is None else str(v)
    if extra_headers is not None:
        if isinstance(extra_headers, str):
            lines = [ln for ln in extra_headers.replace("\r\n", "\n").split("\n") if ln.strip()]
        else:
            lines = [str(ln) for ln in extra_headers]
        for ln in lines:
            if ":" not in ln or "\n" in ln or "\r" in ln:
                raise ValueError(f"bad extra header line {ln!r}")
        allkeys["extra_headers"] = "\r\n".join(lines)
    if allkeys.get("pcap"):
        allkeys["pcap"] = str(Path(allkeys["pcap"]).resolve())

    rendered = render_scenario(src, allkeys, workdir / f"{stem}.xml")
    message_log = workdir / f"{stem}.messages.log"
    error_log = workdir / f"{stem}.errors.log"
    stat_csv = workdir / f"{stem}.stat.csv"
    screen_log = workdir / f"{stem}.screen.log"
    stdout_path = workdir / f"{stem}.stdout"
    stderr_path = workdir / f"{stem}.stderr"

    cmd = [binary]
    if target is not None:
        cmd.append(target)
    cmd += [
        "-sf", str(rendered),
        "-s", service,
        "-i", LOOPBACK, "-p", str(port),
        "-mi", LOOPBACK, "-mp", str(media_port),
        "-ci", LOOPBACK, "-cp", str(ctrl_port),
        "-bind_local",
        "-t", "u1",
        "-m", str(int(calls)),
        "-timeout", f"{max(1, int(round(timeout)))}s", "-timeout_error",
        "-nostdin",
        "-trace_msg", "-message_file", str(message_log),
        "-trace_err", "-error_file", str(error_log),
        "-trace_stat", "-stf", str(stat_csv), "-fd", "1",
        "-trace_screen", "-screen_file", str(screen_log),
    ]
    if rate is not None:
        cmd += ["-r", str(rate)]
    if concurrent is not None:
        cmd += ["-l", str(int(concurrent))]
    if auth is not None:
        cmd += ["-au", auth[0], "-ap", auth[1]]
    for k, v in allkeys.items():
        cmd += ["-key", k, v]
    cmd += list(extra_args)

    out_fh = open(stdout_path, "wb")
    err_fh = open(stderr_path, "wb")
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out_fh,
            stderr=err_fh,
            cwd=workdir,
            start_new_session=True,
        )
    except BaseException:
        out_fh.close()
        err_fh.close()
        raise
    return SippProcess(
        proc,
        {
            "cmd": cmd,
            "port": port,
            "media_port": media_port,
            "timeout": float(timeout),
            "calls": int(calls),
            "scenario": rendered,
            "message_log": message_log,
            "error_log": error_log,
            "stat_csv": stat_csv,
            "screen_log": screen_log,
            "stdout": stdout_path,
            "stderr": stderr_path,
            "fhs": (out_fh, err_fh),
        },
    )


def run_sipp(
    scenario: str | Path,
    target: str | None = None,
    *,
    workdir: Path | str,
    keys: Mapping[str, object] | None = None,
    calls: int = 1,
    rate: float | None = None,
    concurrent: int | None = None,
    timeout: float = 30,
    service: str = "callbot",
    from_user: str | None = None,
    extra_headers: Sequence[str] | str | None = None,
    auth: tuple[str, str] | None = None,
    port: int | None = None,
    media_port: int | None = None,
    extra_args: Iterable[str] = (),
    name: str | None = None,
) -> SippResult:
    """Run a SIPp scenario to completion and return a :class:`SippResult`.

    scenario:    bundled name (``"uac_call"``) or path.
    target:      ``"127.0.0.1:<port>"`` -- normally ``kamailio.address``
                 (None only for a UAS that never sends a request first).
    keys:        values for ``[name]`` in the scenario (see DEFAULT_KEYS).
    calls:       ``-m``; rate ``-r`` (calls/s); concurrent ``-l``.
    timeout:     SIPp's ``-timeout`` (s, with ``-timeout_error``); the
                 process is killed if still alive 10 s later.
    service:     ``-s`` -> ``[service]``, the callee user (``callbot``).
    from_user:   ``[caller]`` (From user part).
    extra_headers: header lines (list or newline-separated str) inserted at
                 ``[extra_headers]`` (uac_call/uac_caller_bye/uac_cancel/uac_play).
    auth:        ``(user, password)`` -> ``-au``/``-ap`` for ``[authentication]``.
    port, media_port: fixed SIPp ports (default: free ones).
    """
    proc = start_sipp(
        scenario,
        target,
        workdir=workdir,
        keys=keys,
        calls=calls,
        rate=rate,
        concurrent=concurrent,
        timeout=timeout,
        service=service,
        from_user=from_user,
        extra_headers=extra_headers,
        auth=auth,
        port=port,
        media_port=media_port,
        extra_args=extra_args,
        name=name,
    )
    try:
        return proc.wait()
    finally:
        proc.kill()
