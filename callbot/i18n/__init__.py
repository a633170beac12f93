"""Texts for people in German and English: gettext catalogues (Babel), dates and times in the
office's locale and time zone. Used by the web page and the notifications.

May import: the leaves only (callbot.times, callbot.errors). The catalogues live in
``callbot/i18n/locale/<lang>/LC_MESSAGES/messages.po`` (the msgids are the English texts) and
are compiled to ``messages.mo`` when the package is built or installed (``setup.py``'s
``build_py``; ``pybabel compile -d callbot/i18n/locale`` does the same by hand). A catalogue
whose ``.mo`` is missing or older than its ``.po`` (a fresh checkout nobody installed, a
translator's edit) is compiled in memory from the ``.po`` with Babel instead, with a warning.

* :func:`gettext` / :func:`ngettext` — a text in a language (default: the first of LANGUAGES);
  mark texts for extraction that are translated later with :func:`N_`.
* :func:`format_datetime` / :func:`format_date` / :func:`format_time` — a stored time (ISO
  string or datetime) in the office's time zone and the language's locale:
  German ``1.12.2026 14:05``, English ``12/1/2026 2:05 PM``.
"""

from __future__ import annotations

import gettext as _stdlib_gettext
import logging
import threading
from datetime import datetime, timezone, tzinfo
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import dates as _dates
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from callbot.times import parse_time

log = logging.getLogger("callbot.i18n")

#: Languages the texts exist in; the first is the default.
LANGUAGES = ("de", "en")
#: The office's time zone unless ``[web] timezone`` says otherwise.
DEFAULT_TIMEZONE = "Europe/Berlin"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_lock = threading.Lock()
_catalogues: dict[str, _stdlib_gettext.NullTranslations] = {}


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Marks ``message`` for the catalogue without translating it (translate it when shown)."""
    return message


def normalize_language(value: object) -> str | None:
    """``"de"``, ``"de-DE"``, ``"EN_us"`` -> the language in LANGUAGES; None if not one of them."""
    if not isinstance(value, str):
        return None
    lang = value.strip().lower().replace("_", "-").split("-")[0]
    return lang if lang in LANGUAGES else None


def _language(language: str | None) -> str:
    return normalize_language(language) or LANGUAGES[0]


def catalogue_paths(language: str) -> tuple[Path, Path]:
    """The ``.po`` and ``.mo`` files of ``language``."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    return folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"


def compile_catalogue(po: Path, mo: Path | None = None) -> bytes:
    """The ``.mo`` bytes of the catalogue ``po`` (fuzzy entries left out); written to ``mo`` if given."""
    with open(po, "rb") as f:
        catalogue = read_po(f, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalogue)
    data = buffer.getvalue()
    if mo is not None:
        mo.parent.mkdir(parents=True, exist_ok=True)
        tmp = mo.with_suffix(".mo.tmp")
        tmp.write_bytes(data)
        tmp.replace(mo)
    return data


def compile_all(locale_dir: Path = LOCALE_DIR, out_dir: Path | None = None) -> list[Path]:
    """Compile every ``<lang>/LC_MESSAGES/*.po`` under ``locale_dir`` to ``.mo`` (beside it, or in
    the same layout under ``out_dir``); the ``.mo`` files written."""
    written = []
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        target = (out_dir / po.relative_to(locale_dir) if out_dir else po).with_suffix(".mo")
        compile_catalogue(po, target)
        written.append(target)
    return written


def _load(language: str) -> _stdlib_gettext.NullTranslations:
    po, mo = catalogue_paths(language)
    try:
        if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
            with open(mo, "rb") as f:
                return Translations(f, domain=DOMAIN)
        if po.is_file():
            log.warning("i18n: %s is %s: using %s (run `pip install .` or `pybabel compile -d %s`)",
                        mo.name, "older than its .po" if mo.is_file() else "missing", po, LOCALE_DIR)
            return Translations(BytesIO(compile_catalogue(po)), domain=DOMAIN)
    except (OSError, ValueError) as exc:
        log.error("i18n: the %s catalogue cannot be read (%s): texts stay English", language, exc)
    return _stdlib_gettext.NullTranslations()


def translations(language: str | None = None) -> _stdlib_gettext.NullTranslations:
    """The catalogue of ``language`` (loaded once per process)."""
    lang = _language(language)
    found = _catalogues.get(lang)
    if found is None:
        with _lock:
            found = _catalogues.get(lang)
            if found is None:
                found = _catalogues[lang] = _load(lang)
    return found


def reload() -> None:
    """Forget the loaded catalogues (tests, a translator's edit)."""
    with _lock:
        _catalogues.clear()


def gettext(message: str, language: str | None = None) -> str:
    """``message`` (written in English) in ``language`` (default: the first of LANGUAGES)."""
    return translations(language).gettext(message)


def ngettext(singular: str, plural: str, n: int, language: str | None = None) -> str:
    """The singular or plural form for ``n`` in ``language`` (``%(num)d`` is not filled in)."""
    return translations(language).ngettext(singular, plural, n)


# --------------------------------------------------------------------------
# Dates and times


def timezone_named(name: str | None) -> tzinfo:
    """The time zone ``name`` (an IANA name such as ``Europe/Berlin``); ValueError if unknown."""
    if not name:
        return ZoneInfo(DEFAULT_TIMEZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _moment(value: datetime | str | None, tz: tzinfo | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = parse_time(value)
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    zone = tz if isinstance(tz, tzinfo) else timezone_named(tz)
    return value.astimezone(zone)


def format_date(value: datetime | str | None, language: str | None = None, tz: tzinfo | str | None = None) -> str:
    """The day in the locale's short numeric form: ``1.12.2026`` / ``12/1/2026``; "" for nothing."""
    moment = _moment(value, tz)
    if moment is None:
        return value if isinstance(value, str) else ""
    return _dates.format_skeleton("yMd", moment, tzinfo=moment.tzinfo, locale=_language(language))


def format_time(value: datetime | str | None, language: str | None = None, tz: tzinfo | str | None = None,
                seconds: bool = False) -> str:
    """The time of day: ``14:05`` / ``2:05 PM`` (with ``seconds``: ``14:05:07``)."""
    moment = _moment(value, tz)
    if moment is None:
        return value if isinstance(value, str) else ""
    return _dates.format_time(moment, "medium" if seconds else "short", tzinfo=moment.tzinfo,
                              locale=_language(language))


def format_datetime(value: datetime | str | None, language: str | None = None, tz: tzinfo | str | None = None,
                    seconds: bool = False) -> str:
    """Day and time: German ``1.12.2026 14:05``, English ``12/1/2026 2:05 PM``; "" for nothing,
    text that is no time as it is."""
    moment = _moment(value, tz)
    if moment is None:
        return value if isinstance(value, str) else ""
    return f"{format_date(moment, language, moment.tzinfo)} {format_time(moment, language, moment.tzinfo, seconds)}"


def format_duration(seconds: float | None) -> str:
    """A length as the players show it: ``0:04``, ``1:02:03``; "" for nothing."""
    if seconds is None:
        return ""
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
