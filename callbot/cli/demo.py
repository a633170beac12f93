"""`callbot demo`: the bot and three built-in callers on loopback, telling the whole story — a
withheld caller, a cold caller who gets the counter-offer and leaves contact details (a lead), a
genuine caller who leaves a message.

The demo keeps its log in a demo folder (``./callbot-demo`` unless ``--data DIR``): a
``config.toml`` there points at the folder's call log and recordings, so `callbot calls`,
`callbot leads` and `callbot web` look at it afterwards. Each run starts afresh: it replaces the
folder's call log, recordings and config (and touches nothing outside the folder); a folder it
did not make (no :data:`MARKER` in it) is refused. Without a speech model the demo callers'
words are known (:mod:`callbot.cli.demo_voice`) and attached as their transcript, marked so in
the call log. One of the modules that may start the runtime (``callbot.app``).
"""

from __future__ import annotations

import json
import logging
import secrets
import shlex
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
from rich.markup import escape

from callbot.cli.calls import calls_table
from callbot.cli.common import handles_errors, out
from callbot.cli.demo_voice import COLD_CALLER, DEMO_MARK, GENUINE_CALLER, DemoRecognizer, recording_path

#: The demo folder when no --data is given (relative to where the demo runs).
DEFAULT_FOLDER = Path("callbot-demo")
#: The file that makes a folder a demo folder (the demo only replaces what is in such a folder).
MARKER = ".callbot-demo"
MARKER_TEXT = ("This folder belongs to `callbot demo`. Every run of the demo replaces its call log,\n"
               "recordings and config.toml; nothing else is kept here.\n")
#: What an earlier run made and a new run replaces (inside the demo folder only).
#: data/models stays: a speech model someone installed there is not the demo's to delete.
REPLACED = ("config.toml", "data")
KEPT_IN_DATA = ("models",)
#: The demo callers' audio ports (loopback) and the longest a demo call may take (seconds).
RTP_PORTS = (40000, 40999)
CALL_TIMEOUT = 90.0
#: Seconds between the demo's calls, so the call log numbers them in this order.
CALL_SPACING = 0.5
#: How long the demo waits for the bot to write a call's outcome after the caller heard the BYE.
FINISH_TIMEOUT = 30.0
#: The port `callbot web` is given in the demo's config when it is free (else any free port).
WEB_PORT = 8080


@dataclass(frozen=True)
class Scenario:
    who: str                      # how the output names the caller
    from_header: str
    extra_headers: tuple[str, ...]
    answers: tuple[str, ...]      # the recordings spoken, one per `listen` of the default script
    expected: str                 # the outcome that tells this part of the story


SCENARIOS = (
    Scenario("withheld caller — hears the withheld message",
             '"Anonymous" <sip:anonymous@anonymous.invalid>', ("Privacy: id",), (), "withheld_rejected"),
    Scenario("cold caller 030 12345678 — a sales pitch; gets the counter-offer, leaves contact details",
             "<sip:03012345678@fritz.box>", (), COLD_CALLER, "cold_call_countered"),
    Scenario("genuine caller 040 9876543 — a question about an invoice; leaves a message",
             "<sip:0409876543@fritz.box>", (), GENUINE_CALLER, "message_taken"),
)

HELP = f"""Run the bot and three built-in callers on 127.0.0.1 (no telephone system).

A withheld caller hears the withheld message; a cold caller gets the counter-offer and leaves
contact details (a lead); a genuine caller leaves a message. The call log stays in the demo
folder (./{DEFAULT_FOLDER}, or --data DIR) with a config.toml for `callbot calls`, `callbot leads`
and `callbot web`; the demo prints those commands and a one-time password for the web page.

Every run starts afresh: it replaces the demo folder's call log, recordings and config.toml and
touches nothing outside that folder. A folder the demo did not make is refused.

Without a speech model the callers' words are the known text of their recordings, marked in the
log as "{DEMO_MARK}"; with one (`callbot models install LANG`) they are transcribed for real.
"""


@click.command("demo", help=HELP)
@click.option("--language", type=click.Choice(["de", "en"]), default="de", show_default=True)
@click.option("--data", "folder", type=click.Path(file_okay=False, path_type=Path), default=str(DEFAULT_FOLDER),
              show_default=True,
              help="The demo folder: call log, recordings and config.toml (replaced on every run).")
