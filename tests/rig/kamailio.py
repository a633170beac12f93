"""Throw-away Kamailio SIP proxy/registrar on 127.0.0.1 for integration tests.

Usage::

    from tests.rig.kamailio import Kamailio

    with Kamailio(tmp_path / "kam") as kam:          # picks a free UDP port
        print(kam.port, kam.uri("callbot"))          # sip:callbot@127.0.0.1:<port>
        ... start the bot, let it REGISTER as ``callbot`` to 127.0.0.1:kam.port ...
        assert kam.wait_registered("callbot", timeout=5)
        ... run SIPp callers against f"127.0.0.1:{kam.port}" ...
        kam.restart()                                # same port, location table empty

What the generated ``kamailio.cfg`` does (see :data:`_CFG_TEMPLATE`):

* listens on ``udp:127.0.0.1:<port>`` only, TCP disabled, ``children=1``
  (one UDP worker: with two workers a 180 and a 200 arriving ~1 ms apart
  were forwarded out of order and SIPp aborted the call);
* ``REGISTER`` -> ``save("location", "0x04")``: usrloc ``db_mode=0`` (memory
  only) and *one contact per AOR*, so a restarted bot replaces its stale
  contact.  Optional digest auth (``auth={"callbot": "secret"}``): the
  challenge carries ``qop="auth"``; a wrong password is answered ``403``;
  the auth user must equal the To user;
* ``INVITE`` etc. to ``sip:<user>@127.0.0.1:<port>``: users not in
  ``known_users`` -> ``404 Not Found``; known but not registered ->
  ``480 Temporarily Unavailable``; otherwise relayed to the registered contact.
  Initial INVITEs are record-routed (``record_route()``), so ACK/BYE/re-INVITE
  traverse the proxy and are handled by ``loose_route()``;
* ``OPTIONS`` to the server itself (no user part) -> ``200 Rig Alive``
  (readiness probe, :meth:`Kamailio.ping`); ``OPTIONS`` to a user is
  relayed like an INVITE;
* ``OPTIONS`` with header ``X-Rig-Query: location`` -> ``200 Registered``
  (with ``X-Rig-Contact-Count`` and one ``X-Rig-Contact: <uri>;expires=<unix>``
  header per contact) or ``404 Not Registered``.  This is how
  :meth:`Kamailio.registered` / :meth:`Kamailio.contacts` query the location
  table: plain SIP over UDP, no ``kamcmd``/ctl socket and no log parsing
  (the log is still written and has one ``RIG-REGISTER`` line per REGISTER).
  Chosen over ``kamcmd ul.dump`` (needs the ctl module and a unix socket
  whose path must stay < 108 bytes, awkward in deep pytest tmp dirs) and
  over log parsing (can't see expiry, racy); it asks usrloc itself
  (``registered("location")`` honours expiry);
* the sanity module runs all checks except Content-Length (optional on UDP);
* safety net: a request whose next hop is not ``127.x.x.x`` is refused with
  ``502 Rig Refuses Non-Loopback`` instead of being sent anywhere (e.g. a
  bot that registered ``Contact: <sip:callbot@0.0.0.0:...>`` or a LAN IP:
  the REGISTER succeeds, calls get 502 and the log has ``RIG-REFUSED``).
* every request is logged as ``RIG-REQ <method> <ruri> from <ip:port> ci=<call-id>``
  (plus ``RIG-RELAY``/``RIG-REPLY``/``RIG-NOT-REGISTERED``/``RIG-AUTH-*`` lines).

Kamailio runs in the foreground (``-DD -E``) in its own process group, with
``-Y <workdir>/run`` (runtime dir, so nothing under /var/run is touched),
``-P <workdir>/kamailio.pid`` and ``-w <workdir>``; stdout+stderr go to
``<workdir>/kamailio.log`` (:meth:`Kamailio.log_text`).  :meth:`stop` sends
SIGTERM to the process group, then SIGKILL after a bounded wait.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from .rtp import free_udp_port

__all__ = [
    "Kamailio",
    "KamailioError",
    "SipResponse",
    "sip_request",
    "kamailio_binary",
    "kill_process_group",
]

LOOPBACK = "127.0.0.1"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9._~+\-]+$")


class KamailioError(RuntimeError):
    """Kamailio failed to start/answer; the message includes the log tail."""


def kamailio_binary() -> str | None:
    """Path of the kamailio binary, or None (tests should then skip)."""
    found = shutil.which("kamailio")
    if found:
        return found
    return "/usr/sbin/kamailio" if os.access("/usr/sbin/kamailio", os.X_OK) else None


# --------------------------------------------------------------------------
# Minimal SIP-over-UDP client (used for readiness probes and location queries)
# --------------------------------------------------------------------------


@dataclass
class SipResponse:
    """A parsed SIP response: status code, reason, headers (lower-case names)."""

    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    raw: str = ""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def _parse_response(data: bytes) -> SipResponse | None:
    text = data.decode("utf-8", "replace")
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    m = re.match(r"^SIP/2\.0\s+(\d{3})\s*(.*)$", lines[0])
    if not m:
        return None
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if ":" not in line:
            continue
        name, value = line.split(":", 1)
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return SipResponse(int(m.group(1)), m.group(2), headers, text)


def sip_request(
    port: int,
    method: str = "OPTIONS",
    ruri: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 2.0,
    host: str = LOOPBACK,
) -> SipResponse | None:
    """Send one out-of-dialog SIP request over UDP to ``host:port`` (loopback only).

    Retransmits (500 ms interval) until a *final* response arrives or
    ``timeout`` elapses; returns the final :class:`SipResponse` or None.
    ``headers`` are added (a ``Contact`` there replaces the default one);
    To is the request URI.  Example: ``sip_request(kam.port, "REGISTER",
    kam.uri("callbot"))`` -> 401 challenge when auth is on.
    """
    if not host.startswith("127."):
        raise ValueError(f"rig only talks to loopback, not {host!r}")
    ruri = ruri or f"sip:{host}:{port}"
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        lport = sock.getsockname()[1]
        branch = "z9hG4bK-rig-%08x" % random.getrandbits(32)
        tag = "%08x" % random.getrandbits(32)
        callid = "rig-%016x@127.0.0.1" % random.getrandbits(64)
        lines = [
            f"{method} {ruri} SIP/2.0",
            f"Via: SIP/2.0/UDP {LOOPBACK}:{lport};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:rig@{LOOPBACK}>;tag={tag}",
            f"To: <{ruri}>",
            f"Call-ID: {callid}",
            f"CSeq: 1 {method}",
        ]
        extra = dict(headers or {})
        if not any(k.lower() == "contact" for k in extra):
            lines.append(f"Contact: <sip:rig@{LOOPBACK}:{lport}>")
        for name, value in extra.items():
            lines.append(f"{name}: {value}")
        lines.append("Content-Length: 0")
        msg = ("\r\n".join(lines) + "\r\n\r\n").encode()
        next_send = 0.0
        sends = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= next_send and sends < 10:
                sock.sendto(msg, (host, port))
                sends += 1
                next_send = now + 0.5
            sock.settimeout(max(0.01, min(deadline, next_send) - now))
            try:
                data, _ = sock.recvfrom(65535)
            except socket.timeout:
                continue
            except ConnectionRefusedError:  # ICMP port unreachable: not up yet
                time.sleep(0.05)
                next_send = min(next_send, time.monotonic())
                continue
            resp = _parse_response(data)
            if resp is not None and resp.status >= 200:
                return resp


# --------------------------------------------------------------------------
# kamailio.cfg generation
# --------------------------------------------------------------------------

_AUTH_ROUTE = r"""route[AUTH] {{
    $var(pw) = "";
{password_lookup}
    if (!has_credentials("$td")) {{
        xlog("L_INFO", "RIG-AUTH-CHALLENGE 401 Digest realm=$td qop=\"auth\" user=$tU\n");
        www_challenge("$td", "1");
        exit;
    }}
    if ($var(pw) == "") {{
        xlog("L_INFO", "RIG-AUTH-UNKNOWN user=$au\n");
        sl_send_reply("403", "Unknown Auth User");
        exit;
    }}
    if (!pv_www_authenticate("$td", "$var(pw)", "0")) {{
        $var(rc) = $rc;
        xlog("L_INFO", "RIG-AUTH-FAILED user=$au rc=$var(rc)\n");
        if ($var(rc) == -2) {{
            sl_send_reply("403", "Wrong Password");
            exit;
        }}
        xlog("L_INFO", "RIG-AUTH-CHALLENGE 401 Digest realm=$td qop=\"auth\" user=$tU (stale/retry)\n");
        www_challenge("$td", "1");
        exit;
    }}
    if ($au != $tU) {{
        sl_send_reply("403", "Auth User Mismatch");
        exit;
    }}
    xlog("L_INFO", "RIG-AUTH-OK user=$au\n");
    consume_credentials();
}}
"""

_CFG_TEMPLATE = r"""#!KAMAILIO
# Generated by tests/rig/kamailio.py -- do not edit.
debug={debug}
log_stderror=yes
memdbg=5
memlog=5
children=1
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
server_header="Server: callbot-rig-kamailio"
user_agent_header="User-Agent: callbot-rig-kamailio"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
{auth_loadmodule}

