"""`callbot prompts list | render [--seed] | export ID OUT.wav`: what callers hear
(thin wrappers over callbot.prompts)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from callbot.cli.common import EXIT_FAILURE, config_option, err, handles_errors, out
from callbot.errors import CallbotError, PromptError


def _prompt_report(config_path: Path):
    """The config and a RenderReport of its prompt language (nothing raised for prompt problems)."""
    from callbot.call.handler import required_prompts
    from callbot.config.load import load_config
    from callbot.prompts.library import PromptLibrary, config_kwargs

    config = load_config(config_path)
    return config, PromptLibrary.render(**config_kwargs(config), required=required_prompts(config.calls))


def _prompt_usage(lang_dir: Path, prompt_ids: list[str]) -> dict[str, list[str]] | None:
    """Prompt id -> the script steps that say it, from <lang>/script.toml; None if unknown."""
    script_path = lang_dir / "script.toml"
    if not script_path.is_file():
        return None
    from callbot.script.loading import load_script

    try:
        script = load_script(script_path, prompt_ids)
        return dict(script.prompt_usage())
    except CallbotError as exc:
        err.print(f"[yellow]note:[/] {script_path} has problems, so 'used by' is not shown: {exc}",
                  highlight=False, markup=True)
        return None


def _prompt_uses(prompt_id: str, steps: list[str]) -> str:
    """What a prompt is used for: when the bot's policy plays it, and the script steps that say it."""
    from callbot.call.policy import PROMPT_USES
    from callbot.call.screening import HOLD_PROMPT

    uses = {**PROMPT_USES, HOLD_PROMPT: "hold phrase while the words are late"}
    return "; ".join(filter(None, (uses.get(prompt_id), ", ".join(steps)))) or "—"


def _prompt_source(prompt) -> str:
    return prompt.source.name if prompt.kind == "recording" else f"TTS {prompt.tts}"


def _print_prompt_problems(problems) -> None:
    for problem in problems:
        err.print(f"  • {problem.message}", highlight=False, markup=False)


@click.group("prompts")
@config_option
def prompts_group(config_path: Path) -> None:
    """The announcements callers hear: list, render (build the cache) and export."""


@prompts_group.command("list")
@config_option
@handles_errors
def prompts_list(config_path: Path) -> None:
    """Each prompt: where its audio comes from, how long it is, what it is used for (when the
    bot plays it by itself, and which script steps say it)."""
    from rich.markup import escape

    config, report = _prompt_report(config_path)
    lang_dir = Path(config.prompts.dir) / report.language
    ids = sorted(set(report.prompts) | {p.prompt_id for p in report.problems if p.prompt_id})
    usage = _prompt_usage(lang_dir, sorted(report.prompts)) or {}
    table = Table(title=f"Prompts in {lang_dir}")
    for column in ("id", "source", "duration", "used for"):
        table.add_column(column, overflow="fold")
    for prompt_id in ids:
        prompt = report.prompts.get(prompt_id)
        used = escape(_prompt_uses(prompt_id, usage.get(prompt_id, [])))
        if prompt is None:
            table.add_row(escape(prompt_id), "[red]problem[/] (see below)", "", used)
        else:
            table.add_row(escape(prompt_id), escape(_prompt_source(prompt)), f"{prompt.duration:.1f} s", used)
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
    from callbot.config.load import load_config
    from callbot.prompts.layout import TEXTS_FILE
    from callbot.prompts.seed import write_seed

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
@click.option("--rate", type=click.Choice(["8000", "16000"]), default="8000", show_default=True,
              help="8000: what G.711 callers hear; 16000: what G.722 (wideband) callers hear.")
@config_option
@handles_errors
def prompts_export(prompt_id: str, output: Path, config_path: Path, rate: str = "8000") -> None:
    """Write prompt PROMPT_ID as OUTPUT (WAV): exactly the audio callers hear (8 or 16 kHz)."""
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
        write_wav(output, prompt.pcm_at(int(rate)), int(rate))
    except OSError as exc:
        raise CallbotError(f"cannot write {output}: {exc.strerror or exc}") from None
    out.print(f"[green]✓[/] wrote {output}: {report.language}/{prompt_id}, {prompt.duration:.1f} s, "
              f"{int(rate) // 1000} kHz 16-bit mono, from {_prompt_source(prompt)}", highlight=False)
