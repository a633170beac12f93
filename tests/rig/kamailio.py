"""Throw-away Kamailio SIP proxy/registrar on 127.0.0.1 for integration tests.

Usage::

    from tests.rig.kamailio import Kamailio

    with Kamailio(tmp_path / "kam") as kam:          # picks a free UDP port
        print(kam.port, kam.uri("callbot"))          # sip:callbot@127.0.0.1:<port>
        ... start the bot, let it REGISTER as ``callbot`` to 127.0.0.1:kam.port ...
        assert kam.wait_registered("callbot", timeout=5)
        ... run SIPp callers against f"127.0.0.1:{kam.port}" ...
        kam.restart()                                # same port, location table empty

    with Kamailio(tmp_path / "kam", tls=True) as kam:  # + TCP and TLS listeners
        ctx = ssl.create_default_context(cafile=kam.ca_file)
        ... connect to ("127.0.0.1", kam.tls_port), server_hostname="127.0.0.1" ...
        ... REGISTER over it; kam.registered(user) works as for UDP ...

What the generated ``kamailio.cfg`` does (see :data:`_CFG_TEMPLATE`):

* listens on ``udp:127.0.0.1:<port>`` only, TCP disabled, ``children=1``
  (one UDP worker: with two workers a 180 and a 200 arriving ~1 ms apart
  were forwarded out of order and SIPp aborted the call);
* with ``Kamailio(..., tls=True)`` also ``tcp:127.0.0.1:<tcp_port>`` and
  ``tls:127.0.0.1:<tls_port>`` (``tcp_children=1``, TLS 1.2+, a test CA and
  server certificate from :mod:`rig.tls`, ``kam.ca_file`` for clients),
  Content-Length required on streams (sanity check 128), and nathelper's
  ``set_contact_alias()``/``handle_ruri_alias()`` so that requests to a
  TCP/TLS contact reuse the client's connection.  Without ``tls`` the cfg is
  exactly the UDP-only one described here;
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
    "kamailio_tls_module",
    "free_tcp_port",
    "render_cfg",
    "render_tls_cfg",
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


#: Where Debian (and a source build) put Kamailio's modules; ``tls.so`` is in
#: the separate Debian package ``kamailio-tls-modules``.
_MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
    "/usr/lib64/kamailio/modules",
    "/usr/local/lib64/kamailio/modules",
    "/usr/local/lib/kamailio/modules",
)


def kamailio_tls_module() -> str | None:
    """Path of Kamailio's ``tls.so``, or None (TLS tests should then skip:
    ``apt-get install kamailio-tls-modules``)."""
    for directory in _MODULE_DIRS:
        path = os.path.join(directory, "tls.so")
        if os.path.isfile(path):
            return path
    return None


def free_tcp_port() -> int:
    """A port free for a TCP listener on 127.0.0.1.

    Taken from :func:`free_udp_port` (so it is recorded there as handed out and
    no later caller in this process, e.g. a bot's SIP port, gets the same
    number), then checked with a TCP bind (no ``SO_REUSEADDR``, so a port
    with connections in TIME_WAIT is skipped as well).  Bounded: 50 attempts.
    """
    for _ in range(50):
        port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free TCP port found on 127.0.0.1")


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
{tcp_core}
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"{stream_listen}
server_header="Server: callbot-rig-kamailio"
user_agent_header="User-Agent: callbot-rig-kamailio"

{tls_loadmodule}loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"{nathelper_loadmodule}
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
modparam("sanity", "autodrop", 0){tls_modparams}

request_route {{
    xlog("L_INFO", "RIG-REQ $rm $ru from $si:$sp ci=$ci\n");

    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check()) {{
        xlog("L_WARN", "RIG-SANITY-FAILED $rm from $si:$sp\n");
        exit;
    }}{stream_sanity}
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
    remove_hf("Route");{contact_alias}
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
    }}{ruri_alias_outer}
    route(RELAY);
}}

route[WITHINDLG] {{
    if (!has_totag()) return;
    if (loose_route()) {{{ruri_alias}
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


_TLS_CFG_TEMPLATE = """\
# Generated by tests/rig/kamailio.py -- do not edit.
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = {key_file}
certificate = {cert_file}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""


def render_tls_cfg(cert_file: Path | str, key_file: Path | str) -> str:
    """Return the tls module's config (``tls.cfg``): TLS 1.2 minimum, no client certs."""
    for what, value in (("certificate path", str(cert_file)), ("key path", str(key_file))):
        if any(c.isspace() or c in "\"#;[]=" for c in value):
            raise ValueError(f"{what} for tls.cfg must not contain blanks or any of \"#;[]=: {value!r}")
    return _TLS_CFG_TEMPLATE.format(cert_file=cert_file, key_file=key_file)