modparam("tm", "fr_timer", {fr_timer})
modparam("tm", "fr_inv_timer", {fr_inv_timer})
modparam("rr", "enable_full_lr", 0)
modparam("rr", "append_fromtag", 1)
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "timer_interval", 5)
{registrar_params}
# all sanity checks except 128 (Content-Length, optional over UDP)
modparam("sanity", "default_checks", 16255)
modparam("sanity", "autodrop", 0)

request_route {{
    xlog("L_INFO", "RIG-REQ $rm $ru from $si:$sp ci=$ci\n");

    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check()) {{
        xlog("L_WARN", "RIG-SANITY-FAILED $rm from $si:$sp\n");
        exit;
    }}
    force_rport();

    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}
    # absorb retransmissions of requests whose transaction exists
    if (!is_method("ACK")) {{
        t_check_trans();
    }}

    route(WITHINDLG);

    # ---- initial requests ----
    remove_hf("Route");
    if (is_method("INVITE|SUBSCRIBE")) {{
        record_route();
    }}

    if (is_method("REGISTER")) {{
        route(REGISTRAR);
        exit;
    }}

    if (uri != myself) {{
        sl_send_reply("403", "Rig Does Not Relay");
        exit;
    }}

    if ($rU == $null) {{
        if (is_method("OPTIONS")) {{
            sl_send_reply("200", "Rig Alive");
            exit;
        }}
        sl_send_reply("484", "Address Incomplete");
        exit;
    }}

    if (is_method("OPTIONS") && $hdr(X-Rig-Query) == "location") {{
        route(QUERY);
        exit;
    }}

    route(LOCATION);
}}

