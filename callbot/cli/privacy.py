"""Data protection: `callbot prune | forget | export` (thin wrappers over callbot.privacy)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from callbot.cli.common import (
    EXIT_FAILURE,
    config_option,
    err,
    handles_errors,
    local_day_text,
    markup,
    open_config_store,
    out,
    shown,
)


@click.command("prune")
@click.option("--days", type=click.IntRange(0, 36500), help="Keep this many days (default: [retention] days).")
@config_option
@handles_errors
def prune(days: int | None, config_path: Path) -> None:
    """Delete recordings and transcripts older than [retention] days (run it daily)."""
    from callbot import privacy
    from callbot.config.load import load_config

    config = load_config(config_path)
    days = config.retention.days if days is None else days
    if days == 0:
        out.print("retention days = 0: everything is kept (give --days N to prune anyway)", highlight=False, soft_wrap=True)
        return
    if not Path(config.storage.database).exists():
        out.print(f"no call log yet at {config.storage.database}: nothing to prune", highlight=False, soft_wrap=True)
        return
    _, store = open_config_store(config_path, create=False)
    with store:
        report = privacy.prune(store, config.storage.recordings, days,
                               keep_call_rows=config.retention.keep_call_rows)
    since = local_day_text(report.cutoff)
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
    if report.orphans:
        out.print(f"  {report.orphans} file(s) in call folders that no call pointed to deleted", highlight=False,
                  soft_wrap=True)
    _exit_on_problems(report.problems, "those calls were left as they are; run prune again once fixed")


def _exit_on_problems(problems, what_now: str) -> None:
    """List a privacy run's problems on stderr and exit non-zero; nothing when there are none."""
    if not problems:
        return
    err.print(f"[bold red]{len(problems)} problem(s)[/] ({what_now}):", highlight=False, soft_wrap=True)
    for problem in problems:
        err.print(f"  • {shown(problem)}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(EXIT_FAILURE)


@click.command("forget")
@click.argument("number")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
@handles_errors
def forget(number: str, yes: bool, config_path: Path) -> None:
    """Erase everything about NUMBER: its calls (withheld ones whose kept P-Asserted-Identity
    names it too), their recording folders, leads and list entries. Erased text is
    overwritten in the call log, and its write-ahead log (-wal) is emptied afterwards."""
    from callbot import privacy

    config, store = open_config_store(config_path, create=False)
    calls_found = store.call_ids_for_number(number)
    entries = store.list_entry_rows(number)
    if not calls_found and not entries:
        out.print(f"nothing stored about {markup(number)}", highlight=False, soft_wrap=True)
        if not store.truncate_wal():  # a former run may have left the erased values in the -wal file
            _wal_busy(store, number)
        return
    blocking = [e for e in entries if e["list"] == "block" and e["removed_at"] is None]
    if not yes:
        click.confirm(f"Erase {len(calls_found)} call(s) of {shown(number)} (with their recordings, transcripts and "
                      f"leads) and {len(entries)} list entr{'y' if len(entries) == 1 else 'ies'} for good?",
                      abort=True, err=True)
    with store:
        report = privacy.forget(store, config.storage.recordings, number)
    out.print(f"[green]✓[/] erased {report.calls} call(s), {report.events} event(s), {report.turns} turn(s), "
              f"{report.leads} lead(s), {report.recordings} recording(s) and {report.list_entries} list "
              f"entr{'y' if report.list_entries == 1 else 'ies'} of {markup(number)}", highlight=False, soft_wrap=True)
    if report.orphans:
        out.print(f"  with {report.orphans} file(s) in their recording folders that no call pointed to",
                  highlight=False, soft_wrap=True)
    if blocking:
        out.print("  note: the number was blocked; it is screened like any unknown caller from now on",
                  highlight=False, soft_wrap=True)
    _exit_on_problems(report.problems, "those calls were kept; run forget again once fixed")
    if not report.wal_truncated:
        _wal_busy(store, number)


def _wal_busy(store, number: str) -> None:
    """The write-ahead log could not be emptied: say so, exit non-zero (the erasure is not complete)."""
    err.print(f"[bold red]not finished:[/] another process (the bot, `callbot web`) kept {markup(store.path)}-wal "
              f"busy, so the erased values stay readable in that file until SQLite's next checkpoint — run "
              f"`callbot forget {markup(number)}` again in a quiet moment", highlight=False, soft_wrap=True)
    sys.exit(EXIT_FAILURE)


@click.command("export")
@click.argument("number")
@click.argument("out_dir", metavar="OUTDIR", type=click.Path(file_okay=False, path_type=Path))
@config_option
@handles_errors
def export(number: str, out_dir: Path, config_path: Path) -> None:
    """Write everything stored about NUMBER into OUTDIR (calls.json and the recordings).

    calls.json is UTF-8 JSON holding every stored column; it is lossless: text that is not
    valid UTF-8 keeps its bytes, each invalid byte 0xXY written as the escape \\udcXY
    (Python: json.load, then .encode("utf-8", "surrogateescape")), BLOB values as
    {"base64": "..."}."""
    from callbot import privacy

    config, store = open_config_store(config_path, create=False)
    path = privacy.export(store, config.storage.recordings, number, out_dir)
    document = json.loads(path.read_text(encoding="utf-8"))
    missing = document["recordings"]["missing"]
    out.print(f"[green]✓[/] wrote {markup(path)}: {len(document['calls'])} call(s), "
              f"{len(document['list_entries'])} list entr{'y' if len(document['list_entries']) == 1 else 'ies'}, "
              f"{len(document['recordings']['copied'])} recording(s) in {markup(out_dir / 'recordings')}",
              highlight=False, soft_wrap=True)
    if missing:
        out.print(f"  {len(missing)} recording(s) no longer exist: {markup(', '.join(missing))}", highlight=False,
                  soft_wrap=True)
