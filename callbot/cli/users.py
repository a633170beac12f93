"""`callbot users add|list|remove|passwd`: the office's logins for the web page.

The configured owner (``[web] user`` + ``password_hash``) stays as it is and is listed first;
the others live in the call log's users table (:mod:`callbot.store.users`). A new user gets a
password typed here (hidden, twice) or, with ``--link``, a one-time setup link to open in a
browser. Removing a user or a new password ends that user's web logins at once
(``web-sessions.db``, :mod:`callbot.store.sessions`). Changes are recorded as made by
``--by`` (default: your login name on this computer).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from callbot.cli.common import EXIT_USAGE, cell, config_option, err, handles_errors, json_line, local_text, \
    login_name, open_config_store, out
from callbot.errors import CallbotError

MIN_PASSWORD = 8


def _sessions(config):
    from callbot.store.sessions import FILE_NAME, SessionTable

    return SessionTable(Path(config.storage.database).parent / FILE_NAME)


def _end_logins(config, name: str) -> int:
    sessions = _sessions(config)
    try:
        return sessions.remove_user(name)
    finally:
        sessions.close()


def _password() -> str:
    from callbot.passwords import hash_password

    password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat it", err=True)
    if len(password) < MIN_PASSWORD:
        err.print(f"[bold red]Error:[/] the password needs at least {MIN_PASSWORD} characters", highlight=False)
        sys.exit(EXIT_USAGE)
    return hash_password(password)


def _link(config, token: str) -> str:
    host = config.web.host
    return f"http://{'[' + host + ']' if ':' in host else host}:{config.web.port}/setup?token={token}"


def _by(by: str | None) -> str:
    return by or login_name() or "cli"


@click.group("users")
@config_option
def users_group(config_path) -> None:
    """The web page's users: owner (everything) and staff (inbox, calls, recordings, notes)."""


@users_group.command("add")
@config_option
@click.argument("name")
@click.option("--role", type=click.Choice(["staff", "owner"]), default="staff", show_default=True)
@click.option("--link", is_flag=True, help="Print a one-time setup link (48 h) instead of asking for a password.")
@click.option("--by", help="Who makes the change (default: your login name).")
@handles_errors
def users_add(config_path, name, role, link, by) -> None:
    """Add a user who logs in to the web page with their own password."""
    config, store = open_config_store(config_path)
    try:
        if name.strip().casefold() == config.web.user.casefold():
            raise CallbotError(f"{name!r} is the configured owner ([web] user); choose another name")
        encoded = None if link else _password()
        token = store.add_user(name, role, _by(by), encoded).result(10)
    finally:
        store.close()
    if token:
        click.echo(_link(config, token))
        err.print("Open this link once (within 48 hours) to set the password; it is shown only now. "
                  "Reachable from other computers only where the web page is.", highlight=False)
    else:
        err.print(f"{name} added ({role}).", highlight=False, markup=False)


@users_group.command("language")
@config_option
@click.argument("name")
@click.argument("language", type=click.Choice(["de", "en", "default"]))
@click.option("--by", help="Who makes the change (default: your login name).")
@handles_errors
def users_language(config_path, name, language, by) -> None:
    """The web page's language for NAME: de, en, or default ([web] language). Takes effect at the next login."""
    config, store = open_config_store(config_path)
    try:
        store.set_user_language(name, None if language == "default" else language, _by(by)).result(10)
    finally:
        store.close()
    err.print(f"{name}: language {language}.", highlight=False, markup=False)


@users_group.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@handles_errors
def users_list(config_path, as_json) -> None:
    """Every user: name, role, password set, live web logins."""
    from rich.table import Table

    config, store = open_config_store(config_path)
    try:
        users = store.users()
    finally:
        store.close()
    sessions = _sessions(config)
    try:
        live = sessions.users()
    finally:
        sessions.close()
    rows = []
    if config.web.password_hash:
        rows.append({"name": config.web.user, "role": "owner", "password": "config", "logins": live.get(config.web.user, 0),
                     "created_at": None, "created_by": None})
    rows += [{"name": u.name, "role": u.role,
              "password": "set" if u.has_password else ("setup link" if u.setup_pending else "none"),
              "logins": live.get(u.name, 0), "created_at": u.created_at, "created_by": u.created_by} for u in users]
    if as_json:
        for row in rows:
            click.echo(json_line(row))
        return
    table = Table("name", "role", "password", "logins", "added", "by")
    for row in rows:
        table.add_row(cell(row["name"]), row["role"], row["password"], str(row["logins"]),
                      local_text(row["created_at"]), cell(row["created_by"] or ""))
    out.print(table)


@users_group.command("remove")
@config_option
@click.argument("name")
@click.option("--by", help="Who makes the change (default: your login name).")
@handles_errors
def users_remove(config_path, name, by) -> None:
    """Remove a user; their web logins end at once."""
    config, store = open_config_store(config_path)
    try:
        user = store.user(name)
        if user is None:
            raise CallbotError(f"there is no user {name!r}" + (" (the configured owner is changed in the config)"
                                                               if name.casefold() == config.web.user.casefold() else ""))
        if user.role == "owner" and not config.web.password_hash and not any(
                u.role == "owner" and u.has_password and u.name != user.name for u in store.users()):
            raise CallbotError(f"{user.name} is the last owner who can log in; add another owner first")
        store.remove_user(user.name, _by(by)).result(10)
    finally:
        store.close()
    ended = _end_logins(config, user.name)
    err.print(f"{user.name} removed; {ended} web login(s) ended.", highlight=False, markup=False)


@users_group.command("passwd")
@config_option
@click.argument("name")
@click.option("--link", is_flag=True, help="Print a one-time setup link instead of asking for the password.")
@click.option("--by", help="Who makes the change (default: your login name).")
@handles_errors
def users_passwd(config_path, name, link, by) -> None:
    """A new password for a user (or a new setup link); their web logins end at once."""
    config, store = open_config_store(config_path)
    try:
        user = store.user(name)
        if user is None:
            raise CallbotError(f"there is no user {name!r}" + (" — the configured owner's password is [web] "
                                                               "password_hash (`callbot web hash-password`)"
                                                               if name.casefold() == config.web.user.casefold() else ""))
        encoded = None if link else _password()
        token = store.set_user_password(user.name, encoded, _by(by)).result(10)
    finally:
        store.close()
    ended = _end_logins(config, user.name)
    if token:
        click.echo(_link(config, token))
    err.print(f"{user.name}: {'setup link made' if token else 'password changed'}; {ended} web login(s) ended.",
              highlight=False, markup=False)
