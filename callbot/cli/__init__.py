"""Command line: the only place that turns a CallbotError into a message and an exit code."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callbot.speech import models as speech_models
from callbot.errors import CallbotError, ConfigError, PromptError, ScriptError

#: Exit codes: 1 = a check found problems / runtime failure, 2 = bad input.
EXIT_FAILURE = 1
EXIT_USAGE = 2

out = Console()
err = Console(stderr=True)


def _fail(exc: CallbotError) -> None:
    problems = getattr(exc, "problems", None)
    if problems:
        source = getattr(exc, "source", None)
        err.print(f"[bold red]Error[/] in {source}:" if source else "[bold red]Error:[/]", highlight=False)
        for problem in problems:  # soft_wrap: never break a path or a command across lines
            err.print(f"  • {problem}", highlight=False, markup=False, soft_wrap=True)
    else:
        err.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    code = EXIT_USAGE if isinstance(exc, (ConfigError, PromptError, ScriptError)) else EXIT_FAILURE
    sys.exit(code)


def handles_errors(func):
    """Library errors become one clear message and a non-zero exit; no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CallbotError as exc:
            _fail(exc)

    return wrapper


config_option = click.option(
    "--config", "-c", "config_path", default="config.toml", show_default=True,
    type=click.Path(dir_okay=False, path_type=Path), help="Configuration file.",
)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group()
@click.version_option(package_name="callbot")
def main() -> None:
    """callbot — answers the office phone and screens callers."""