route[KNOWN] {{
{known_check}
}}

route[REGISTRAR] {{
    if ($tU == $null) {{
        sl_send_reply("400", "No To User");
        exit;
    }}
    $var(known) = 0;
    route(KNOWN);
    if ($var(known) == 0) {{
        xlog("L_INFO", "RIG-REGISTER-UNKNOWN user=$tU\n");
        sl_send_reply("404", "Not Found");
        exit;
    }}
{auth_call}
    if (!save("location", "0x04")) {{
        xlog("L_WARN", "RIG-REGISTER-FAILED user=$tU contact=$ct\n");
        sl_reply_error();
        exit;
    }}
    xlog("L_INFO", "RIG-REGISTER user=$tU contact=$ct expires=$hdr(Expires) src=$si:$sp\n");
}}

{auth_route}
route[QUERY] {{
    if (registered("location")) {{
        if (reg_fetch_contacts("location", "sip:$rU@$rd", "q")) {{
            append_to_reply("X-Rig-Contact-Count: $ulc(q=>count)\r\n");
            $var(i) = 0;
            while ($var(i) < $ulc(q=>count) && $var(i) < 20) {{
                append_to_reply("X-Rig-Contact: $(ulc(q=>addr)[$var(i)]);expires=$(ulc(q=>expires)[$var(i)])\r\n");
                $var(i) = $var(i) + 1;
            }}
            reg_free_contacts("q");
        }}
        sl_send_reply("200", "Registered");
        exit;
    }}
    sl_send_reply("404", "Not Registered");
    exit;
}}

