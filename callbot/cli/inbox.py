"""`callbot inbox` (the open items, newest first) and `callbot inbox done ID --note …`.

The same inbox as the web page's start page (:mod:`callbot.store.inbox`, threads:
:mod:`callbot.web.threads`): closing an item closes every open item of that caller's thread.
Callers' values are shown through ``cell``/``shown``/``json_line`` (never read as markup).
"""

from __future__ import annotations

import click
from rich.table import Table

from callbot.cli.common import cell, config_option, err, handles_errors, json_line, local_text, login_name, \
    open_config_store, out, shown
from callbot.errors import CallbotError


@click.group("inbox", invoke_without_command=True)
@config_option
@click.option("--mine", "mine", metavar="NAME", help="Only the items assigned to NAME.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 200))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
@handles_errors
def inbox(ctx, config_path, mine, limit, as_json) -> None:
    """Calls that need a person (messages, genuine callers, leads, failed transfers), newest first."""
    if ctx.invoked_subcommand is not None:
        return
    _, store = open_config_store(config_path, create=False)
    try:
        items = store.inbox_page(assignee=mine, per_page=limit)
        total = store.inbox_open_count(mine)
    finally:
        store.close()
    if as_json:
        for i in items:
            click.echo(json_line({"id": i.call.id, "started_at": i.call.started_at, "number": i.call.caller_number,
                                  "dialled": i.call.caller_dialled, "person": i.call.person,
                                  "company": i.call.company, "outcome": i.call.outcome, "state": i.state,
                                  "assignee": i.assignee, "due_at": i.due_at, "purpose": i.purpose,
                                  "recording": i.recording}))
        return
    table = Table("id", "when", "caller", "who / company", "purpose", "state", "assignee", "due",
                  title=f"{total} open item(s)")
    for i in items:
        c = i.call
        table.add_row(str(c.id), local_text(c.started_at), cell(c.caller_number or c.caller_dialled or ""),
                      cell(", ".join(x for x in (c.person, c.company) if x), 40), cell(i.purpose or "", 60),
                      i.state.replace("_", " "), cell(i.assignee or ""), local_text(i.due_at))
    out.print(table)


@inbox.command("done")
@config_option
@click.argument("call_id", type=click.IntRange(1))
@click.option("--note", help="What was done (kept in the item's history).")
@click.option("--as", "who", help="Who did it (default: your login name).")
@handles_errors
def inbox_done(config_path, call_id, note, who) -> None:
    """Close the item of call ID (and every open item of that caller's thread)."""
    from callbot.web.threads import NoSuchCall, change_thread

    _, store = open_config_store(config_path, create=False)
    try:
        try:
            count = change_thread(store, call_id, who or login_name() or "cli", state="done", note=note)
        except NoSuchCall as exc:
            raise CallbotError(str(exc)) from None
    finally:
        store.close()
    err.print(f"call {call_id}: done ({count} change(s) recorded)." if count else
              f"call {call_id} was already done.", highlight=False, markup=False)
    if note:
        err.print(f"note: {shown(note, 200)}", highlight=False, markup=False)
