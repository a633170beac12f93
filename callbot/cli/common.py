"""What every command shares: the consoles, exit codes and the one place a
CallbotError becomes a message (``handles_errors``), the ``--config`` option,
logging, reading times given on the command line, showing stored times,
showing values that came from a caller (``shown``, ``cell``, ``json_line``,
``csv_cell``), and opening the call log."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from callbot.errors import CallbotError, ConfigError, PromptError, ScriptError

#: Exit codes: 1 = a check found problems / runtime failure, 2 = bad input.
EXIT_FAILURE = 1
EXIT_USAGE = 2

out = Console()
err = Console(stderr=True)


# -- errors become messages ------------------------------------------------------
#: A write did not land in time: the call log is locked by another program (a backup, sqlite3).
BUSY_MESSAGE = ("the call log did not take the change in time — another program holds it "
                "(a backup, sqlite3 in a terminal?); close it and run the command again")


def _fail(exc: CallbotError) -> None:
    problems = getattr(exc, "problems", None)
    if problems:
        source = getattr(exc, "source", None)
        err.print(f"[bold red]Error[/] in {source}:" if source else "[bold red]Error:[/]", highlight=False)
        for problem in problems:  # soft_wrap: never break a path or a command across lines
            err.print(f"  • {problem}", highlight=False, markup=False, soft_wrap=True)
    else:
        err.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    code = EXIT_USAGE if isinstance(exc, (ConfigError, PromptError, ScriptError)) else EXIT_FAILURE
    sys.exit(code)


def handles_errors(func):
    """Library errors become one clear message and a non-zero exit; no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CallbotError as exc:
            _fail(exc)
        except TimeoutError:  # a write still queued behind a lock another program holds
            _fail(CallbotError(BUSY_MESSAGE))

    return wrapper


# -- options ---------------------------------------------------------------------
#: The configuration file when neither --config nor CALLBOT_CONFIG names one.
DEFAULT_CONFIG = Path("config.toml")
#: The environment variable that names the configuration file (any --config wins over it).
CONFIG_ENV = "CALLBOT_CONFIG"

_config_click_option = click.option(
    "--config", "-c", "config_path", default=None, envvar=CONFIG_ENV, show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Configuration file (default: {DEFAULT_CONFIG}). May stand before or after the command: "
         f"`callbot --config F calls show 1` = `callbot calls show 1 --config F`.",
)


def config_in_use(ctx: click.Context) -> Path:
    """The configuration file a command reads: the innermost ``--config`` given on the
    command line (the command's own, then its group's, up to ``callbot --config``),
    else ``$CALLBOT_CONFIG``, else ./config.toml."""
    from click.core import ParameterSource

    level: click.Context | None = ctx
    while level is not None:
        if level.get_parameter_source("config_path") is ParameterSource.COMMANDLINE:
            return level.params["config_path"]
        level = level.parent
    from_env = ctx.params.get("config_path")
    return Path(from_env) if from_env else DEFAULT_CONFIG


def config_option(func):
    """``--config PATH`` (``-c``, env CALLBOT_CONFIG) on a command or group; the command
    receives ``config_path`` = :func:`config_in_use`, so the option works wherever it is
    typed. Put it on every command that reads the configuration (and on their groups)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        kwargs["config_path"] = config_in_use(click.get_current_context())
        return func(*args, **kwargs)

    return _config_click_option(wrapper)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# -- times given on the command line ---------------------------------------------
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """'30m', '2h', '7d', '1w', or an ISO date/time (local time if no zone)."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(value.strip().lower())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: use e.g. 2h, 7d or 2026-11-22T08:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed.astimezone(timezone.utc)