route[LOCATION] {{
    $var(known) = 0;
    route(KNOWN);
    if ($var(known) == 0) {{
        xlog("L_INFO", "RIG-UNKNOWN-USER $rU\n");
        sl_send_reply("404", "Not Found");
        exit;
    }}
    if (!lookup("location")) {{
        $var(rc) = $rc;
        xlog("L_INFO", "RIG-NOT-REGISTERED $rU rc=$var(rc)\n");
        t_newtran();
        if ($var(rc) == -2) {{
            send_reply("405", "Method Not Allowed");
            exit;
        }}
        send_reply("480", "Temporarily Unavailable");
        exit;
    }}
    route(RELAY);
}}

route[WITHINDLG] {{
    if (!has_totag()) return;
    if (loose_route()) {{
        route(RELAY);
        exit;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}
    sl_send_reply("404", "Not Here");
    exit;
}}

route[RELAY] {{
    # Safety net: never send anything off the loopback interface.
    if (!($nh(d) =~ "^127\.")) {{
        xlog("L_ERR", "RIG-REFUSED non-loopback next hop $nh(d) for $rm $ru\n");
        if (!is_method("ACK")) {{
            sl_send_reply("502", "Rig Refuses Non-Loopback");
        }}
        exit;
    }}
    if (is_method("INVITE")) {{
        t_on_reply("MANAGE_REPLY");
        t_on_failure("MANAGE_FAILURE");
    }}
    xlog("L_INFO", "RIG-RELAY $rm to $nh(u)\n");
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

onreply_route[MANAGE_REPLY] {{
    xlog("L_INFO", "RIG-REPLY $rs $rr for $rm ci=$ci\n");
}}

failure_route[MANAGE_FAILURE] {{
    xlog("L_INFO", "RIG-FAILURE for $rm ci=$ci\n");
}}
"""


def _cfg_quote(value: str, what: str) -> str:
    if any(c in value for c in '"\\\r\n$'):
        raise ValueError(f"{what} must not contain quotes, backslashes, '$' or newlines")
    return value


def _check_user(user: str) -> str:
    if not _TOKEN_RE.match(user):
        raise ValueError(f"invalid SIP user name for the rig: {user!r}")
    return user


def render_cfg(
    port: int,
    *,
    auth: Mapping[str, str] | None = None,
    known_users: Iterable[str] = ("callbot",),
    max_expires: int | None = None,
    min_expires: int | None = None,
    debug: int = 2,
    fr_timer_ms: int = 5000,
    fr_inv_timer_ms: int = 60000,
) -> str:
    """Return the kamailio.cfg text (exposed for debugging/inspection)."""
    users = sorted({_check_user(u) for u in known_users})
    if users:
        cond = " || ".join(f'$rU == "{u}"' for u in users)
        # REGISTER uses the To user, everything else the R-URI user.
        cond_reg = " || ".join(f'$tU == "{u}"' for u in users)
        known_check = (
            f'    if (is_method("REGISTER")) {{\n'
            f"        if ({cond_reg}) {{ $var(known) = 1; }}\n"
            f"    }} else if ({cond}) {{\n"
            f"        $var(known) = 1;\n"
            f"    }}"
        )
    else:
        known_check = "    $var(known) = 0;"

    reg_params = []
    if max_expires is not None:
        reg_params.append(f'modparam("registrar", "max_expires", {int(max_expires)})')
    if min_expires is not None:
        reg_params.append(f'modparam("registrar", "min_expires", {int(min_expires)})')
    if auth:
        lookups = []
        for i, (user, pw) in enumerate(sorted(auth.items())):
            _check_user(user)
            _cfg_quote(pw, "password")
            kw = "if" if i == 0 else "} else if"
            lookups.append(f'    {kw} ($au == "{user}") {{\n        $var(pw) = "{pw}";')
        password_lookup = "\n".join(lookups) + "\n    }"
        auth_loadmodule = 'loadmodule "auth.so"'
        auth_call = "    route(AUTH);"
        auth_route = _AUTH_ROUTE.format(password_lookup=password_lookup)
    else:
        password_lookup = ""
        auth_loadmodule = ""
        auth_call = ""
        auth_route = ""
    return _CFG_TEMPLATE.format(
        port=int(port),
        debug=int(debug),
        auth_loadmodule=auth_loadmodule,
        registrar_params="\n".join(reg_params),
        known_check=known_check,
        auth_call=auth_call,
        auth_route=auth_route,
        fr_timer=int(fr_timer_ms),
        fr_inv_timer=int(fr_inv_timer_ms),
    )


# --------------------------------------------------------------------------
# Process wrapper
# --------------------------------------------------------------------------


class Kamailio:
    """A Kamailio proxy/registrar on ``127.0.0.1:<port>`` (UDP), as a context manager.

    Parameters
    ----------
    workdir:
        Directory for ``kamailio.cfg``, ``kamailio.log``, pid file and the
        runtime dir (created if missing).
    port:
        UDP port; ``None`` picks a free one.  Kept across :meth:`restart`.
    auth:
        ``{username: password}``.  When given, REGISTER requires digest auth
        (``qop="auth"``, realm = To domain = ``127.0.0.1``).  Users in ``auth``
        are automatically known users.
    max_expires, min_expires:
        registrar module limits (``None`` = Kamailio defaults 3600/60; a
        shorter requested Expires is raised to ``min_expires``).
    known_users:
        Users that exist.  Requests to other users get ``404``; REGISTER for
        them gets ``404`` too.  Default ``("callbot",)``.
    start_timeout:
        Bound for start-up (process start + first ``200`` to OPTIONS).

    Attributes: ``port``, ``host`` (``127.0.0.1``), ``address`` (``"127.0.0.1:port"``,
    the SIPp target / the bot's registrar), ``cfg_path``, ``log_path``, ``pid``.
    """

    host = LOOPBACK

    def __init__(
        self,
        workdir: Path | str,
        port: int | None = None,
        auth: dict[str, str] | None = None,
        max_expires: int | None = None,
        min_expires: int | None = None,
        *,
        known_users: Iterable[str] = ("callbot",),
        start_timeout: float = 10.0,
        debug: int = 2,
        fr_timer_ms: int = 5000,
        fr_inv_timer_ms: int = 60000,
    ) -> None:
        self.workdir = Path(workdir)
        self.port = int(port) if port else free_udp_port()
        self.auth = dict(auth or {})
        self.known_users = sorted(set(known_users) | set(self.auth))
        self.max_expires = max_expires
        self.min_expires = min_expires
        self.start_timeout = start_timeout
        self.debug = debug
        self.fr_timer_ms = fr_timer_ms
        self.fr_inv_timer_ms = fr_inv_timer_ms
        self.cfg_path = self.workdir / "kamailio.cfg"
        self.log_path = self.workdir / "kamailio.log"
        self.pid_path = self.workdir / "kamailio.pid"
        self.run_dir = self.workdir / "run"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_fh = None
        self._log_offset = 0  # restart() keeps appending; log_text(since_start=True)

    # -- helpers ----------------------------------------------------------
    @property
    def address(self) -> str:
        """``"127.0.0.1:<port>"`` -- the SIPp target and the bot's registrar."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def uri(self, user: str) -> str:
        """``sip:<user>@127.0.0.1:<port>``."""
        return f"sip:{user}@{self.host}:{self.port}"

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self, since_start: bool = False) -> str:
        """Whole log (all runs, appended), or only the current run's part."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        if since_start:
            data = data[self._log_offset :]
        return data.decode("utf-8", "replace")

    def _log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text(since_start=True).splitlines()[-n:])

    # -- lifecycle --------------------------------------------------------
    def start(self) -> "Kamailio":
        """Write the cfg, start kamailio, wait (bounded) until OPTIONS gets 200."""
        if self.running():
            return self
        binary = kamailio_binary()
        if binary is None:
            raise KamailioError("kamailio binary not found (apt-get install kamailio)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.cfg_path.write_text(
            render_cfg(
                self.port,
                auth=self.auth,
                known_users=self.known_users,
                max_expires=self.max_expires,
                min_expires=self.min_expires,
                debug=self.debug,
                fr_timer_ms=self.fr_timer_ms,
                fr_inv_timer_ms=self.fr_inv_timer_ms,
            )
        )
        cmd = [
            binary,
            "-DD",  # do not daemonize: stay our child
            "-E",  # log to stderr (-> kamailio.log)
            "-f", str(self.cfg_path),
            "-Y", str(self.run_dir),  # runtime dir instead of /var/run/kamailio
            "-P", str(self.pid_path),
            "-w", str(self.workdir),
            "-n", "1",
            "-m", "32",  # shm MB
            "-M", "8",  # pkg MB
        ]
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log_fh = open(self.log_path, "ab")
        self._log_fh.write(f"==== rig: starting {' '.join(cmd)}\n".encode())
        self._log_fh.flush()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,  # own process group -> killpg on stop
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                rc = self._proc.returncode
                self.stop()
                raise KamailioError(
                    f"kamailio exited with {rc} during start-up (port {self.port}).\n"
                    f"--- log tail ---\n{self._log_tail()}"
                )
            resp = sip_request(self.port, "OPTIONS", timeout=0.5)
            if resp is not None and resp.status == 200:
                return self
        self.stop()
        raise KamailioError(
            f"kamailio did not answer OPTIONS on {self.address} within "
            f"{self.start_timeout}s.\n--- log tail ---\n{self._log_tail()}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout``; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_process_group(proc, timeout)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def restart(self) -> "Kamailio":
        """Stop and start again on the same port (memory location table is empty)."""
        self.stop()
        # The UDP port is free as soon as the processes are gone; retry briefly
        # in case the kernel is still releasing it.
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return self.start()
            except KamailioError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def __enter__(self) -> "Kamailio":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last-resort safety net
        try:
            self.stop(timeout=1.0)
        except Exception:
            pass

    # -- queries ----------------------------------------------------------
    def ping(self, timeout: float = 2.0) -> bool:
        """True if Kamailio answers an OPTIONS to itself with 200."""
        resp = sip_request(self.port, "OPTIONS", timeout=timeout)
        return resp is not None and resp.status == 200

    def query_location(self, user: str, timeout: float = 2.0) -> SipResponse:
        """Raw location query (``OPTIONS`` + ``X-Rig-Query: location``)."""
        resp = sip_request(
            self.port,
            "OPTIONS",
            self.uri(_check_user(user)),
            headers={"X-Rig-Query": "location"},
            timeout=timeout,
        )
        if resp is None:
            raise KamailioError(f"no answer to location query on {self.address}")
        return resp

    def registered(self, user: str = "callbot", timeout: float = 2.0) -> bool:
        """True if ``user`` has a valid (unexpired) contact in the location table.

        Asks Kamailio itself (``OPTIONS`` + ``X-Rig-Query: location`` ->
        ``registered("location")``); raises :class:`KamailioError` if
        Kamailio doesn't answer within ``timeout``.
        """
        return self.query_location(user, timeout=timeout).status == 200

    def contacts(self, user: str = "callbot") -> list[str]:
        """Registered contact URIs of ``user`` (at most one: single-contact mode)."""
        resp = self.query_location(user)
        if resp.status != 200:
            return []
        out = []
        for value in resp.headers.get("x-rig-contact", []):
            out.append(value.rsplit(";expires=", 1)[0])
        return out

    def wait_registered(self, user: str = "callbot", timeout: float = 10.0, *, registered: bool = True) -> bool:
        """Poll (every 100 ms, bounded by ``timeout``) until ``registered(user)``
        equals ``registered``; returns whether that happened."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if self.registered(user, timeout=max(0.2, min(2.0, remaining))) == registered:
                    return True
            except KamailioError:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def kill_process_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a child started with ``start_new_session=True`` and its whole
    process group: SIGTERM, wait ``grace`` s, SIGKILL, wait (all bounded).

    The group id is the child's pid (it is the session/group leader), so no
    ``getpgid`` lookup on a possibly reaped pid is needed.  Only signals our
    own group; idempotent.
    """
    pgid = proc.pid
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    # Other members of the group (kamailio's worker processes) may outlive
    # the leader for a moment: wait for them, then SIGKILL what is left.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
