"""Real third-party SIP clients as callers: linphone (``linphonec``) and baresip.

Both run with files instead of a sound card and call through the rig's
Kamailio (they register there first, as desk phones do). Everything --
Kamailio, the bot, the softphones -- runs inside one private network
namespace (:func:`private_netns`) that has nothing but ``lo``: no packet of
a softphone (STUN, DNS, UPnP, a stray default route) can leave the machine.

Usage::

    with private_netns():                        # the test's thread is now inside
        with Kamailio(tmp / "kam", known_users=("callbot", CALLER)) as kam, running_bot(cfg):
            with Linphone(tmp / "lin", kam, source=wav) as phone:
                phone.call("callbot")
                phone.wait_ended(timeout=40)
            rec = read_wav(phone.recording)      # what the caller heard

Debian packages: ``linphone-cli`` (linphonec 5.1) and ``baresip`` (1.0).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Sequence

from .kamailio import Kamailio, kill_process_group
from .rtp import free_udp_port
from .softphones_support import netns_unavailable, private_netns, sdp_bodies, sdp_codecs

__all__ = ["private_netns", "netns_unavailable", "Linphone", "Baresip", "sdp_codecs"]


# --------------------------------------------------------------------------
# Common process handling
# --------------------------------------------------------------------------


class _Softphone:
    binary = ""
    user = "03012345678"

    def __init__(self, workdir: Path, kam: Kamailio, *, source: Path, user: str | None = None,
                 codecs: Sequence[str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kam = kam
        self.source = Path(source)
        self.user = user or self.user
        self.codecs = list(codecs) if codecs else None  # None: the client's defaults
        self.sip_port = free_udp_port()
        self.log_path = self.workdir / "client.log"
        self.out_path = self.workdir / "console.log"
        self.proc: subprocess.Popen | None = None

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.binary) is not None

    def _spawn(self, cmd: list[str], **kw) -> None:
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, cwd=self.workdir,
                                     start_new_session=True, **kw)

    def console(self) -> str:
        try:
            return self.out_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern: str, timeout: float, text=None) -> bool:
        """Poll (bounded) until ``pattern`` (regex) shows up in the console (or ``text()``)."""
        text = text or self.console
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, text()):
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return bool(re.search(pattern, text()))
            time.sleep(0.1)
        return False

    def offer_codecs(self) -> list[str]:
        """Codecs of the client's own INVITE offer (first one)."""
        bodies = sdp_bodies(self.log(), "INVITE sip:")
        return sdp_codecs(bodies[0]) if bodies else []

    def answer_codecs(self) -> list[str]:
        """Codecs of the 200 OK answer the client received for its INVITE (the first one)."""
        answers = self.answers()
        return sdp_codecs(answers[0]) if answers else []

    def answers(self) -> list[str]:
        """Every 200 OK with SDP to an INVITE (the call's, then re-INVITEs'), in log order."""
        return [m for m in sdp_bodies(self.log(), "SIP/2.0 200 OK") if re.search(r"CSeq: *\d+ INVITE", m)]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_process_group(proc, grace=3.0)
        if proc is not None and proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
        if getattr(self, "_out", None):
            self._out.close()
            self._out = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()  # a client that did not come up is not left running
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------
# linphone (linphonec, the console client of liblinphone 5.1)
# --------------------------------------------------------------------------

# Codecs liblinphone 5.1 enables by default (offer order): opus, speex/16000,
# speex/8000, PCMU, PCMA, G729; G722 (on its 8000 Hz RTP clock) it has but leaves off.
# Codecs missing from the rc are added *with their default enablement*, so a
# restricted set must disable the others.
_LINPHONE_DEFAULT_ON = [("opus", 48000, 2), ("speex", 16000, 1), ("speex", 8000, 1),
                        ("PCMU", 8000, 1), ("PCMA", 8000, 1), ("G729", 8000, 1), ("G722", 8000, 1)]


