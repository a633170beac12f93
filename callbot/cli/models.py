"""Speech models: `callbot models install de|en`, `callbot models list` (thin
wrappers over callbot.speech.models and callbot.speech.model_install)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
from rich.table import Table

from callbot.cli.common import err, handles_errors, out
from callbot.errors import ModelError
from callbot.speech import model_install
from callbot.speech import models as speech_models

DEFAULT_MODELS_DIR = Path("data/models")

models_dir_option = click.option(
    "--dir", "models_dir", default=str(DEFAULT_MODELS_DIR), show_default=True,
    type=click.Path(path_type=Path), help="Directory that holds the speech models.",
)


def _checksum_advice(ctx: click.Context, exc, from_file: Path | None) -> str:
    """One line: why the model is not installed, and the command that installs it anyway."""
    from click.core import ParameterSource

    command = ["callbot", "models", "install", exc.spec.key]
    for name, flag in (("from_file", "--from"), ("url", "--url"), ("models_dir", "--dir"),
                       ("timeout", "--timeout")):
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            command += [flag, str(ctx.params[name])]
    what = f"{from_file} cannot be checked" if from_file else "callbot cannot check the download"
    return (f"{exc.publisher} publishes no checksum for {exc.spec.name}, so {what}; to install it anyway: "
            f"{shlex.join(command + ['--no-verify'])}, or pass --sha256 HEX you got from a trusted copy")


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:.1f} MB" if size_bytes < 1e9 else f"{size_bytes / 1e9:.2f} GB"


@click.group("models")
def models_group() -> None:
    """Speech recognition models (Vosk): install and list."""


@models_group.command("install")
@click.argument("key", type=click.Choice(sorted(speech_models.OFFICIAL), case_sensitive=False))
@click.option("--from", "from_file", metavar="FILE.zip",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Install from a zip copied to this machine (offline machines); same as --url file://….")
@click.option("--url", help="Download from here instead (a mirror, file:// URL or path of a downloaded zip).")
@click.option("--sha256", "sha256", metavar="HEX", help="Expected SHA-256 of the zip.")
@click.option("--no-verify", is_flag=True, help="Install even though no checksum is known (it is printed).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Network timeout in seconds.")
@models_dir_option
@click.pass_context
@handles_errors
def models_install(ctx, key: str, from_file: Path | None, url: str | None, sha256: str | None, no_verify: bool,
                   timeout: float, models_dir: Path) -> None:
    """Download and install a Vosk model (de: German, en: English), or install it from a zip
    copied to this machine (--from FILE.zip)."""
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    if sha256 and no_verify:
        raise click.UsageError("--sha256 and --no-verify contradict each other; give one of them")
    if from_file and url:
        raise click.UsageError("--from and --url both say where the zip comes from; give one of them")
    spec = speech_models.OFFICIAL[key.lower()]
    if from_file:
        url = str(from_file.resolve())
    try:
        model_install.checksum_to_expect(spec, sha256, verify=not no_verify)
    except model_install.ChecksumUnknown as exc:
        raise ModelError(_checksum_advice(ctx, exc, from_file)) from None
    err.print(f"installing {spec.name} (~{spec.size_mb} MB) into {models_dir}", highlight=False, soft_wrap=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"download {spec.name}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        path = model_install.install(spec, models_dir, url=url, sha256=sha256, verify=not no_verify,
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
