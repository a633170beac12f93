"""`callbot calls [show ID]` and `callbot leads`: the call log, read-only."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
from rich.table import Table

from callbot.cli.common import config_option, handles_errors, local_text, open_store, out, parse_since
from callbot.errors import CallbotError


@click.group("calls", invoke_without_command=True)
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
    store = open_store(config_path)
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
            str(r.id), local_text(r.started_at), caller, r.outcome or "in progress",
            f"{r.duration:.1f} s" if r.duration is not None else "", "\n".join(r.reasons),
        )
    return table


@calls.command("show")
@click.argument("call_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handles_errors
def calls_show(ctx, call_id: int, as_json: bool) -> None:
    """One call with its whole decision trail."""
    store = open_store(ctx.obj["config_path"])
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
        ("started", local_text(record.started_at)),
        ("answered", local_text(record.answered_at) or "no"),
        ("ended", local_text(record.ended_at)),
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
        trail.add_row(local_text(e.at), e.kind, e.rule or "", e.reason or "")
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
@click.command("leads")
@config_option
@click.option("--since", help="Only leads since: 30m, 2h, 7d or an ISO date/time.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@handles_errors
def leads(config_path: Path, since: str | None, limit: int, as_json: bool) -> None:
    """Contact details cold callers gave in reply to the counter-offer, newest first."""
    store = open_store(config_path)
    found = store.leads(since=parse_since(since) if since else None, limit=limit)
    if as_json:
        for lead in found:
            click.echo(json.dumps(lead.to_json(), ensure_ascii=False))
        return
    table = Table(title="Leads")
    for column in ("call", "when", "company", "person", "number", "what they said", "recording"):
        table.add_column(column, overflow="fold")
    for lead in found:
        table.add_row(str(lead.call_id), local_text(lead.created_at), lead.company or "—", lead.person or "—",
                      lead.number or "—", lead.text if lead.text is not None else "(not transcribed)",
                      lead.recording or "")
    out.print(table)
