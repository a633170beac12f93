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

from .kamailio import Kamailio, free_tcp_port, kill_process_group
from .rtp import free_udp_port
from .softphones_support import (netns_unavailable, private_netns, sdp_bodies, sdp_codecs, sdp_crypto,
                                 sdp_profile)

__all__ = ["private_netns", "netns_unavailable", "Linphone", "Baresip", "sdp_codecs"]


# --------------------------------------------------------------------------
# Common process handling
# --------------------------------------------------------------------------


def _free_port_pair() -> int:
    """An even port ``p`` with ``p`` and ``p + 1`` free for UDP and for a TCP listener (bounded)."""
    for _ in range(50):
        base = free_udp_port(count=2)
        try:
            for port in (base, base + 1):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


class _Softphone:
    binary = ""
    user = "03012345678"

    def __init__(self, workdir: Path, kam: Kamailio, *, source: Path, user: str | None = None,
                 codecs: Sequence[str] | None = None, transport: str = "udp",
                 ca_file: Path | str | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kam = kam
        self.source = Path(source)
        self.user = user or self.user
        self.codecs = list(codecs) if codecs else None  # None: the client's defaults
        if transport not in ("udp", "tls"):
            raise ValueError(f"transport must be 'udp' or 'tls', not {transport!r}")
        self.transport = transport
        self.ca_file: Path | None = None
        if transport == "tls":
            if kam.tls_port is None:
                raise ValueError("transport='tls' needs Kamailio(..., tls=True)")
            self.ca_file = Path(ca_file or kam.ca_file)
        elif ca_file is not None:
            raise ValueError("ca_file is only used with transport='tls'")
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

    # -- media encryption as negotiated in the SDP (RFC 4568 SDES) ----------

    def offers(self) -> list[str]:
        """The client's own INVITEs with SDP (the call's, then re-INVITEs'), in log order."""
        return sdp_bodies(self.log(), "INVITE sip:")

    def offer_profile(self) -> str | None:
        """Transport profile of the client's first offer: ``"RTP/AVP"`` or ``"RTP/SAVP"`` (None: no offer)."""
        offers = self.offers()
        return sdp_profile(offers[0]) if offers else None

    def offer_crypto(self) -> list[str]:
        """Crypto suites of the ``a=crypto`` lines of the client's first offer, in order."""
        offers = self.offers()
        return sdp_crypto(offers[0]) if offers else []

    def answer_profile(self) -> str | None:
        """Transport profile of the 200 OK answer to the client's INVITE (None: no answer)."""
        answers = self.answers()
        return sdp_profile(answers[0]) if answers else None

    def answer_crypto(self) -> list[str]:
        """Crypto suites of the answer's ``a=crypto`` lines (one when SDES was accepted)."""
        answers = self.answers()
        return sdp_crypto(answers[0]) if answers else []

    def invite_statuses(self) -> list[int]:
        """Status codes of every response to an INVITE in the client's SIP log, in log order
        (e.g. ``[100, 480]``; a response logged twice, as linphone may, is listed twice)."""
        out = []
        for m in re.finditer(r"SIP/2\.0 (\d{3}) .*?(?=\n\d{4}-\d\d-\d\d \d\d:|\n\x1b|\n#|\Z)", self.log(), re.S):
            if re.search(r"^CSeq: *\d+ INVITE", m.group(0), re.M | re.I):
                out.append(int(m.group(1)))
        return out

    def callee_uri(self, callee: str) -> str:
        """The request URI the client dials for ``callee`` at the rig's Kamailio."""
        if self.transport == "tls":
            return f"sip:{callee}@127.0.0.1:{self.kam.tls_port};transport=tls"
        return f"sip:{callee}@127.0.0.1:{self.kam.port}"

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

    ``transport="tls"`` (needs ``Kamailio(..., tls=True)``): no UDP/TCP listener, a TLS one
    on ``sip_port``; registers and calls through ``kam.tls_port`` (``reg_proxy`` and
    ``reg_route`` ``;transport=tls``) and verifies Kamailio's certificate and name against
    ``ca_file`` (default ``kam.ca_file``; ``root_ca``, ``verify_server_certs=1``,
    ``verify_server_cn=1``). ``media_encryption="srtp"`` offers SDES-SRTP (RFC 4568; linphone
    5.1 offers AES_CM_128_HMAC_SHA1_80, _32, AES_256_CM_HMAC_SHA1_80, _32 in that order);
    ``mandatory=True`` offers it as ``RTP/SAVP`` and refuses a call without it.
    """

    binary = "linphonec"

    def __init__(self, *a, withhold: bool = False, media_encryption: str | None = None,
                 mandatory: bool = False, **kw) -> None:
        super().__init__(*a, **kw)
        if media_encryption not in (None, "none", "srtp"):
            raise ValueError(f"media_encryption must be None, 'none' or 'srtp', not {media_encryption!r}")
        self.withhold = withhold
        self.media_encryption = media_encryption
        self.mandatory = bool(mandatory)
        if self.transport == "tls":
            self.sip_port = free_tcp_port()  # linphone's TLS listener (a TCP port)
        self.recording = self.workdir / "heard.wav"
        self.rtp_port = free_udp_port(count=4)

    def _rc(self) -> str:
        if self.transport == "tls":
            kam = self.kam.tls_port
            sip = ["sip_port=0", "sip_tcp_port=0", f"sip_tls_port={self.sip_port}"]
            proxy = [f"reg_proxy=<sip:127.0.0.1:{kam};transport=tls>",
                     f"reg_route=<sip:127.0.0.1:{kam};transport=tls;lr>"]
            tls = [f"root_ca={self.ca_file}", "verify_server_certs=1", "verify_server_cn=1",
                   # In the rig's namespace (only lo) linphone's network monitor sees no address but
                   # 127.0.0.1 and ::1 and, 5 s after start, declares the network DOWN and resets its
                   # transports: harmless over UDP, but over TLS that closes the connection Kamailio
                   # relays the bot's BYE down (477, measured). Without IPv6 the monitor never sees
                   # "::1" and keeps the network UP (ipv6_migration_done: or linphone's one-time
                   # migration turns IPv6 back on). (auto_net_state_mon=0 instead leaves the network
                   # DOWN: then linphonec never registers.)
                   "use_ipv6=0", "ipv6_migration_done=1"]
        else:
            kam = self.kam.port
            sip = [f"sip_port={self.sip_port}", "sip_tcp_port=0", "sip_tls_port=0"]
            proxy = [f"reg_proxy=<sip:127.0.0.1:{kam};transport=udp>"]
            tls = []
        media = []
        if self.media_encryption is not None:
            media = [f"media_encryption={self.media_encryption}",
                     f"media_encryption_mandatory={int(self.mandatory)}"]
        lines = [
            "[sip]", *sip,
            "default_proxy=0", "supported=replaces, outbound", *media, *tls,
            "[rtp]", f"audio_rtp_port={self.rtp_port}", f"video_rtp_port={self.rtp_port + 2}",
            "[net]", "firewall_policy=0", "stun_server=",
            "[video]", "capture=0", "display=0", "automatically_initiate=0",
            "[proxy_0]", *proxy,
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
        self.send(f"call {self.callee_uri(callee)}")

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

    ``transport="tls"`` (needs ``Kamailio(..., tls=True)``): registers and calls through
    ``kam.tls_port`` (``;transport=tls`` in the account's URI, ``sip_cafile`` = ``ca_file``,
    default ``kam.ca_file``). baresip 1.0 does *not* verify the server's certificate (it has
    no such setting), so it cannot show that a bad certificate is refused. Its own TLS
    listener is on ``sip_port + 1`` and accepts nothing (no certificate): requests reach it
    down its own connection (Kamailio's contact alias). ``mediaenc="srtp-mand"`` loads
    ``srtp.so`` and makes the account's calls SDES-SRTP only (``RTP/SAVP``); ``"srtp"``
    offers it as ``RTP/AVP`` with ``a=crypto`` (best effort), ``"srtp-mandf"`` like
    ``srtp-mand`` but also forces it on incoming calls.
    """

    binary = "baresip"

    def __init__(self, *a, mediaenc: str | None = None, **kw) -> None:
        super().__init__(*a, **kw)
        if mediaenc not in (None, "srtp", "srtp-mand", "srtp-mandf"):
            raise ValueError(f"mediaenc must be None, 'srtp', 'srtp-mand' or 'srtp-mandf', not {mediaenc!r}")
        self.mediaenc = mediaenc
        if self.transport == "tls":
            self.sip_port = _free_port_pair()  # baresip 1.0: UDP+TCP on sip_port, TLS on sip_port + 1
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
        tls = self.transport == "tls"
        (d / "config").write_text(
            f"poll_method epoll\nsip_listen 127.0.0.1:{self.sip_port}\n"
            + (f"sip_cafile {self.ca_file}\n" if tls else "")
            + "net_interface 127.0.0.1\n"
            "dns_server 127.0.0.1:53\ncall_local_timeout 60\n"
            f"audio_player aubridge,heard\naudio_alert aubridge,alert\naudio_source aufile,{self.source}\n"
            "module_path /usr/lib/baresip/modules\n"
            "module opus.so\nmodule g711.so\n"
            + ("module g722.so\n" if "G722" in (self.codecs or ()) else "")
            + "module aufile.so\nmodule aubridge.so\nmodule sndfile.so\n"
            + ("module srtp.so\n" if self.mediaenc else "")
            + "module_tmp uuid.so\nmodule_tmp account.so\nmodule_app menu.so\nmodule ctrl_tcp.so\n"
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}\nsnd_path {d}\n"
        )
        # baresip names a codec by its sample rate, G.722 as G722/16000/1 (bare "G722" means 8000)
        names = [{"G722": "G722/16000/1"}.get(c.upper(), c) for c in self.codecs or ()]
        codecs = f";audio_codecs={','.join(names)}" if names else ""
        mediaenc = f";mediaenc={self.mediaenc}" if self.mediaenc else ""
        registrar = f"{self.kam.tls_port};transport=tls" if tls else f"{self.kam.port}"
        (d / "accounts").write_text(
            f"<sip:{self.user}@127.0.0.1:{registrar}>;regint=60;pubint=0;mwi=no{codecs}{mediaenc}\n")
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
        if not self.wait_for(r"\{0/TLS/v4\} 200 OK" if tls else r"\{0/UDP/v4\} 200 OK", 15):
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
        # over TLS without ";transport=tls": baresip appends the account's transport itself
        # (it dialled "...;transport=tls;transport=tls" when given one)
        port = self.kam.tls_port if self.transport == "tls" else self.kam.port
        self.command("dial", f"sip:{callee}@127.0.0.1:{port}")

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
