"""`callbot calls [show ID]` and `callbot leads`: the call log, read-only.

Every value that came from a caller (names, URIs, transcripts, company …) is shown through
:mod:`callbot.cli.common`'s ``cell``/``shown``/``json_line``/``csv_cell``: never read as rich
markup, control and bidi characters as visible escapes, long names cut in tables only.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text

from callbot.cli.common import (
    CELL_MAX,
    cell,
    config_option,
    csv_cell,
    handles_errors,
    json_line,
    local_text,
    open_config_store,
    open_store,
    out,
    parse_since,
    shown,
)
from callbot.errors import CallbotError
from callbot.notify.report import deliveries


@click.group("calls", invoke_without_command=True)
@config_option
@click.option("--since", help="Only calls since: 30m, 2h, 7d or an ISO date/time.")
@click.option("--outcome", help="Only calls with this outcome (e.g. withheld_rejected).")
@click.option("--number", help="Only calls from this number (E.164 or part of it).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--csv", "as_csv", is_flag=True,
              help="CSV with a header line, for a spreadsheet: a cell that would start a formula "
                   "(= + - @) starts with ' instead, control characters appear as \\x1b-style escapes.")
@click.pass_context
@handles_errors
def calls(ctx, config_path, since, outcome, number, limit, as_json, as_csv) -> None:
    """Recent calls, newest first."""
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
            click.echo(json_line(record.to_json()))
        return
    if as_csv:
        write_csv(records, sys.stdout)
        return
    out.print(calls_table(records))


#: The columns of `calls --csv`: every stored value of a call row, and its decision reasons.
CSV_COLUMNS = ("id", "sip_call_id", "started_at", "answered_at", "ended_at", "duration", "outcome",
               "caller_number", "caller_dialled", "caller_display", "caller_raw", "caller_type",
               "caller_region", "caller_description", "withheld", "withheld_evidence", "person", "company",
               "label", "label_reasons", "transcript", "reasons")


def write_csv(records, stream) -> None:
    """The calls as CSV (see --csv): one line per call, every cell through ``csv_cell``."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        data = record.to_json()
        data["reasons"] = "; ".join(record.reasons)
        writer.writerow([csv_cell(data.get(column)) for column in CSV_COLUMNS])


#: The verdict column's words (German: the office reads them).
_LABEL_WORDS = {"cold_call": "Werbeanruf", "genuine": "Anliegen", "unclear": "unklar"}
_RULE_WORDS = {"withheld": "Rufnummer unterdrückt", "blocked": "auf der Sperrliste",
               "allowed": "auf der Erlaubnisliste", "unknown": "unbekannter Anrufer"}
_MAX_PHRASES = 3


def _label_phrases(label: str, label_reasons: str | None) -> list[str]:
    """The phrases behind a label, from ``"<label>: <cold-call evidence>; against: <genuine evidence>"``:
    the cold-call evidence for a cold call, the evidence against it for a genuine call."""
    head, found, against = (label_reasons or "").partition("; against: ")
    if not found or not head.startswith(f"{label}: ") or label not in ("cold_call", "genuine"):
        return []
    phrases = head[len(label) + 2:] if label == "cold_call" else against
    return [p.strip() for p in phrases.split(",") if p.strip() and p.strip() != "—"]


def verdict(record) -> str:
    """The caller's purpose or the call's verdict in a few words: "Werbeanruf: Angebot, Strom",
    "Anliegen: Rechnung", "Rufnummer unterdrückt" (the full rule text is in `calls show`)."""
    rule = record.reasons[0].partition(":")[0].strip() if record.reasons else None
    if record.withheld or rule == "withheld":
        return _RULE_WORDS["withheld"]
    if record.label in _LABEL_WORDS:
        phrases = _label_phrases(record.label, record.label_reasons)
        if len(phrases) > _MAX_PHRASES:
            phrases = phrases[:_MAX_PHRASES] + ["…"]
        text = _LABEL_WORDS[record.label] + (f": {', '.join(phrases)}" if phrases else "")
        return f"{_RULE_WORDS['blocked']}, {text}" if rule == "blocked" else text
    return _RULE_WORDS.get(rule or "", "—")


def caller_text(record, limit: int | None = CELL_MAX) -> str:
    """Who called, as the caller ID showed it: the number (with the name shown), or the name
    marked as one when there was no number. Safe to print (:func:`shown`); names and URIs
    longer than ``limit`` are cut (None: whole)."""
    from callbot.call.policy import sip_user_name

    if record.withheld:
        return "withheld"
    number = shown(record.caller_number or record.caller_dialled, limit)
    display = shown(record.caller_display, limit)
    if number:
        return f"{number} ({display})" if display else number
    name = display or shown(sip_user_name(record.caller_raw), limit)
    return f"{name} (no number)" if name else (shown(record.caller_raw, limit) or "?")


