"""Caller lists: `callbot allow | block | unblock | lists | suggest | import`
(thin wrappers over callbot.lists and the store's list methods). Entry values and reasons may
come from callers (a shown name, a suggestion's reason): they are printed through
``cell``/``markup``/``json_line`` of :mod:`callbot.cli.common`, never as rich markup."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.table import Table

from callbot.cli.common import (
    cell,
    config_option,
    err,
    handles_errors,
    json_line,
    local_day_text,
    login_name,
    markup,
    open_config_store,
    out,
    parse_until,
    shown,
)
from callbot.errors import CallbotError


def _entry_status(entry, now: datetime) -> str:
    if entry.removed_at is not None:
        return f"removed {local_day_text(entry.removed_at)}"
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
    from callbot.numbers import ListEntryError, normalise_value

    verb = "blocked" if which == "block" else "allowed"
    if not value and not name:
        raise click.UsageError("give a number, a number range ending in * (e.g. +4930123*) or --name PATTERN")
    if not reason or not reason.strip():
        raise click.UsageError(f"--reason is required: nothing is {verb} without a reason")
    expires = parse_until(until) if until else None
    config, store = open_config_store(config_path)
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
            normalised.append((kind, normalise_value(kind, raw, region)))
        except ListEntryError as exc:
            raise click.BadParameter(str(exc), param_hint="--name" if kind == "name" else "NUMBER_OR_PREFIX") \
                from None
    with store:
        current = store.list_entries()
        for kind, clean in normalised:
            replaced = lists.entries_for_value(current, kind, clean)
            entry_id = store.add_list_entry(which, kind, clean, reason, created_by=by or login_name(),
                                            expires_at=expires).result(30)
            entry = store.list_entry(entry_id)
            until_text = f", until {local_day_text(entry.expires_at)}" if entry.expires_at else ""
            out.print(f"[green]✓[/] {verb} {markup(_entry_what(entry))} (entry {entry.id}): "
                      f"{markup(entry.reason)}{until_text}", highlight=False, soft_wrap=True)
            for old in replaced:
                out.print(f"  replaces entry {old.id} ({markup(lists.describe(old))})", highlight=False,
                          soft_wrap=True)


@click.command("allow")
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


@click.command("block")
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

    _, store = open_config_store(config_path, create=False)
    entry = store.list_entry(accept)
    if entry is None:
        raise CallbotError(f"no list entry with id {accept} — `callbot lists` shows them")
    if entry.confirmed:
        out.print(f"entry {accept} is already confirmed: {markup(lists.describe(entry))}", highlight=False,
                  soft_wrap=True)
        return
    with store:
        store.confirm_list_entry(accept).result(30)
        entry = store.list_entry(accept)
    out.print(f"[green]✓[/] accepted: {markup(lists.describe(entry))}", highlight=False, soft_wrap=True)


@click.command("unblock")
@click.argument("target", metavar="VALUE_OR_ID")
@config_option
@handles_errors
def unblock(target: str, config_path: Path) -> None:
    """Remove a block entry by number, range or name pattern — or any entry
    (allow lists too, suggestions) by its id from `callbot lists`. The entry
    stays in the history (`callbot lists --all`)."""
    from callbot import lists

    _, store = open_config_store(config_path, create=False)
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
            out.print(f"[green]✓[/] {what} {entry_id}: {markup(lists.describe(entry))}", highlight=False,
                      soft_wrap=True)
            return
        count = store.remove_list_entry(("block", target)).result(30)
    if not count:
        raise CallbotError(f"{target} is not on the block list — `callbot lists` shows the entries")
    out.print(f"[green]✓[/] {markup(target)} is no longer blocked ({count} entr{'y' if count == 1 else 'ies'} "
              f"removed)", highlight=False, soft_wrap=True)


def _entries_table(entries, title: str, now: datetime) -> Table:
    table = Table(title=title)
    for column in ("id", "list", "what", "reason", "source", "confirmed", "by", "added", "expires", "status"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(str(e.id), cell(e.list), cell(_entry_what(e)), cell(e.reason), cell(e.source),
                      "yes" if e.confirmed else "no", cell(e.created_by or "—"), local_day_text(e.created_at),
                      local_day_text(e.expires_at) or "never", cell(_entry_status(e, now)))
    return table


@click.command("lists")
@click.option("--all", "show_all", is_flag=True, help="Also removed and expired entries (the history).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@config_option
@handles_errors
def lists_command(show_all: bool, as_json: bool, config_path: Path) -> None:
    """The allow and block lists, with pending suggestions."""
    from callbot.config.load import load_config

    config = load_config(config_path)
    entries = []
    if Path(config.storage.database).exists():
        _, store = open_config_store(config_path, create=False)
        entries = store.list_entries(include_removed=show_all, include_expired=show_all)
    now = datetime.now(timezone.utc)
    if as_json:
        for entry in entries:
            click.echo(json_line({**entry.to_json(), "status": _entry_status(entry, now)}))
        return
    if not entries:
        out.print("no list entries — add some with `callbot block NUMBER --reason …`, `callbot allow …` or "
                  "`callbot import contacts.vcf`", highlight=False, markup=False, soft_wrap=True)
        return
    out.print(_entries_table(entries, "Caller lists" + (" (with history)" if show_all else ""), now))


@click.command("suggest")
@click.option("--min", "min_calls", default=2, show_default=True, type=click.IntRange(1, 1000),
              help="Cold calls from a number before it is suggested.")
@config_option
@handles_errors
def suggest(min_calls: int, config_path: Path) -> None:
    """Suggest blocking numbers whose calls were classified as cold calls."""
    _, store = open_config_store(config_path, create=False)
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


@click.command("import")
@click.argument("path", metavar="CONTACTS_FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", help="Who imported (default: your login name).")
@config_option
@handles_errors
def import_contacts(path: Path, by: str | None, config_path: Path) -> None:
    """Allow your contacts: a vCard (.vcf) or CSV export (Google, Outlook, Thunderbird, Excel …).
    Importing again adds only what is new."""
    from callbot.contacts import plan_import, read_contacts

    config, store = open_config_store(config_path)
    contacts = read_contacts(path)
    with store:
        plan = plan_import(contacts, store.list_entries(), config.phone.default_region)
        if plan.add:
            store.add_list_entries([
                {"list": "allow", "kind": "number", "value": p.number, "reason": p.reason, "source": "imported",
                 "created_by": by or login_name()}
                for p in plan.add
            ]).result(120)
    out.print(f"[green]✓[/] {len(plan.add)} number(s) from {len(contacts.contacts)} contact(s) in "
              f"{markup(str(path))} added to the allow list", highlight=False, soft_wrap=True)
    if plan.already:
        out.print(f"  {len(plan.already)} already on the allow list (unchanged)", highlight=False, soft_wrap=True)
    if plan.skipped:
        err.print(f"[yellow]skipped {len(plan.skipped)}:[/]", highlight=False, soft_wrap=True)
        for line in plan.skipped:
            err.print(f"  • {shown(line)}", highlight=False, markup=False, soft_wrap=True)
