"""The ``[web]`` section -> :class:`WebSettings`.

These settings belong to the entry point ``callbot web``, which sits above the
configuration, so the type lives here. The environment variables
``CALLBOT_WEB_PASSWORD_HASH`` and ``CALLBOT_WEB_SECRET`` override the file; neither
secret is ever echoed in a problem.

``trusted_proxies`` (default ``[]``): the addresses or networks (``"127.0.0.1"``,
``"10.0.0.0/8"``, ``"::1"``) of the reverse proxies in front of the page. Only a request
whose direct peer is one of them has its ``X-Forwarded-For`` header believed (the
right-most address in it that is not a trusted proxy is the client, e.g. for the login
lockout); with the default the header is ignored. Networks that cover everything
(``0.0.0.0/0``, ``::/0``) are refused — they would let anyone choose their address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callbot.config.reader import MISSING, Reader, describe
from callbot.i18n import DEFAULT_TIMEZONE, LANGUAGES, normalize_language, timezone_named
from callbot.passwords import check_password_hash

WEB_PASSWORD_HASH_ENV = "CALLBOT_WEB_PASSWORD_HASH"
WEB_SECRET_ENV = "CALLBOT_WEB_SECRET"
WEB_SECRET_MIN = 32  # characters of a configured session secret
_WEB_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"  # address `callbot web` listens on (an IP; 0.0.0.0 only via --host)
    port: int = 8080
    user: str = "owner"  # the login's name, recorded as who blocked/allowed a number
    password_hash: str = field(default="", repr=False)  # scrypt$...; env CALLBOT_WEB_PASSWORD_HASH overrides
    session_secret: str = field(default="", repr=False)  # signs the session cookie; env CALLBOT_WEB_SECRET overrides
    secure_cookies: bool = False  # true when the page is served over https (reverse proxy)
    session_hours: int = 12  # a login lasts this long
    per_page: int = 50  # calls per page
    trusted_proxies: tuple[str, ...] = ()  # reverse proxies whose X-Forwarded-For is believed (IPs / CIDRs)
    language: str = LANGUAGES[0]  # the page's language ("de" / "en"); a user's own setting wins
    timezone: str = DEFAULT_TIMEZONE  # the office's time zone: dates and times on the page


def load_web(r: Reader, t: dict[str, Any], env: Mapping[str, str]) -> WebSettings:
    d = WebSettings()
    s = "web"
    host = d.host
    raw_host = t.get("host", MISSING)
    if raw_host is not MISSING:
        host = _check_web_host(r, raw_host) or d.host
    port = r.integer(t, s, "port", d.port, 1, 65535)
    user = r.string(t, s, "user", d.user, nonempty=True).strip()
    if "web.user" not in r.bad and not _WEB_USER.match(user):
        r.add(f"web.user: {describe(user)} is not a user name — use up to 64 letters, digits, "
              f"'.', '_', '-' or '@', e.g. \"owner\"")
        user = d.user

    password_hash = r.string(t, s, "password_hash", d.password_hash).strip()
    env_hash = (env.get(WEB_PASSWORD_HASH_ENV) or "").strip()
    if env_hash:
        password_hash = env_hash
    if password_hash:
        problem = check_password_hash(password_hash)
        if problem:
            origin = WEB_PASSWORD_HASH_ENV if env_hash else "web.password_hash"
            r.add(f"{origin}: {problem} (the hash goes here, never the password itself)")
            password_hash = ""

    secret = r.string(t, s, "session_secret", d.session_secret)
    env_secret = env.get(WEB_SECRET_ENV) or ""
    if env_secret:
        secret = env_secret
    if secret and (len(secret) < WEB_SECRET_MIN or any(c.isspace() for c in secret)):
        origin = WEB_SECRET_ENV if env_secret else "web.session_secret"
        r.add(f"{origin}: must be at least {WEB_SECRET_MIN} characters without spaces — make one with "
              f"python3 -c 'import secrets; print(secrets.token_urlsafe(32))', or leave it empty "
              f"(then logins end whenever callbot web restarts)")
        secret = ""

    return WebSettings(
        host=host,
        port=port,
        user=user,
        password_hash=password_hash,
        session_secret=secret,
        secure_cookies=r.boolean(t, s, "secure_cookies", d.secure_cookies),
        session_hours=r.integer(t, s, "session_hours", d.session_hours, 1, 24 * 31),
        per_page=r.integer(t, s, "per_page", d.per_page, 10, 500),
        trusted_proxies=_trusted_proxies(r, t.get("trusted_proxies", MISSING)),
        language=_language(r, t, d.language),
        timezone=_timezone(r, t, d.timezone),
    )


def _language(r: Reader, t: dict[str, Any], default: str) -> str:
    value = r.string(t, "web", "language", default)
    lang = normalize_language(value)
    if lang is None:
        if "web.language" not in r.bad:
            r.add(f"web.language: {describe(value)} is not a language of the page — use one of "
                  f"{', '.join(repr(x) for x in LANGUAGES)}, e.g. language = \"de\"")
        return default
    return lang


def _timezone(r: Reader, t: dict[str, Any], default: str) -> str:
    value = r.string(t, "web", "timezone", default).strip()
    try:
        timezone_named(value)
    except ValueError:
        if "web.timezone" not in r.bad:
            r.add(f"web.timezone: {describe(value)} is not a time zone — use an IANA name such as "
                  f"\"Europe/Berlin\" or \"Europe/Vienna\"")
        return default
    return value


MAX_TRUSTED_PROXIES = 64


def _trusted_proxies(r: Reader, value: Any) -> tuple[str, ...]:
    """``[web] trusted_proxies``: a list of IP addresses or networks, normalised (``10.0.0.0/8``)."""
    key = "web.trusted_proxies"
    example = 'e.g. trusted_proxies = ["127.0.0.1"] for a reverse proxy on this computer'
    if value is MISSING:
        return ()
    if not isinstance(value, list):
        r.add(f"{key}: expected a list of addresses in square brackets, got {describe(value)} — {example}")
        return ()
    if len(value) > MAX_TRUSTED_PROXIES:
        r.add(f"{key}: at most {MAX_TRUSTED_PROXIES} entries, got {len(value)} — give networks such as "
              f'"10.0.0.0/8" instead of single addresses')
        return ()
    out: list[str] = []
    for item in value:
        try:
            if not isinstance(item, str):
                raise ValueError
            net = ipaddress.ip_network(item.strip().replace("[", "").replace("]", ""), strict=False)
        except ValueError:
            r.add(f"{key}: {describe(item)} is not an IP address or network — write addresses in quotes "
                  f'such as "127.0.0.1", "192.168.1.10" or "10.0.0.0/8"; {example}')
            return ()
        if net.prefixlen == 0:
            r.add(f"{key}: {net} would trust every address, so anyone could choose the address the login "
                  f"lockout sees — list only your reverse proxy's address, {example}")
            return ()
        if str(net) not in out:
            out.append(str(net))
    return tuple(out)


def _check_web_host(r: Reader, value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower() == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(value.strip()) if isinstance(value, str) else None
    except ValueError:
        ip = None
    if ip is None:
        r.add(f'web.host: expected an IP address in quotes such as "127.0.0.1", got {describe(value)}')
        return None
    if ip.is_unspecified:
        r.add(f"web.host: {ip} would open the page to every network this computer is on — keep "
              f'"127.0.0.1" here and, if you really mean it, start `callbot web --host {ip}` explicitly')
        return None
    return str(ip)