class Linphone(_Softphone):
    """``linphonec`` with a fresh rc: registers at ``kam`` as ``user``, sound from/to WAV files.

    ``codecs=None`` keeps linphone's default codec list (opus first);
    ``codecs=["PCMA"]`` enables only those. ``withhold=True`` sets the account's
    privacy to "id" (linphone's "hide my number"): ``From: "Anonymous"
    <sip:anonymous@anonymous.invalid>``, ``Privacy: id`` and the account in
    ``P-Preferred-Identity``.
    Changed from linphone's defaults, for the rig: no GRUU in ``Supported``
    (the rig's Kamailio would relay in-dialog requests to a GRUU to port 5060),
    no TCP/TLS listener, STUN/ICE/UPnP off (firewall policy "none").
    """

    binary = "linphonec"

    def __init__(self, *a, withhold: bool = False, **kw) -> None:
        super().__init__(*a, **kw)
        self.withhold = withhold
        self.recording = self.workdir / "heard.wav"
        self.rtp_port = free_udp_port(count=4)

    def _rc(self) -> str:
        kam = self.kam.port
        lines = [
            "[sip]", f"sip_port={self.sip_port}", "sip_tcp_port=0", "sip_tls_port=0",
            "default_proxy=0", "supported=replaces, outbound",
            "[rtp]", f"audio_rtp_port={self.rtp_port}", f"video_rtp_port={self.rtp_port + 2}",
            "[net]", "firewall_policy=0", "stun_server=",
            "[video]", "capture=0", "display=0", "automatically_initiate=0",
            "[proxy_0]", f"reg_proxy=<sip:127.0.0.1:{kam};transport=udp>",
            f"reg_identity=sip:{self.user}@127.0.0.1:{kam}",
            "reg_expires=60", "reg_sendregister=1", "publish=0",
        ]
        if self.withhold:  # LinphonePrivacyId: From "Anonymous" <sip:anonymous@anonymous.invalid>,
            lines.append("privacy=8")  # Privacy: id, P-Preferred-Identity: the account
        if self.codecs is not None:
            wanted = {c.upper() for c in self.codecs}
            for i, (mime, rate, channels) in enumerate(_LINPHONE_DEFAULT_ON):
                lines += [f"[audio_codec_{i}]", f"mime={mime}", f"rate={rate}", f"channels={channels}",
                          f"enabled={int(mime.upper() in wanted)}"]
        return "\n".join(lines) + "\n"

    def start(self) -> "Linphone":
        home = self.workdir / "home"
        (home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)  # its call-log db
        rc = self.workdir / "linphonerc"
        rc.write_text(self._rc())
        env = dict(os.environ, HOME=str(home))
        env.pop("DISPLAY", None)
        self._spawn(["linphonec", "-c", str(rc), "-d", "5", "-l", str(self.log_path)],
                    stdin=subprocess.PIPE, env=env)
        for command in ("soundcard use files", f"play {self.source}", f"record {self.recording}"):
            self.send(command)
        if not self.wait_for(r"to \[LinphoneRegistrationOk\]", 15, self.log):
            raise RuntimeError(f"linphone did not register:\n{self.console()[-2000:]}")
        return self

    def send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def call(self, callee: str = "callbot") -> None:
        self.send(f"call sip:{callee}@127.0.0.1:{self.kam.port}")

    def wait_connected(self, timeout: float = 20) -> bool:
        return self.wait_for(r"Call \d+ with .* connected", timeout)

    def wait_ended(self, timeout: float = 40) -> bool:
        return self.wait_for(r"Call \d+ with .* (ended|error)", timeout)

    def pause(self) -> None:
        self.send("pause")

    def resume(self) -> None:
        self.send("resume")

    def dtmf(self, digits: str) -> None:
        self.send(digits)  # a line of digits is sent as DTMF (RFC 4733, ~1 s per digit) during a call

    def dtmf_sent(self) -> int:
        return self.log().count("Finished sending RFC2833 dtmf")

    def hangup(self) -> None:
        self.send("terminate")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired, AssertionError):
                pass
        super().stop()


# --------------------------------------------------------------------------
# baresip 1.0 (ctrl_tcp for commands and events)
# --------------------------------------------------------------------------