@handles_errors
def demo(language: str, folder: Path) -> None:
    from callbot.app import Bot
    from callbot.audio import decode_file
    from callbot.config.load import load_config
    from callbot.passwords import hash_password
    from callbot.speech.settings import DEFAULT_MODELS
    from callbot.telephony.democaller import DemoCaller

    # The demo explains a missing speech model itself; only errors are logged.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    prepare_folder(folder)
    model = (Path.cwd() / "data" / "models" / DEFAULT_MODELS[language]).resolve()
    password = secrets.token_urlsafe(12)
    port = free_port(socket.SOCK_DGRAM, avoid=range(RTP_PORTS[0], RTP_PORTS[1] + 1))
    web_port = free_port(socket.SOCK_STREAM, WEB_PORT)
    config_path = write_config(folder, language=language, sip_port=port, web_port=web_port, model=model,
                               password_hash=hash_password(password))
    config = load_config(config_path)
    recognizer = demo_recognizer(model, language)
    out.print(f"[bold]callbot demo[/]: the bot on 127.0.0.1:{port} (no telephone system), "
              f"{'German' if language == 'de' else 'English'} prompts, demo folder {escape(str(folder))}/ "
              "(a new run replaces its call log and recordings)", highlight=False, soft_wrap=True)
    if recognizer is not None:
        out.print(f"no speech model installed ({model}): the demo callers' words are known and attached as their "
                  f'transcript, marked "{DEMO_MARK}" — `callbot models install {language}` adds a model',
                  highlight=False, markup=False, soft_wrap=True)
    else:
        out.print(f"speech model {model}: the callers are transcribed for real", highlight=False, markup=False,
                  soft_wrap=True)
    with Bot(config, recognizer=recognizer) as bot:
        if recognizer is None and bot.recognizer is None:
            out.print(f"the speech model {model} could not be loaded: the callers are recorded, not transcribed",
                      highlight=False, markup=False, soft_wrap=True)
        caller = DemoCaller("127.0.0.1", port)
        out.print("→ three calls at once:", highlight=False)
        with ThreadPoolExecutor(len(SCENARIOS)) as pool:
            jobs = []
            for scenario in SCENARIOS:
                out.print(f"  {scenario.who}", highlight=False, soft_wrap=True)
                answers = tuple(decode_file(recording_path(name, language)) for name in scenario.answers)
                jobs.append(pool.submit(caller.call, scenario.from_header, extra_headers=scenario.extra_headers,
                                        answers=answers, timeout=CALL_TIMEOUT))
                time.sleep(CALL_SPACING)
            reports = [job.result() for job in jobs]
        records = wait_for_outcomes(bot.store, len(SCENARIOS))
        if recognizer is not None:
            mark_demo_transcripts(bot.store, records)
        records = bot.store.calls(limit=len(SCENARIOS))
        leads = bot.store.leads()
    out.print(calls_table(records))
    tell_story(sorted(records, key=lambda r: r.id), reports, leads)
    print_follow_up(folder, config_path, records, web_port, password, config.web.user)


def demo_recognizer(model: Path, language: str) -> DemoRecognizer | None:
    """The demo callers' known words when no speech model is installed; None: the bot loads ``model``
    and transcribes for real."""
    return None if model.is_dir() else DemoRecognizer(language)


# -- the demo folder --------------------------------------------------------------
def prepare_folder(folder: Path) -> None:
    """Make ``folder`` a fresh demo folder: new, empty, or one an earlier demo made (its marker).

    What an earlier run left (:data:`REPLACED`) is removed; nothing outside ``folder`` is touched."""
    if folder.exists() and not folder.is_dir():
        raise click.BadParameter(f"{folder} is a file, not a folder — choose a folder with --data DIR",
                                 param_hint="--data")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise click.BadParameter(
            f"{folder} is not a callbot demo folder (it has files but no {MARKER}) — the demo replaces what is "
            f"in its folder, so it only uses a new or empty folder or one it made itself; choose another with "
            f"--data DIR", param_hint="--data")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        for name in REPLACED:
            path = folder / name
            if name == "data" and path.is_dir() and not path.is_symlink():
                for child in path.iterdir():
                    if child.name not in KEPT_IN_DATA:
                        _remove(child)
            else:
                _remove(path)
    except OSError as exc:
        raise click.ClickException(f"cannot prepare the demo folder {folder}: {exc.strerror or exc} "
                                   f"({exc.filename}) — fix that or choose another folder with --data DIR") from None