# -- run / check ---------------------------------------------------------------
@main.command()
@config_option
@handles_errors
def run(config_path: Path) -> None:
    """Run the bot in the foreground (Ctrl-C or SIGTERM stops it cleanly)."""
    from callbot.app import Bot
    from callbot.config import load_config

    config = load_config(config_path)
    _setup_logging(config.log.level)
    bot = Bot(config)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    bot.start()
    s = config.sip
    err.print(
        f"callbot running on {s.local_ip}:{s.local_port}"
        + (f", registering as {s.username} at {s.server}:{s.port}" if s.register else ", not registering")
        + " — Ctrl-C to stop",
        highlight=False,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        err.print("stopping: hanging up calls, unregistering …", highlight=False)
        bot.stop()


@main.command()
@config_option
@handles_errors
def check(config_path: Path) -> None:
    """Validate the configuration, the prompts and the owner's script; exit non-zero on any problem."""
    from callbot.call.policy import POLICY_PROMPTS
    from callbot.script import load_owner_script, script_path
    from callbot.config import load_config
    from callbot.prompts import PromptLibrary

    config = load_config(config_path)
    prompts = PromptLibrary.from_config(config, required=POLICY_PROMPTS)
    out.print(f"[green]✓[/] configuration {config_path} is valid", highlight=False)
    for prompt_id in prompts.ids():
        prompt = prompts.get(prompt_id)
        out.print(f"[green]✓[/] prompt {prompt.language}/{prompt.id}: {prompt.duration:.1f} s from {prompt.source.name}",
                  highlight=False)
    if config.calls.unknown == "screen":
        script = load_owner_script(config.prompts.dir, config.prompts.language, prompts.ids())
        out.print(f"[green]✓[/] script {script_path(config.prompts.dir, config.prompts.language)}: {len(script.steps)} steps, starts at {script.start}",
                  highlight=False)


# -- calls ---------------------------------------------------------------------
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """'30m', '2h', '7d', '1w', or an ISO date/time (local time if no zone)."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(value.strip().lower())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: use e.g. 2h, 7d or 2026-11-22T08:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed.astimezone(timezone.utc)


def _open_store(config_path: Path):
    from callbot.config import load_config
    from callbot.store import Store

    config = load_config(config_path)
    if not Path(config.storage.database).exists():
        raise CallbotError(f"no call log yet at {config.storage.database} — start the bot with `callbot run` first")
    return Store(config.storage.database)


@main.group(invoke_without_command=True)
@config_option
@click.option("--since", help="Only calls since: 30m, 2h, 7d or an ISO date/time.")
@click.option("--outcome", help="Only calls with this outcome (e.g. withheld_rejected).")
@click.option("--number", help="Only calls from this number (E.164 or part of it).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
@handles_errors
def calls(ctx, config_path, since, outcome, number, limit, as_json) -> None:
    """Recent calls, newest first."""
    ctx.obj = {"config_path": config_path}
    if ctx.invoked_subcommand is not None:
        return
    from callbot.outcome import OUTCOMES

    if outcome and outcome not in OUTCOMES:
        raise click.BadParameter(f"{outcome!r}; one of: {', '.join(sorted(OUTCOMES))}", param_hint="--outcome")
    since_dt = parse_since(since) if since else None
    store = _open_store(config_path)
    records = store.calls(since=since_dt, outcome=outcome, number=number, limit=limit)
    if as_json:
        for record in records:
            click.echo(json.dumps(record.to_json(), ensure_ascii=False))
        return
    out.print(calls_table(records))


def calls_table(records) -> Table:
    table = Table(title="Calls", show_lines=False)
    for column in ("id", "started", "caller", "outcome", "duration", "why"):
        table.add_column(column, overflow="fold")
    for r in records:
        caller = "withheld" if r.withheld else (r.caller_number or r.caller_dialled or r.caller_raw or "?")
        if r.caller_display and not r.withheld:
            caller = f"{caller} ({r.caller_display})"
        table.add_row(
            str(r.id), _local(r.started_at), caller, r.outcome or "in progress",
            f"{r.duration:.1f} s" if r.duration is not None else "", "\n".join(r.reasons),
        )
    return table


def _local(iso: str | None) -> str:
    from callbot.times import local_time

    moment = local_time(iso)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else iso or ""


@calls.command("show")
@click.argument("call_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def calls_show(ctx, call_id: int, as_json: bool) -> None:
    """One call with its whole decision trail."""
    store = _open_store(ctx.obj["config_path"])
    record = store.call(call_id)
    if record is None:
        raise CallbotError(f"no call with id {call_id}")
    events = store.events(call_id)
    turns = store.turns(call_id)
    if as_json:
        data = record.to_json()
        data["events"] = [{"at": e.at, "kind": e.kind, "rule": e.rule, "reason": e.reason} for e in events]
        data["turns"] = [dataclasses.asdict(t) for t in turns]
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    rows = [
        ("call", str(record.id)),
        ("started", _local(record.started_at)),
        ("answered", _local(record.answered_at) or "no"),
        ("ended", _local(record.ended_at)),
        ("duration", f"{record.duration:.2f} s" if record.duration is not None else ""),
        ("outcome", record.outcome or "in progress"),
        ("withheld", "yes" if record.withheld else "no"),
        ("number", record.caller_number or "—"),
        ("as received", record.caller_dialled or "—"),
        ("name shown", record.caller_display or "—"),
        ("number type", ", ".join(x for x in (record.caller_type, record.caller_region, record.caller_description) if x) or "—"),
        ("From header", record.caller_raw or "—"),
        ("SIP Call-ID", record.sip_call_id or "—"),
        ("person", record.person or "—"),
        ("company", record.company or "—"),
        ("cold call?", f"{record.label}: {record.label_reasons}" if record.label else "—"),
    ]
    for key, value in rows:
        info.add_row(key, value)
    out.print(info)
    trail = Table(title="What happened")
    for column in ("time", "kind", "rule", "reason"):
        trail.add_column(column, overflow="fold")
    for e in events:
        trail.add_row(_local(e.at), e.kind, e.rule or "", e.reason or "")
    out.print(trail)
    if turns:
        conversation = Table(title="Conversation")
        for column in ("#", "who", "what", "text", "s", "recording"):
            conversation.add_column(column, overflow="fold")
        for t in turns:
            what = t.prompt_id if t.speaker == "bot" else f"{t.field} ({t.end_reason})"
            text = t.text if t.text is not None else ("(not transcribed)" if t.speaker == "caller" else "")
            if t.confidence is not None:
                text += f"  [conf {t.confidence:.2f}]"
            conversation.add_row(str(t.seq), t.speaker, what or "", text, f"{t.duration:.1f}", t.recording or "")
        out.print(conversation)


# -- leads ---------------------------------------------------------------------
@main.command()
@config_option
@click.option("--since", help="Only leads since: 30m, 2h, 7d or an ISO date/time.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@handles_errors
def leads(config_path: Path, since: str | None, limit: int, as_json: bool) -> None:
    """Contact details cold callers gave in reply to the counter-offer, newest first."""
    store = _open_store(config_path)
    found = store.leads(since=parse_since(since) if since else None, limit=limit)
    if as_json:
        for lead in found:
            click.echo(json.dumps(lead.to_json(), ensure_ascii=False))
        return
    table = Table(title="Leads")
    for column in ("call", "when", "company", "person", "number", "what they said", "recording"):
        table.add_column(column, overflow="fold")
    for lead in found:
        table.add_row(str(lead.call_id), _local(lead.created_at), lead.company or "—", lead.person or "—",
                      lead.number or "—", lead.text if lead.text is not None else "(not transcribed)",
                      lead.recording or "")
    out.print(table)


# -- web -------------------------------------------------------------------------
# `callbot web [--host H] [--port P]`: the review web page; `callbot web hash-password`.
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


@main.group("web", invoke_without_command=True)
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

    from callbot.config import WEB_PASSWORD_HASH_ENV, WEB_SECRET_ENV, load_config

    config = load_config(config_path)
    if not config.web.password_hash:
        raise ConfigError(
            ["web.password_hash: no password is set for the web page — run `callbot web hash-password`, "
             f"then put the line it prints into config.toml as [web] password_hash = \"scrypt$…\", or set "
             f"the environment variable {WEB_PASSWORD_HASH_ENV}"],
            str(config.source or config_path),
        )
    explicit_host = ctx.get_parameter_source("host") == ParameterSource.COMMANDLINE
    explicit_port = ctx.get_parameter_source("port") == ParameterSource.COMMANDLINE
    bind = _web_bind_host(host if explicit_host else config.web.host, explicit_host)
    port = port if explicit_port else config.web.port
    _setup_logging(config.log.level)
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
                date_header=False, log_config=None)


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
# -- end of web ------------------------------------------------------------------


# -- lists and privacy -----------------------------------------------------------
# Caller lists: `callbot allow | block | unblock | lists | suggest | import`.
# Data protection: `callbot prune | forget | export`.


def parse_until(value: str, now: datetime | None = None) -> datetime:
    """When a list entry ends: '30d', '12h', '2w' from now, or an ISO date (the
    entry ends at the start of that day, local time) or date-time."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(value.strip().lower())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        moment = now + timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise click.BadParameter(f"{value!r}: use e.g. 30d, 2w or 2027-01-01", param_hint="--until") from None
        if moment.tzinfo is None:
            moment = moment.astimezone()
        moment = moment.astimezone(timezone.utc)
    if moment <= now:
        raise click.BadParameter(f"{value!r} is not in the future", param_hint="--until")
    return moment


def _list_store(config_path: Path, *, create: bool = True):
    """(config, Store) for the list and privacy commands; the log is created if
    ``create`` (so lists can be filled before the bot's first call)."""
    from callbot.config import load_config
    from callbot.store import Store

    config = load_config(config_path)
    database = Path(config.storage.database)
    if not create and not database.exists():
        raise CallbotError(f"no call log yet at {database} — start the bot with `callbot run` first")
    return config, Store(database, default_region=config.phone.default_region)


def _login_name() -> str | None:
    import getpass

    try:
        return getpass.getuser() or None
    except Exception:  # no login name (containers): the entry just says no one
        return None


def _when(iso: str | None) -> str:
    """Local 'YYYY-MM-DD HH:MM', or just the date at midnight (how --until dates are stored)."""
    from callbot.times import local_time

    moment = local_time(iso)
    if moment is None:
        return iso or ""
    return moment.strftime("%Y-%m-%d" if (moment.hour, moment.minute, moment.second) == (0, 0, 0)
                           else "%Y-%m-%d %H:%M")


def _entry_status(entry, now: datetime) -> str:
    if entry.removed_at is not None:
        return f"removed {_when(entry.removed_at)}"
    if entry.is_expired(now):
        return "expired"
    if not entry.confirmed:
        return f"suggested — run `callbot block --accept {entry.id}`"
    return "active"


def _entry_what(entry) -> str:
    return f'name "{entry.value}"' if entry.kind == "name" else f"{entry.kind} {entry.value}"


def _add_to_list(which: str, config_path: Path, value: str | None, name: str | None, reason: str | None,
                 until: str | None, by: str | None) -> None:
    from callbot import lists

    verb = "blocked" if which == "block" else "allowed"
    if not value and not name:
        raise click.UsageError("give a number, a number range ending in * (e.g. +4930123*) or --name PATTERN")
    if not reason or not reason.strip():
        raise click.UsageError(f"--reason is required: nothing is {verb} without a reason")
    expires = parse_until(until) if until else None
    config, store = _list_store(config_path)
    region = config.phone.default_region
    wanted = []
    if value:
        wanted.append(("prefix" if value.strip().endswith("*") else "number", value))
    if name:
        wanted.append(("name", name))
    # Check every value before writing any.
    normalised = []
    for kind, raw in wanted:
        try:
            normalised.append((kind, lists.normalise_value(kind, raw, region)))
        except lists.ListEntryError as exc:
            raise click.BadParameter(str(exc), param_hint="--name" if kind == "name" else "NUMBER_OR_PREFIX") \
                from None
    with store:
        current = store.list_entries()
        for kind, clean in normalised:
            replaced = lists.entries_for_value(current, kind, clean)
            entry_id = store.add_list_entry(which, kind, clean, reason, created_by=by or _login_name(),
                                            expires_at=expires).result(30)
            entry = store.list_entry(entry_id)
            until_text = f", until {_when(entry.expires_at)}" if entry.expires_at else ""
            out.print(f"[green]✓[/] {verb} {escape(_entry_what(entry))} (entry {entry.id}): "
                      f"{escape(entry.reason)}{until_text}", highlight=False, soft_wrap=True)
            for old in replaced:
                out.print(f"  replaces entry {old.id} ({escape(lists.describe(old))})", highlight=False,
                          soft_wrap=True)


@main.command()
@click.argument("value", metavar="NUMBER_OR_PREFIX", required=False)
@click.option("--reason", help="Why (required): shown in the call log whenever the entry applies.")
@click.option("--name", "name", metavar="PATTERN", help="Also/instead allow callers whose shown name matches "
              "(case-insensitive, * = any text).")
@click.option("--until", help="Until when: 30d, 2w, or a date such as 2027-01-01 (default: for good).")
@click.option("--by", help="Who decided (default: your login name).")
@config_option
@handles_errors
def allow(value, reason, name, until, by, config_path) -> None:
    """Let a number (or range ending in *) through to a person: see [handoff]."""
    _add_to_list("allow", config_path, value, name, reason, until, by)


@main.command()
@click.argument("value", metavar="NUMBER_OR_PREFIX", required=False)
@click.option("--reason", help="Why (required): shown in the call log whenever the entry applies.")
@click.option("--name", "name", metavar="PATTERN", help="Also/instead block callers whose shown name matches "
              "(case-insensitive, * = any text), e.g. '*Energie*'.")
@click.option("--until", help="Until when: 30d, 2w, or a date such as 2027-01-01 (default: for good).")
@click.option("--by", help="Who decided (default: your login name).")
@click.option("--accept", "accept", type=int, metavar="ID", help="Accept suggestion ID (see `callbot suggest`).")
@config_option
@handles_errors
def block(value, reason, name, until, by, accept, config_path) -> None:
    """Block a number, a number range ending in * (+4930123*) or a shown name."""
    if accept is None:
        _add_to_list("block", config_path, value, name, reason, until, by)
        return
    if value or name or until:
        raise click.UsageError("--accept takes only the id of a suggestion")
    from callbot import lists

    _, store = _list_store(config_path, create=False)
    entry = store.list_entry(accept)
    if entry is None:
        raise CallbotError(f"no list entry with id {accept} — `callbot lists` shows them")
    if entry.confirmed:
        out.print(f"entry {accept} is already confirmed: {escape(lists.describe(entry))}", highlight=False,
                  soft_wrap=True)
        return
    with store:
        store.confirm_list_entry(accept).result(30)
        entry = store.list_entry(accept)
    out.print(f"[green]✓[/] accepted: {escape(lists.describe(entry))}", highlight=False, soft_wrap=True)


@main.command()
@click.argument("target", metavar="VALUE_OR_ID")
@config_option
@handles_errors
def unblock(target: str, config_path: Path) -> None:
    """Remove a block entry by number, range or name pattern — or any entry
    (allow lists too, suggestions) by its id from `callbot lists`. The entry
    stays in the history (`callbot lists --all`)."""
    from callbot import lists

    _, store = _list_store(config_path, create=False)
    with store:
        if re.fullmatch(r"[1-9]\d{0,8}", target.strip()):
            entry_id = int(target)
            entry = store.list_entry(entry_id)
            if entry is None:
                raise CallbotError(f"no list entry with id {entry_id} — `callbot lists` shows them")
            if store.remove_list_entry(entry_id).result(30) == 0:
                out.print(f"entry {entry_id} was already removed", highlight=False, soft_wrap=True)
                return
            what = "declined suggestion" if not entry.confirmed else "removed entry"
            out.print(f"[green]✓[/] {what} {entry_id}: {escape(lists.describe(entry))}", highlight=False,
                      soft_wrap=True)
            return
        count = store.remove_list_entry(("block", target)).result(30)
    if not count:
        raise CallbotError(f"{target} is not on the block list — `callbot lists` shows the entries")
    out.print(f"[green]✓[/] {escape(target)} is no longer blocked ({count} entr{'y' if count == 1 else 'ies'} "
              f"removed)", highlight=False, soft_wrap=True)


def _entries_table(entries, title: str, now: datetime) -> Table:
    table = Table(title=title)
    for column in ("id", "list", "what", "reason", "source", "confirmed", "by", "added", "expires", "status"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(str(e.id), e.list, escape(_entry_what(e)), escape(e.reason), e.source,
                      "yes" if e.confirmed else "no", escape(e.created_by or "—"), _when(e.created_at),
                      _when(e.expires_at) or "never", escape(_entry_status(e, now)))
    return table


@main.command("lists")
@click.option("--all", "show_all", is_flag=True, help="Also removed and expired entries (the history).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@config_option
@handles_errors
def lists_command(show_all: bool, as_json: bool, config_path: Path) -> None:
    """The allow and block lists, with pending suggestions."""
    from callbot.config import load_config

    config = load_config(config_path)
    entries = []
    if Path(config.storage.database).exists():
        _, store = _list_store(config_path, create=False)
        entries = store.list_entries(include_removed=show_all, include_expired=show_all)
    now = datetime.now(timezone.utc)
    if as_json:
        for entry in entries:
            click.echo(json.dumps({**entry.to_json(), "status": _entry_status(entry, now)}, ensure_ascii=False))
        return
    if not entries:
        out.print("no list entries — add some with `callbot block NUMBER --reason …`, `callbot allow …` or "
                  "`callbot import contacts.vcf`", highlight=False, markup=False, soft_wrap=True)
        return
    out.print(_entries_table(entries, "Caller lists" + (" (with history)" if show_all else ""), now))


@main.command()
@click.option("--min", "min_calls", default=2, show_default=True, type=click.IntRange(1, 1000),
              help="Cold calls from a number before it is suggested.")
@config_option
@handles_errors
def suggest(min_calls: int, config_path: Path) -> None:
    """Suggest blocking numbers whose calls were classified as cold calls."""
    _, store = _list_store(config_path, create=False)
    with store:
        new = store.suggest_blocks(min_calls)
        pending = [e for e in store.list_entries() if e.pending]
    if not pending:
        out.print(f"no suggestions: no unlisted number was classified as a cold call {min_calls} or more times",
                  highlight=False, soft_wrap=True)
        return
    out.print(f"{len(new)} new suggestion(s); {len(pending)} waiting for you. They block nothing until you "
              f"accept one with `callbot block --accept ID` (decline: `callbot unblock ID`).", highlight=False,
              markup=False)
    out.print(_entries_table(pending, "Suggested blocks", datetime.now(timezone.utc)))


@main.command("import")
@click.argument("path", metavar="CONTACTS_FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", help="Who imported (default: your login name).")
@config_option
@handles_errors
def import_contacts(path: Path, by: str | None, config_path: Path) -> None:
    """Allow your contacts: a vCard (.vcf) or CSV export (Google, Outlook, Thunderbird, Excel …).
    Importing again adds only what is new."""
    from callbot import lists

    config, store = _list_store(config_path)
    contacts = lists.read_contacts(path)
    with store:
        plan = lists.plan_import(contacts, store.list_entries(), config.phone.default_region)
        if plan.add:
            store.add_list_entries([
                {"list": "allow", "kind": "number", "value": p.number, "reason": p.reason, "source": "imported",
                 "created_by": by or _login_name()}
                for p in plan.add
            ]).result(120)
    out.print(f"[green]✓[/] {len(plan.add)} number(s) from {len(contacts.contacts)} contact(s) in "
              f"{escape(str(path))} added to the allow list", highlight=False, soft_wrap=True)
    if plan.already:
        out.print(f"  {len(plan.already)} already on the allow list (unchanged)", highlight=False, soft_wrap=True)
    if plan.skipped:
        err.print(f"[yellow]skipped {len(plan.skipped)}:[/]", highlight=False, soft_wrap=True)
        for line in plan.skipped:
            err.print(f"  • {line}", highlight=False, markup=False, soft_wrap=True)


@main.command()
@click.option("--days", type=click.IntRange(0, 36500), help="Keep this many days (default: [retention] days).")
@config_option
@handles_errors
def prune(days: int | None, config_path: Path) -> None:
    """Delete recordings and transcripts older than [retention] days (run it daily)."""
    from callbot import privacy
    from callbot.config import load_config

    config = load_config(config_path)
    days = config.retention.days if days is None else days
    if days == 0:
        out.print("retention days = 0: everything is kept (give --days N to prune anyway)", highlight=False, soft_wrap=True)
        return
    if not Path(config.storage.database).exists():
        out.print(f"no call log yet at {config.storage.database}: nothing to prune", highlight=False, soft_wrap=True)
        return
    _, store = _list_store(config_path, create=False)
    with store:
        report = privacy.prune(store, config.storage.recordings, days,
                               keep_call_rows=config.retention.keep_call_rows)
    since = _when(report.cutoff)
    if report.keep_call_rows:
        out.print(f"[green]✓[/] calls before {since}: {report.calls} call(s) pruned — {report.recordings} "
                  f"recording(s) deleted, {report.transcripts} transcript(s), {report.turns} turn(s) and "
                  f"{report.leads} lead(s) cleared; the calls and their decisions are kept", highlight=False, soft_wrap=True)
    else:
        out.print(f"[green]✓[/] calls before {since}: {report.calls} call(s) deleted with {report.events} "
                  f"event(s), {report.turns} turn(s), {report.leads} lead(s) and {report.recordings} "
                  f"recording(s)", highlight=False, soft_wrap=True)
    if report.missing:
        out.print(f"  {report.missing} recording(s) were already gone", highlight=False, soft_wrap=True)
    _exit_on_problems(report.problems, "those calls were left as they are; run prune again once fixed")


def _exit_on_problems(problems, what_now: str) -> None:
    """List a privacy run's problems on stderr and exit non-zero; nothing when there are none."""
    if not problems:
        return
    err.print(f"[bold red]{len(problems)} problem(s)[/] ({what_now}):", highlight=False, soft_wrap=True)
    for problem in problems:
        err.print(f"  • {problem}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(EXIT_FAILURE)


@main.command()
@click.argument("number")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
@handles_errors
def forget(number: str, yes: bool, config_path: Path) -> None:
    """Erase everything about NUMBER: its calls, recordings, leads and list entries."""
    from callbot import privacy

    config, store = _list_store(config_path, create=False)
    calls_found = store.call_ids_for_number(number)
    entries = store.list_entries_for_number(number)
    if not calls_found and not entries:
        out.print(f"nothing stored about {escape(number)}", highlight=False, soft_wrap=True)
        return
    blocking = [e for e in entries if e.list == "block" and e.removed_at is None]
    if not yes:
        click.confirm(f"Erase {len(calls_found)} call(s) of {number} (with their recordings, transcripts and "
                      f"leads) and {len(entries)} list entr{'y' if len(entries) == 1 else 'ies'} for good?",
                      abort=True, err=True)
    with store:
        report = privacy.forget(store, config.storage.recordings, number)
    out.print(f"[green]✓[/] erased {report.calls} call(s), {report.events} event(s), {report.turns} turn(s), "
              f"{report.leads} lead(s), {report.recordings} recording(s) and {report.list_entries} list "
              f"entr{'y' if report.list_entries == 1 else 'ies'} of {escape(number)}", highlight=False, soft_wrap=True)
    if blocking:
        out.print("  note: the number was blocked; it is screened like any unknown caller from now on",
                  highlight=False, soft_wrap=True)
    _exit_on_problems(report.problems, "those calls were kept; run forget again once fixed")


@main.command()
@click.argument("number")
@click.argument("out_dir", metavar="OUTDIR", type=click.Path(file_okay=False, path_type=Path))
@config_option
@handles_errors
def export(number: str, out_dir: Path, config_path: Path) -> None:
    """Write everything stored about NUMBER into OUTDIR (calls.json and the recordings)."""
    from callbot import privacy

    config, store = _list_store(config_path, create=False)
    path = privacy.export(store, config.storage.recordings, number, out_dir)
    document = json.loads(path.read_text(encoding="utf-8"))
    missing = document["recordings"]["missing"]
    out.print(f"[green]✓[/] wrote {escape(str(path))}: {len(document['calls'])} call(s), "
              f"{len(document['list_entries'])} list entr{'y' if len(document['list_entries']) == 1 else 'ies'}, "
              f"{len(document['recordings']['copied'])} recording(s) in {escape(str(out_dir / 'recordings'))}",
              highlight=False, soft_wrap=True)
    if missing:
        out.print(f"  {len(missing)} recording(s) no longer exist: {escape(', '.join(missing))}", highlight=False,
                  soft_wrap=True)
# -- end of lists and privacy ----------------------------------------------------


# -- demo ----------------------------------------------------------------------
def bundled_prompts_dir() -> Path:
    here = Path.cwd() / "prompts"
    if (here / "de").is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "prompts"


def _free_udp_port(ip: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


@main.command()
@click.option("--language", type=click.Choice(["de", "en"]), default="de", show_default=True)
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the demo's call log and recordings here (default: a temporary directory).")
@handles_errors
def demo(language: str, data_dir: Path | None) -> None:
    """Run the bot and a built-in caller on loopback: one withheld and one numbered call."""
    from callbot.audio import decode_file
    from callbot.app import Bot
    from callbot.config import DEFAULT_MODELS, default_config
    from callbot.telephony.democaller import DemoCaller

    # The demo explains a missing speech model itself; only errors are logged.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    voice = Path(__file__).resolve().parents[1] / "demo_audio"
    answers = tuple(decode_file(voice / f"{field}-{language}.wav") for field in ("identity", "purpose"))
    with tempfile.TemporaryDirectory(prefix="callbot-demo-") as tmp:
        base = data_dir or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        config = default_config(base)
        port = _free_udp_port()
        installed_model = Path.cwd() / "data" / "models" / DEFAULT_MODELS[language]
        config = replace(
            config,
            sip=replace(config.sip, register=False, local_ip="127.0.0.1", local_port=port,
                        rtp_port_min=40000, rtp_port_max=40999),
            prompts=replace(config.prompts, dir=bundled_prompts_dir(), language=language),
            speech=replace(config.speech, model=installed_model, transcription="optional"),
        )
        out.print(f"[bold]callbot demo[/]: bot on 127.0.0.1:{port} (no registrar), call log {config.storage.database}")
        with Bot(config) as bot:
            if bot.recognizer is None:
                out.print(f"(no speech model at {installed_model}: callers are recorded, not transcribed — "
                          f"`callbot models install {language}` adds one)", highlight=False)
            caller = DemoCaller("127.0.0.1", port)
            scenarios = [
                ("withheld caller", '"Anonymous" <sip:anonymous@anonymous.invalid>', ("Privacy: id",), ()),
                ("numbered caller (FRITZ!Box style), answers the questions", "<sip:03012345678@fritz.box>", (),
                 answers),
            ]
            for label, from_header, extra, spoken in scenarios:
                out.print(f"→ placing call: {label} … ", end="")
                report = caller.call(from_header, extra_headers=extra, answers=spoken, timeout=90)
                out.print(f"answered after {1000 * (report.answer_latency or 0):.0f} ms, "
                          f"heard {report.audio_seconds:.1f} s, bot hung up: {report.bye_from_bot_at is not None}",
                          highlight=False)
            bot.store.flush()
            records = bot.store.calls(limit=10)
            turns = {r.id: bot.store.turns(r.id) for r in records}
        out.print(calls_table(records))
        for record in records:
            heard = [t for t in turns[record.id] if t.speaker == "caller"]
            if heard:
                out.print(f"call {record.id}: {len(heard)} caller turn(s) recorded "
                          f"({', '.join(f'{t.field} {t.duration:.1f} s' for t in heard)}), label {record.label}",
                          highlight=False)


# -- models ---------------------------------------------------------------------
# Speech models: `callbot models install de|en`, `callbot models list`.
DEFAULT_MODELS_DIR = Path("data/models")

models_dir_option = click.option(
    "--dir", "models_dir", default=str(DEFAULT_MODELS_DIR), show_default=True,
    type=click.Path(path_type=Path), help="Directory that holds the speech models.",
)


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:.1f} MB" if size_bytes < 1e9 else f"{size_bytes / 1e9:.2f} GB"


@main.group("models")
def models_group() -> None:
    """Speech recognition models (Vosk): install and list."""


@models_group.command("install")
@click.argument("key", type=click.Choice(sorted(speech_models.OFFICIAL), case_sensitive=False))
@click.option("--url", help="Download from here instead (a mirror, file:// URL or path of a downloaded zip).")
@click.option("--sha256", "sha256", metavar="HEX", help="Expected SHA-256 of the zip.")
@click.option("--no-verify", is_flag=True, help="Install even though no checksum is known (it is printed).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Network timeout in seconds.")
@models_dir_option
@handles_errors
def models_install(key: str, url: str | None, sha256: str | None, no_verify: bool, timeout: float,
                   models_dir: Path) -> None:
    """Download and install a Vosk model (de: German, en: English)."""
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    if sha256 and no_verify:
        raise click.UsageError("--sha256 and --no-verify contradict each other; give one of them")
    spec = speech_models.OFFICIAL[key.lower()]
    err.print(f"installing {spec.name} (~{spec.size_mb} MB) into {models_dir}", highlight=False, soft_wrap=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"download {spec.name}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        path = speech_models.install(spec, models_dir, url=url, sha256=sha256, verify=not no_verify,
                                     progress=progress, timeout=timeout)
    model = speech_models.inspect(path)
    out.print(f"[green]✓[/] installed {model.name} in {path} ({_size(model.size_bytes)})", highlight=False,
              soft_wrap=True)
    # soft_wrap: never break the path or the checksum, so they can be copied
    out.print(f"  sha256 {model.sha256} ({'verified' if model.verified else 'not verified'})", highlight=False,
              soft_wrap=True)
    if not model.verified:
        out.print("  [yellow]compare it with a trusted source; pass it with --sha256 next time[/]", highlight=False)


@models_group.command("list")
@models_dir_option
@handles_errors
def models_list(models_dir: Path) -> None:
    """The models in the models directory and whether they look usable."""
    from rich.markup import escape

    models = speech_models.installed(models_dir)
    if not models:
        out.print(f"no models in {models_dir} — install one with `callbot models install de`",
                  highlight=False, markup=False)
        return
    table = Table(title=f"Speech models in {models_dir}")
    for column in ("name", "size", "valid", "sha256"):
        table.add_column(column, overflow="fold")
    for m in models:
        valid = "[green]yes[/]" if m.looks_valid else "[red]no[/]: " + escape("; ".join(m.problems))
        checksum = "" if m.sha256 is None else f"{m.sha256[:12]}… " + ("verified" if m.verified else "unverified")
        table.add_row(m.name, _size(m.size_bytes), valid, checksum)
    out.print(table)
# -- end of models ---------------------------------------------------------------



# -- prompts ---------------------------------------------------------------------
# `callbot prompts list | render [--seed] | export ID OUT.wav`: what callers hear.
def _prompt_report(config_path: Path):
    """The config and a RenderReport of its prompt language (nothing raised for prompt problems)."""
    from callbot.config import load_config
    from callbot.call.policy import POLICY_PROMPTS
    from callbot.prompts import PromptLibrary, config_kwargs

    config = load_config(config_path)
    return config, PromptLibrary.render(**config_kwargs(config), required=POLICY_PROMPTS)


def _prompt_usage(lang_dir: Path, prompt_ids: list[str]) -> dict[str, list[str]] | None:
    """Prompt id -> the script steps that say it, from <lang>/script.toml; None if unknown."""
    script_path = lang_dir / "script.toml"
    if not script_path.is_file():
        return None
    from callbot.script import load_script

    try:
        script = load_script(script_path, prompt_ids)
        return dict(script.prompt_usage())
    except CallbotError as exc:
        err.print(f"[yellow]note:[/] {script_path} has problems, so 'used by' is not shown: {exc}",
                  highlight=False, markup=True)
        return None


def _prompt_source(prompt) -> str:
    return prompt.source.name if prompt.kind == "recording" else f"TTS {prompt.tts}"


def _print_prompt_problems(problems) -> None:
    for problem in problems:
        err.print(f"  • {problem.message}", highlight=False, markup=False)


@main.group("prompts")
def prompts_group() -> None:
    """The announcements callers hear: list, render (build the cache) and export."""


@prompts_group.command("list")
@config_option
@handles_errors
def prompts_list(config_path: Path) -> None:
    """Each prompt: where its audio comes from, how long it is, which script steps use it."""
    from rich.markup import escape

    config, report = _prompt_report(config_path)
    lang_dir = Path(config.prompts.dir) / report.language
    ids = sorted(set(report.prompts) | {p.prompt_id for p in report.problems if p.prompt_id})
    usage = _prompt_usage(lang_dir, sorted(report.prompts))
    table = Table(title=f"Prompts in {lang_dir}")
    for column in ("id", "source", "duration", "used by"):
        table.add_column(column, overflow="fold")
    for prompt_id in ids:
        prompt = report.prompts.get(prompt_id)
        used = ", ".join(usage.get(prompt_id, [])) if usage is not None else ""
        if prompt is None:
            table.add_row(escape(prompt_id), "[red]problem[/] (see below)", "", escape(used or "—"))
        else:
            table.add_row(escape(prompt_id), escape(_prompt_source(prompt)), f"{prompt.duration:.1f} s",
                          escape(used or "—"))
    out.print(table)
    if report.problems:
        err.print(f"[bold red]{len(report.problems)} problem(s):[/]", highlight=False)
        _print_prompt_problems(report.problems)
        sys.exit(EXIT_FAILURE)


@prompts_group.command("render")
@config_option
@click.option("--seed", is_flag=True,
              help="Also regenerate the shipped pre-rendered speech (<dir>/<lang>/tts/, every language) "
                   "from prompts.toml with the default voice (espeak-ng, 150 wpm); removes stale files.")
@handles_errors
def prompts_render(config_path: Path, seed: bool) -> None:
    """Render every prompt into the cache (what callers hear) and report problems."""
    from callbot.config import load_config
    from callbot.prompts import TEXTS_FILE, write_seed

    failed = False
    if seed:
        config = load_config(config_path)
        root = Path(config.prompts.dir)
        for lang_dir in sorted(p for p in root.iterdir() if (p / TEXTS_FILE).is_file()):
            try:
                lines = write_seed(root, lang_dir.name)
            except PromptError as exc:
                failed = True
                err.print(f"[red]✗[/] seed {lang_dir.name}: not written", highlight=False)
                for problem in exc.problems:
                    err.print(f"  • {problem}", highlight=False, markup=False)
                continue
            changed = [line for line in lines if not line.startswith("kept")]
            for line in changed:
                out.print(f"  {line}", highlight=False, markup=False)
            out.print(f"[green]✓[/] seed {lang_dir.name}: {len(lines) - len(changed)} unchanged, "
                      f"{len(changed)} written/removed", highlight=False)
    config, report = _prompt_report(config_path)
    for prompt_id in sorted(set(report.prompts) | {p.prompt_id for p in report.problems if p.prompt_id}):
        prompt = report.prompts.get(prompt_id)
        if prompt is None:
            for message in report.problems_of(prompt_id):
                out.print(f"[red]✗[/] {report.language}/{prompt_id}: {escape(message)}", highlight=False,
                          soft_wrap=True)
            continue
        out.print(f"[green]✓[/] {report.language}/{prompt_id}: {prompt.duration:.1f} s, "
                  f"{_prompt_source(prompt)} ({prompt.origin})", highlight=False, markup=True)
    for problem in report.problems:
        if problem.prompt_id is None:
            out.print(f"[red]✗[/] {escape(problem.message)}", highlight=False, soft_wrap=True)
    cache = report.cache_dir if report.cache_dir is not None else "a temporary directory"
    if report.problems or failed:
        err.print(f"[bold red]{len(report.problems)} problem(s)[/] in {report.directory / report.language}",
                  highlight=False)
        sys.exit(EXIT_FAILURE)
    out.print(f"{len(report.prompts)} prompts ready, cached in {cache}", highlight=False)


@prompts_group.command("export")
@click.argument("prompt_id")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@handles_errors
def prompts_export(prompt_id: str, output: Path, config_path: Path) -> None:
    """Write prompt PROMPT_ID as OUTPUT (WAV): exactly the 8 kHz audio callers hear."""
    from callbot.audio import write_wav

    _, report = _prompt_report(config_path)
    prompt = report.prompts.get(prompt_id)
    if prompt is None:
        problems = report.problems_of(prompt_id)
        if problems:
            raise PromptError(problems)
        known = ", ".join(sorted(report.prompts)) or "none"
        raise PromptError([f"unknown prompt {prompt_id!r} for language {report.language!r} (known: {known})"])
    if not output.parent.is_dir():
        raise CallbotError(f"cannot write {output}: there is no folder {output.parent}")
    try:
        write_wav(output, prompt.pcm)
    except OSError as exc:
        raise CallbotError(f"cannot write {output}: {exc.strerror or exc}") from None
    out.print(f"[green]✓[/] wrote {output}: {report.language}/{prompt_id}, {prompt.duration:.1f} s, "
              f"8 kHz 16-bit mono, from {_prompt_source(prompt)}", highlight=False)
# -- end of prompts --------------------------------------------------------------

if __name__ == "__main__":  # pragma: no cover
    main()