class Baresip(_Softphone):
    """``baresip`` with a fresh config dir: registers at ``kam``; ``aufile`` plays ``source``,
    ``sndfile`` dumps the decoded received audio (``recording``).

    Codec modules are loaded opus first, then G.711, as baresip's shipped config
    lists them (Debian's generated default comments opus out); ``codecs=["PCMU"]``
    restricts the account (``;audio_codecs=``); ``codecs=["G722"]`` also loads ``g722.so``. baresip ends the call when the
    source file ends, so ``source`` must be longer than the call.
    No STUN/TURN/ICE modules; DNS points at 127.0.0.1 (unused: numeric URIs).
    """

    binary = "baresip"

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.ctrl_port = free_udp_port()
        self.events: list[dict] = []
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None

    @property
    def recording(self) -> Path:
        found = sorted(self.workdir.glob("dump-*-dec.wav"))
        return found[-1] if found else self.workdir / "dump-missing-dec.wav"

    def start(self) -> "Baresip":
        d = self.workdir
        (d / "config").write_text(
            f"poll_method epoll\nsip_listen 127.0.0.1:{self.sip_port}\nnet_interface 127.0.0.1\n"
            "dns_server 127.0.0.1:53\ncall_local_timeout 60\n"
            f"audio_player aubridge,heard\naudio_alert aubridge,alert\naudio_source aufile,{self.source}\n"
            "module_path /usr/lib/baresip/modules\n"
            "module opus.so\nmodule g711.so\n"
            + ("module g722.so\n" if "G722" in (self.codecs or ()) else "")
            + "module aufile.so\nmodule aubridge.so\nmodule sndfile.so\n"
            "module_tmp uuid.so\nmodule_tmp account.so\nmodule_app menu.so\nmodule ctrl_tcp.so\n"
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}\nsnd_path {d}\n"
        )
        # baresip names a codec by its sample rate, G.722 as G722/16000/1 (bare "G722" means 8000)
        names = [{"G722": "G722/16000/1"}.get(c.upper(), c) for c in self.codecs or ()]
        codecs = f";audio_codecs={','.join(names)}" if names else ""
        (d / "accounts").write_text(
            f"<sip:{self.user}@127.0.0.1:{self.kam.port}>;regint=60;pubint=0;mwi=no{codecs}\n")
        # -s: SIP trace (our "SIP log"), -4: IPv4 only
        self._spawn(["baresip", "-4", "-s", "-f", str(d)], stdin=subprocess.DEVNULL)
        self.log_path = self.out_path
        deadline = time.monotonic() + 10
        while self._sock is None:
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"baresip did not start:\n{self.console()[-2000:]}")
                time.sleep(0.1)
        self._reader = threading.Thread(target=self._read_events, name="baresip-events", daemon=True)
        self._reader.start()
        if not self.wait_for(r"\{0/UDP/v4\} 200 OK", 15):
            raise RuntimeError(f"baresip did not register:\n{self.console()[-2000:]}")
        return self

    def _read_events(self) -> None:
        buf = b""
        sock = self._sock
        sock.settimeout(None)
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b":" in buf:  # netstrings: <len>:<json>,
                head, rest = buf.split(b":", 1)
                if not head.isdigit() or len(rest) < int(head) + 1:
                    break
                n = int(head)
                try:
                    self.events.append(json.loads(rest[:n]))
                except ValueError:
                    pass
                buf = rest[n + 1:]

    def command(self, command: str, params: str = "") -> None:
        data = json.dumps({"command": command, "params": params, "token": command}).encode()
        assert self._sock is not None
        self._sock.sendall(b"%d:%s," % (len(data), data))

    def event_types(self) -> list[str]:
        return [e.get("type", "") for e in list(self.events) if e.get("event")]

    def _events_text(self) -> str:
        return "\n".join(self.event_types())

    def call(self, callee: str = "callbot") -> None:
        self.command("dial", f"sip:{callee}@127.0.0.1:{self.kam.port}")

    def wait_connected(self, timeout: float = 20) -> bool:
        return self.wait_for(r"CALL_ESTABLISHED", timeout, self._events_text)

    def wait_ended(self, timeout: float = 40) -> bool:
        return self.wait_for(r"CALL_CLOSED", timeout, self._events_text)

    def closed_reason(self) -> str:
        return next((e.get("param", "") for e in self.events if e.get("type") == "CALL_CLOSED"), "")

    def hangup(self) -> None:
        self.command("hangup")

    def dtmf(self, digits: str) -> None:
        for digit in digits:
            self.command("sndcode", digit)
            time.sleep(0.25)

    def dtmf_sent(self) -> int:
        return self.console().count("send DTMF digit end")

    def stop(self) -> None:
        if self._sock is not None:
            try:
                self.command("quit")
            except OSError:
                pass
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
            self._sock.close()
            self._sock = None
        super().stop()
        if self._reader is not None:
            self._reader.join(timeout=2)