def _remove(path: Path) -> None:
    """Delete a file, a symlink (not what it points to) or a folder tree (no links followed)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def free_port(kind: int, preferred: int = 0, avoid: range = range(0)) -> int:
    """A free loopback port of ``kind`` (SOCK_DGRAM/SOCK_STREAM): ``preferred`` when free, else any
    outside ``avoid`` (the kernel's ephemeral ports overlap the demo's RTP range)."""
    for port in [preferred] * bool(preferred) + [0] * 100:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            if s.getsockname()[1] not in avoid:
                return s.getsockname()[1]
    raise click.ClickException("no free port on 127.0.0.1")  # pragma: no cover


def bundled_prompts_dir() -> Path:
    """The prompts and script shipped with callbot (the repository's prompts/), else ./prompts."""
    for candidate in (Path(__file__).resolve().parents[2] / "prompts", Path.cwd() / "prompts"):
        if (candidate / "de" / "script.toml").is_file():
            return candidate
    raise click.ClickException("the bundled prompts (prompts/de, prompts/en) are missing — run the demo from a "
                               "clone of the callbot repository")


def write_config(folder: Path, *, language: str, sip_port: int, web_port: int, model: Path,
                 password_hash: str) -> Path:
    """The demo's config.toml: the folder's data, the bundled prompts, loopback, registration off."""
    q = json.dumps  # a JSON string is a TOML basic string
    lines = [
        "# Written by `callbot demo`; every run of the demo replaces this file, the call log and the",
        "# recordings in this folder. Look at the demo's calls with:",
        f"#   callbot calls --config {shlex.quote(str(folder / 'config.toml'))}",
        "# Relative paths are relative to this file.",
        "",
        "[sip]",
        "register = false                 # no telephone system: callers reach the bot directly",
        'local_ip = "127.0.0.1"',
        f"local_port = {sip_port}",
        f"rtp_port_min = {RTP_PORTS[0]}",
        f"rtp_port_max = {RTP_PORTS[1]}",
        "",
        "[storage]",
        'database = "data/callbot.db"',
        'recordings = "data/recordings"',
        "",
        "[prompts]",
        f"dir = {q(str(bundled_prompts_dir()))}",
        f"language = {q(language)}",
        "",
        "[tts]",
        'cache = "data/cache/prompts"',
        "",
        "[speech]",
        'transcription = "optional"       # without a model: record, no transcripts',
        f"model = {q(str(model))}" + ("" if model.is_dir() else "  # not installed yet"),
        "",
        "[web]",
        f"port = {web_port}",
        f"password_hash = {q(password_hash)}   # the demo printed the password once",
        f"session_secret = {q(secrets.token_urlsafe(32))}",
        "",
    ]
    path = folder / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# -- after the calls ----------------------------------------------------------------
def wait_for_outcomes(store, count: int, timeout: float = FINISH_TIMEOUT):
    """The calls, once the bot has written all ``count`` outcomes (or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while True:
        store.flush()
        records = store.calls(limit=count)
        if (len(records) >= count and all(r.outcome for r in records)) or time.monotonic() >= deadline:
            return records
        time.sleep(0.1)


def mark_demo_transcripts(store, records) -> None:
    """Each transcript the demo recognizer attached gets an event in its call's trail saying so."""
    for record in records:
        for turn in store.turns(record.id):
            if turn.speaker == "caller" and turn.text:
                store.add_event(record.id, "transcript", turn.field, f'{DEMO_MARK}: "{turn.text}"')
    store.flush()


def tell_story(records, reports, leads) -> None:
    """One line per call: who, what the bot made of it, how it ended (and the lead)."""
    for record, scenario, report in zip(records, SCENARIOS, reports):
        who = "withheld number" if record.withheld else (record.caller_number or "?")
        found = ", ".join(x for x in (record.person, record.company) if x)
        line = f"call {record.id}: {who}" + (f" ({found})" if found else "")
        if record.label and not record.withheld:
            line += f", said to be {record.label}"
        line += f" → {record.outcome or 'no outcome yet'}"
        out.print(line, highlight=False, markup=False, soft_wrap=True)
        for lead in (lead for lead in leads if lead.call_id == record.id):
            out.print(f"  lead: {lead.text or '(not transcribed)'}", highlight=False, markup=False, soft_wrap=True)
        if record.outcome != scenario.expected:
            out.print(f"  [yellow]expected {scenario.expected} here[/] (caller: answered "
                      f"{report.status or 'never'}, spoke {report.answers_spoken} of {len(scenario.answers)} answers, heard "
                      f"{report.audio_seconds:.1f} s of the bot)", highlight=False, soft_wrap=True)


def print_follow_up(folder: Path, config_path: Path, records, web_port: int, password: str, user: str) -> None:
    """The exact commands to look at the demo's log, and the web page's one-time password."""
    config = shlex.quote(str(config_path))
    cold = next((r.id for r in records if r.outcome == "cold_call_countered"), max((r.id for r in records), default=1))
    out.print(f"\nThe call log stays in {folder}/. Look at it:", highlight=False, markup=False, soft_wrap=True)
    for command in (f"callbot calls --config {config}",
                    f"callbot calls show {cold} --config {config}",
                    f"callbot leads --config {config}",
                    f"callbot web --config {config}"):
        out.print(f"  {command}", highlight=False, markup=False, soft_wrap=True)
    out.print(f"  → http://127.0.0.1:{web_port}/  user {user}, password {password}  (shown only now; "
              "config.toml keeps its hash)", highlight=False, markup=False, soft_wrap=True)
    out.print(f"Running `callbot demo` again starts afresh: it replaces the call log and recordings in {folder}/.",
              highlight=False, markup=False, soft_wrap=True)