#: What the verdict column should get before the caller column takes more than its numbers need.
_VERDICT_WANTS = 22
_GAP = 2  # between two columns (SIMPLE_HEAD box, collapsed padding)


def calls_table(records) -> Table:
    """The calls, one line each where the terminal allows. Values that must stay whole
    (times, outcomes, numbers) never wrap; names and the verdict wrap at spaces only, so at
    80 columns nothing is split inside a word (a word too long for its column ends in …)."""
    rows = [(str(r.id), local_text(r.started_at)[:16], caller_text(r), shown(r.outcome or "in progress"),
             f"{r.duration:.0f}" if r.duration is not None else "", shown(verdict(r), CELL_MAX)) for r in records]
    headers = ("id", "started", "caller", "outcome", "sec", "verdict")
    natural = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    numbers = [len(r.caller_number or r.caller_dialled or "") for r in records if not r.withheld]
    room = out.width - sum(natural[i] for i in (0, 1, 3, 4)) - _GAP * 5 - min(natural[5], _VERDICT_WANTS)
    caller_width = max([len("withheld"), *numbers, min(natural[2], room)])
    table = Table(title="Calls", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("caller", width=caller_width, overflow="ellipsis")
    table.add_column("outcome", no_wrap=True)
    table.add_column("sec", justify="right", no_wrap=True)
    table.add_column("verdict", overflow="ellipsis")
    for row in rows:
        table.add_row(*map(Text, row))  # names come from the network: never rich markup
    return table


@calls.command("show")
@click.argument("call_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@config_option
@handles_errors
def calls_show(call_id: int, as_json: bool, config_path: Path) -> None:
    """One call with its whole decision trail."""
    config, store = open_config_store(config_path, create=False)
    record = store.call(call_id)
    if record is None:
        raise CallbotError(f"no call with id {call_id}")
    events = store.events(call_id)
    turns = store.turns(call_id)
    sent = deliveries(store, call_id, language="en", timezone=config.notify.timezone)
    if as_json:
        data = record.to_json()
        data["events"] = [{"at": e.at, "kind": e.kind, "rule": e.rule, "reason": e.reason} for e in events]
        data["turns"] = [dataclasses.asdict(t) for t in turns]
        data["notifications"] = [dataclasses.asdict(d.notification) for d in sent]
        click.echo(json_line(data))
        return
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column(overflow="fold")  # the whole value, however long
    rows = [
        ("call", str(record.id)),
        ("started", local_text(record.started_at)),
        ("answered", local_text(record.answered_at) or "no"),
        ("ended", local_text(record.ended_at)),
        ("duration", f"{record.duration:.2f} s" if record.duration is not None else ""),
        ("outcome", record.outcome or "in progress"),
        ("withheld", "yes" if record.withheld else "no"),
        *([("asserted identity", record.withheld_evidence)] if record.withheld_evidence else []),
        ("number", record.caller_number or "—"),
        ("as received", record.caller_dialled or "—"),
        ("name shown", record.caller_display or "—"),
        ("number type", ", ".join(x for x in (record.caller_type, record.caller_region, record.caller_description) if x) or "—"),
        ("From header", record.caller_raw or "—"),
        ("SIP Call-ID", record.sip_call_id or "—"),
        ("person", record.person or "—"),
        ("company", record.company or "—"),
        ("cold call?", "—" if not record.label else record.label_reasons
         if (record.label_reasons or "").startswith(f"{record.label}:") else f"{record.label}: {record.label_reasons}"),
        ("verdict", verdict(record)),
    ]
    for key, value in rows:
        info.add_row(key, cell(value))  # the whole value: `calls` cuts long names, this shows them
    out.print(info)
    trail = Table(title="What happened")
    for column in ("time", "kind", "rule", "reason"):
        trail.add_column(column, overflow="fold")
    for e in events:
        trail.add_row(local_text(e.at), cell(e.kind), cell(e.rule), cell(e.reason))
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
            conversation.add_row(str(t.seq), cell(t.speaker), cell(what), cell(text),
                                 f"{t.duration:.1f}" if t.duration is not None else "", cell(t.recording))
        out.print(conversation)
    if sent:  # each notification, what became of it, and every attempt with the server's answer
        out.print(Text("Notifications", style="bold"))
        for d in sent:
            out.print(Text(d.line, style="red" if d.failed else None))
            for line in d.attempts:
                out.print(Text("  " + line))


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
            click.echo(json_line(lead.to_json()))
        return
    table = Table(title="Leads")
    for column in ("call", "when", "company", "person", "number", "what they said", "recording"):
        table.add_column(column, overflow="fold")
    for lead in found:
        table.add_row(str(lead.call_id), local_text(lead.created_at), cell(lead.company or "—"),
                      cell(lead.person or "—"), cell(lead.number or "—"),
                      cell(lead.text if lead.text is not None else "(not transcribed)"), cell(lead.recording))
    out.print(table)
