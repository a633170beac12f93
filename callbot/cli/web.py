"""`callbot web [--host H] [--port P]`: serve the review web page; `callbot web
hash-password`: make the hash for [web] password_hash.

uvicorn runs with ``proxy_headers=False``: left on, it would replace the client address
with whatever ``X-Forwarded-For`` says for every request from 127.0.0.1 (its default
``forwarded_allow_ips``), so one could dodge the login lockout by rotating that header.
The web app itself reads the header, and only from ``[web] trusted_proxies``
(:mod:`callbot.web.proxies`)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click
from rich.markup import escape

from callbot.cli.common import EXIT_USAGE, config_option, err, handles_errors, setup_logging
from callbot.errors import CallbotError, ConfigError

_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})
MIN_WEB_PASSWORD = 8


def _web_bind_host(host: str, explicit: bool) -> str:
    """The address to listen on; a wildcard only when given with --host (then warn)."""
    import ipaddress

    value = host.strip().strip("[]")
    if value.lower() == "localhost":
        value = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise click.BadParameter(f"{host!r} is not an IP address; e.g. 127.0.0.1", param_hint="--host") from None
    if ip.is_unspecified and not explicit:  # pragma: no cover - the config loader refuses it already
        raise CallbotError(f"refusing to listen on {ip} (every network) unless given as --host {ip}")
    if not ip.is_loopback:
        where = "every network this computer is on" if ip.is_unspecified else f"the network at {ip}"
        err.print("[yellow]warning:[/] " + escape(f"the web page is reachable from {where}; serve it through "
                                                  f"an https reverse proxy and set [web] secure_cookies = true"),
                  highlight=False)
    return str(ip)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise CallbotError(f"cannot listen on {host}:{port}: {exc.strerror or exc} — is another "
                               f"`callbot web` running? Choose another port with --port") from None


def _owner_user_exists(config) -> bool:
    """An owner in the users table (``callbot users add NAME --role owner``) can log in too."""
    if not config.storage.database.exists():
        return False
    from callbot.store.store import Store
    from callbot.web.app import owner_can_log_in

    store = Store(config.storage.database, default_region=config.phone.default_region)
    try:
        return owner_can_log_in(config, store)
    finally:
        store.close()


@click.group("web", invoke_without_command=True)
@config_option
@click.option("--host", default="127.0.0.1",
              help="Address to listen on (default: [web] host, else 127.0.0.1). 0.0.0.0 (every network) "
                   "only when given here explicitly.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080,
              help="Port to listen on (default: [web] port, else 8080).")
@click.pass_context
@handles_errors
def web(ctx, config_path: Path, host: str, port: int) -> None:
    """The review web page: calls, recordings, leads, caller lists and prompts."""
    if ctx.invoked_subcommand is not None:
        return
    from click.core import ParameterSource

    from callbot.config.load import load_config
    from callbot.config.sections.web import WEB_PASSWORD_HASH_ENV, WEB_SECRET_ENV

    config = load_config(config_path)
    if not config.web.password_hash and not _owner_user_exists(config):
        raise ConfigError(
            ["web.password_hash: no password is set for the web page — run `callbot web hash-password`, "
             f"then put the line it prints into config.toml as [web] password_hash = \"scrypt$…\", or set "
             f"the environment variable {WEB_PASSWORD_HASH_ENV}, or add an owner with "
             "`callbot users add NAME --role owner`"],
            str(config.source or config_path),
        )
    explicit_host = ctx.get_parameter_source("host") == ParameterSource.COMMANDLINE
    explicit_port = ctx.get_parameter_source("port") == ParameterSource.COMMANDLINE
    bind = _web_bind_host(host if explicit_host else config.web.host, explicit_host)
    port = port if explicit_port else config.web.port
    setup_logging(config.log.level)
    _check_port_free(bind, port)

    import uvicorn

    from callbot.web.app import create_app

    if not config.web.session_secret:
        err.print("[yellow]note:[/] " + escape(f"no [web] session_secret (or {WEB_SECRET_ENV}) set: using a "
                                               f"random one, so logins end when callbot web restarts"),
                  highlight=False)
    app = create_app(config)
    shown = f"[{bind}]" if ":" in bind else bind
    err.print(f"callbot web on http://{shown}:{port}/ — log in as {escape(config.web.user)}; Ctrl-C to stop",
              highlight=False)
    uvicorn.run(app, host=bind, port=port, log_level=config.log.level, server_header=False,
                date_header=False, log_config=None, proxy_headers=False, forwarded_allow_ips=[])


@web.command("hash-password")
def web_hash_password() -> None:
    """Ask for a new web password (hidden) and print its hash for [web] password_hash."""
    from callbot.passwords import hash_password

    password = click.prompt("New web password", hide_input=True, confirmation_prompt="Repeat it",
                            err=True)
    if len(password) < MIN_WEB_PASSWORD:
        err.print(f"[bold red]Error:[/] the password needs at least {MIN_WEB_PASSWORD} characters", highlight=False)
        sys.exit(EXIT_USAGE)
    encoded = hash_password(password)
    click.echo(encoded)
    err.print("Put it into config.toml under [web] as password_hash = \"…\" (the line above), or set "
              "CALLBOT_WEB_PASSWORD_HASH='…' (single quotes: the hash contains $).", highlight=False,
              markup=False)