def parse_until(value: str, now: datetime | None = None) -> datetime:
    """When a list entry ends: '30d', '12h', '2w' from now, or an ISO date (the
    entry ends at the start of that day, local time) or date-time."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(value.strip().lower())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        moment = now + timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise click.BadParameter(f"{value!r}: use e.g. 30d, 2w or 2027-01-01", param_hint="--until") from None
        if moment.tzinfo is None:
            moment = moment.astimezone()
        moment = moment.astimezone(timezone.utc)
    if moment <= now:
        raise click.BadParameter(f"{value!r} is not in the future", param_hint="--until")
    return moment


# -- stored times shown ----------------------------------------------------------
def local_text(iso: str | None) -> str:
    """Local 'YYYY-MM-DD HH:MM:SS' of a stored time ('' for none)."""
    from callbot.times import local_time

    moment = local_time(iso)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else iso or ""


def local_day_text(iso: str | None) -> str:
    """Local 'YYYY-MM-DD HH:MM', or just the date at midnight (how --until dates are stored)."""
    from callbot.times import local_time

    moment = local_time(iso)
    if moment is None:
        return iso or ""
    return moment.strftime("%Y-%m-%d" if (moment.hour, moment.minute, moment.second) == (0, 0, 0)
                           else "%Y-%m-%d %H:%M")


# -- values that came from a caller ---------------------------------------------
#: Longest caller value a table shows (the whole value: `calls show`, --json, `export`).
CELL_MAX = 80
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Format characters a name may legitimately use (the zero-width joiner of emoji sequences).
_HARMLESS_FORMAT = {"\u200d"}


def _unsafe(char: str) -> bool:
    """A character that must not reach a terminal raw: control characters (ESC …), bidi
    overrides and other format characters (U+202E …), line separators, and the lone
    surrogates undecodable bytes became."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp") and char not in _HARMLESS_FORMAT


def _escaped(char: str) -> str:
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def shown(value: object, limit: int | None = None) -> str:
    """A value from the network (a name, a URI, a transcript …) as plain text that is safe to
    print: every control, bidi or format character is written as a visible escape (``\\x1b``,
    ``\\u202e``, ``\\n``), and with ``limit`` a longer value is cut to ``limit`` characters
    ending in "…". Rich markup is NOT escaped here: print it as :func:`cell` (a Text) or
    through :func:`markup`."""
    if value is None:
        return ""
    text = str(value)
    if any(_unsafe(c) for c in text):
        text = "".join(_escaped(c) if _unsafe(c) else c for c in text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def cell(value: object, limit: int | None = None) -> Text:
    """A table cell of a caller's value: :func:`shown`, as a rich Text (never read as markup)."""
    return Text(shown(value, limit))


def markup(value: object, limit: int | None = None) -> str:
    """A caller's value to put into a rich markup string: :func:`shown`, markup escaped."""
    return escape(shown(value, limit))


def json_line(data: object) -> str:
    """JSON for the terminal or a pipe, lossless: ``ensure_ascii=False`` keeps umlauts readable,
    and the characters a terminal would act on (C1 controls, bidi and format characters, line
    separators, the lone surrogates of undecodable bytes) are written as ``\\uXXXX`` escapes
    (C0 controls such as ESC already are)."""
    text = json.dumps(data, ensure_ascii=False)
    if not any(_unsafe(c) for c in text):
        return text
    return "".join(f"\\u{ord(c):04x}" if _unsafe(c) else c for c in text)


#: A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value for a CSV export: :func:`shown` (one line, escapes visible) and, when it starts
    like a formula (``= + - @``, tab, CR), prefixed with ``'`` so a spreadsheet shows it as text."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = shown(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# -- the call log ----------------------------------------------------------------
def open_store(config_path: Path):
    """The call log to read (calls, leads); an error if the bot has not made one yet."""
    from callbot.config.load import load_config
    from callbot.store.store import Store

    config = load_config(config_path)
    if not Path(config.storage.database).exists():
        raise CallbotError(f"no call log yet at {config.storage.database} — start the bot with `callbot run` first")
    return Store(config.storage.database)


def open_config_store(config_path: Path, *, create: bool = True):
    """(config, Store) for the list and privacy commands; the log is created if
    ``create`` (so lists can be filled before the bot's first call)."""
    from callbot.config.load import load_config
    from callbot.store.store import Store

    config = load_config(config_path)
    database = Path(config.storage.database)
    if not create and not database.exists():
        raise CallbotError(f"no call log yet at {database} — start the bot with `callbot run` first")
    return config, Store(database, default_region=config.phone.default_region)


def login_name() -> str | None:
    import getpass

    try:
        return getpass.getuser() or None
    except Exception:  # no login name (containers): the entry just says no one
        return None