def _stream_parts(tcp_port: int | None, tls_port: int | None, tls_config: Path | str | None) -> dict[str, str]:
    """Template pieces for TCP/TLS listeners; all empty / UDP-only text without them,
    so that the UDP-only cfg stays byte-for-byte what it always was."""
    if tcp_port is None and tls_port is None:
        return {
            "tcp_core": "disable_tcp=yes",
            "stream_listen": "",
            "tls_loadmodule": "",
            "nathelper_loadmodule": "",
            "tls_modparams": "",
            "stream_sanity": "",
            "contact_alias": "",
            "ruri_alias": "",
            "ruri_alias_outer": "",
        }
    core = [
        "disable_tcp=no",
        f"enable_tls={'yes' if tls_port is not None else 'no'}",
        "tcp_children=1",
        "tcp_connection_lifetime=3605",
        "tcp_accept_no_cl=no",
        "tcp_crlf_ping=yes",
    ]
    listen = []
    if tcp_port is not None:
        listen += [f"listen=tcp:127.0.0.1:{int(tcp_port)}", f'alias="127.0.0.1:{int(tcp_port)}"']
    tls_loadmodule = tls_modparams = ""
    if tls_port is not None:
        if tls_config is None:
            raise ValueError("tls_port needs tls_config (the path of tls.cfg)")
        listen += [f"listen=tls:127.0.0.1:{int(tls_port)}", f'alias="127.0.0.1:{int(tls_port)}"']
        # loaded first: it sets up OpenSSL before other modules may touch it
        tls_loadmodule = 'loadmodule "tls.so"\n'
        tls_modparams = f'\nmodparam("tls", "config", "{_cfg_quote(str(tls_config), "tls config path")}")'
    return {
        "tcp_core": "\n".join(core),
        "stream_listen": "".join("\n" + line for line in listen),
        "tls_loadmodule": tls_loadmodule,
        "nathelper_loadmodule": '\nloadmodule "nathelper.so"',
        "tls_modparams": tls_modparams,
        # Content-Length frames messages on a stream, so it is mandatory there (check 128;
        # uri check 1 = R-URI, already done by the default checks: 0 is not accepted)
        "stream_sanity": (
            '\n    if ($proto != "udp" && !sanity_check("128", "1")) {\n'
            '        xlog("L_WARN", "RIG-SANITY-FAILED (Content-Length) $rm from $proto:$si:$sp\\n");\n'
            "        exit;\n"
            "    }"
        ),
        # Connection-oriented clients: the Contact gets ;alias=ip~port~proto, so that
        # requests to it (from the location table or in-dialog) go back down the
        # client's own connection (handle_ruri_alias sets $du from it) instead of a
        # new connection to the Contact's port, where the client may not listen.
        "contact_alias": (
            '\n    if (($proto == "tcp" || $proto == "tls") && is_method("INVITE|REGISTER|SUBSCRIBE")) {\n'
            '        xlog("L_INFO", "RIG-STREAM $rm from $proto:$si:$sp contact=$ct\\n");\n'
            "        set_contact_alias();\n"
            "    }"
        ),
        "ruri_alias": "\n        handle_ruri_alias();",
        "ruri_alias_outer": "\n    handle_ruri_alias();",
    }


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
    tcp_port: int | None = None,
    tls_port: int | None = None,
    tls_config: Path | str | None = None,
) -> str:
    """Return the kamailio.cfg text (exposed for debugging/inspection).

    Without ``tcp_port``/``tls_port`` the cfg is UDP only (TCP disabled).  With
    them it also listens on ``tcp:127.0.0.1:<tcp_port>`` and/or
    ``tls:127.0.0.1:<tls_port>`` (``tls_config``: path of the tls module's
    config, see :func:`render_tls_cfg`), and loads nathelper so requests reach
    stream clients over their own connection.
    """
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
        **_stream_parts(tcp_port, tls_port, tls_config),
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
    tls:
        Also listen on ``tcp:127.0.0.1:<tcp_port>`` and ``tls:127.0.0.1:<tls_port>``
        (needs ``kamailio-tls-modules``, see :func:`kamailio_tls_module`).  A
        fresh test CA and a server certificate are made once, in the
        constructor, under ``<workdir>/tls/`` (:mod:`rig.tls`); clients trust
        ``ca_file``.  TLS 1.2 minimum, no client certificates.  Registration
        and location queries work the same for contacts registered over
        TCP/TLS (the queries themselves go over UDP); requests to such a
        contact go down the client's own connection (nathelper
        ``set_contact_alias``/``handle_ruri_alias``).
    tcp_port, tls_port:
        Only with ``tls``; ``None`` picks free ones (:func:`free_tcp_port`).
    cert_hosts:
        Only with ``tls``: names the server certificate is issued for, default
        ``("127.0.0.1", "localhost")``; e.g. ``("wrong.example",)`` to provoke
        a hostname mismatch.

    Attributes: ``port`` (UDP), ``host`` (``127.0.0.1``), ``address`` (``"127.0.0.1:port"``,
    the SIPp target / the bot's registrar), ``cfg_path``, ``log_path``, ``pid``;
    with ``tls`` also ``tcp_port``, ``tls_port``, ``tcp_address``, ``tls_address``,
    ``ca_file`` (PEM of the test CA), ``ca`` (the :class:`trustme.CA`),
    ``cert_file``/``key_file`` (server certificate and key), ``tls_cfg_path``;
    without ``tls`` these are ``None``.  :meth:`restart` keeps all ports and
    certificates (open TCP/TLS connections are closed by the stop).
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
        tls: bool = False,
        tcp_port: int | None = None,
        tls_port: int | None = None,
        cert_hosts: Iterable[str] | None = None,
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
        self.tls = bool(tls)
        self.tcp_port: int | None = None
        self.tls_port: int | None = None
        self.ca = None
        self.ca_file: Path | None = None
        self.cert_file: Path | None = None
        self.key_file: Path | None = None
        self.tls_cfg_path: Path | None = None
        self.cert_hosts: tuple[str, ...] = ()
        if not self.tls:
            if tcp_port or tls_port or cert_hosts is not None:
                raise ValueError("tcp_port, tls_port and cert_hosts need tls=True")
            return
        from .tls import DEFAULT_CERT_HOSTS, make_rig_pki

        self.tcp_port = int(tcp_port) if tcp_port else free_tcp_port()
        self.tls_port = int(tls_port) if tls_port else free_tcp_port()
        if len({self.tcp_port, self.tls_port}) != 2:
            raise ValueError("tcp_port and tls_port must differ")
        self.cert_hosts = tuple(cert_hosts) if cert_hosts is not None else DEFAULT_CERT_HOSTS
        # Absolute paths: kamailio runs with cwd=workdir.
        pki = make_rig_pki(self.workdir.resolve() / "tls", self.cert_hosts)
        self.ca = pki.ca
        self.ca_file = pki.ca_file
        self.cert_file = pki.cert_file
        self.key_file = pki.key_file
        self.tls_cfg_path = self.workdir.resolve() / "tls.cfg"

    # -- helpers ----------------------------------------------------------
    @property
    def address(self) -> str:
        """``"127.0.0.1:<port>"`` -- the SIPp target and the bot's registrar."""
        return f"{self.host}:{self.port}"

    @property
    def tcp_address(self) -> str | None:
        """``"127.0.0.1:<tcp_port>"`` (None without ``tls``)."""
        return f"{self.host}:{self.tcp_port}" if self.tcp_port else None

    @property
    def tls_address(self) -> str | None:
        """``"127.0.0.1:<tls_port>"`` (None without ``tls``)."""
        return f"{self.host}:{self.tls_port}" if self.tls_port else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def uri(self, user: str, transport: str | None = None) -> str:
        """``sip:<user>@127.0.0.1:<port>``; with ``transport="tcp"``/``"tls"``
        ``sip:<user>@127.0.0.1:<tcp_port|tls_port>;transport=<transport>``."""
        if transport is None or transport == "udp":
            return f"sip:{user}@{self.host}:{self.port}" + (";transport=udp" if transport else "")
        ports = {"tcp": self.tcp_port, "tls": self.tls_port}
        if transport not in ports:
            raise ValueError(f"transport must be udp, tcp or tls, not {transport!r}")
        if ports[transport] is None:
            raise ValueError(f"{transport} needs Kamailio(..., tls=True)")
        return f"sip:{user}@{self.host}:{ports[transport]};transport={transport}"

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
        stream: dict = {}
        if self.tls:
            if kamailio_tls_module() is None:
                raise KamailioError("kamailio tls.so not found (apt-get install kamailio-tls-modules)")
            self.tls_cfg_path.write_text(render_tls_cfg(self.cert_file, self.key_file))
            stream = {"tcp_port": self.tcp_port, "tls_port": self.tls_port, "tls_config": self.tls_cfg_path}
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
                **stream,
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
                    f"kamailio exited with {rc} during start-up (port {self.port}"
                    + (f", tcp {self.tcp_port}, tls {self.tls_port}" if self.tls else "")
                    + f").\n"
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
        """Stop and start again on the same port(s) with the same certificates
        (memory location table is empty; TCP/TLS connections are closed)."""
        self.stop()
        # The UDP port is free as soon as the processes are gone; retry briefly
        # in case the kernel is still releasing it (kamailio sets SO_REUSEADDR
        # on its TCP/TLS listeners, so connections in TIME_WAIT don't block them).
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
