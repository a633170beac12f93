"""`callbot run`, `callbot check` and `callbot demo`: the commands that start (or
check) the bot. The only module of the command line that may import the runtime
(callbot.app)."""

from __future__ import annotations

import logging
import signal
import socket
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import click

from callbot.cli.calls import calls_table
from callbot.cli.common import config_option, err, handles_errors, out, setup_logging


@click.command("run")
@config_option
@handles_errors
def run(config_path: Path) -> None:
    """Run the bot in the foreground (Ctrl-C or SIGTERM stops it cleanly)."""
    from callbot.app import Bot
    from callbot.config.load import load_config

    config = load_config(config_path)
    setup_logging(config.log.level)
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


@click.command("check")
@config_option
@handles_errors
def check(config_path: Path) -> None:
    """Validate the configuration, the prompts and the owner's script; exit non-zero on any problem."""
    from callbot.call.handler import required_prompts
    from callbot.config.load import load_config
    from callbot.prompts.library import PromptLibrary
    from callbot.script.loading import load_owner_script, script_path

    config = load_config(config_path)
    prompts = PromptLibrary.from_config(config, required=required_prompts(config.calls))
    out.print(f"[green]✓[/] configuration {config_path} is valid", highlight=False)
    for prompt_id in prompts.ids():
        prompt = prompts.get(prompt_id)
        out.print(f"[green]✓[/] prompt {prompt.language}/{prompt.id}: {prompt.duration:.1f} s from {prompt.source.name}",
                  highlight=False)
    if config.calls.unknown == "screen":
        script = load_owner_script(config.prompts.dir, config.prompts.language, prompts.ids())
        out.print(f"[green]✓[/] script {script_path(config.prompts.dir, config.prompts.language)}: {len(script.steps)} steps, starts at {script.start}",
                  highlight=False)


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


@click.command("demo")
@click.option("--language", type=click.Choice(["de", "en"]), default="de", show_default=True)
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the demo's call log and recordings here (default: a temporary directory).")
@handles_errors
def demo(language: str, data_dir: Path | None) -> None:
    """Run the bot and a built-in caller on loopback: one withheld and one numbered call."""
    from callbot.app import Bot
    from callbot.audio import decode_file
    from callbot.config.model import default_config
    from callbot.speech.settings import DEFAULT_MODELS
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
