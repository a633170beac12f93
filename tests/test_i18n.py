"""German first (issue #13, 5): the gettext catalogues are complete and compile, dates and
times are shown in the office's time zone and locale, the web page speaks German by default,
English when configured, and a user's own language (the session's) wins."""

from __future__ import annotations

import importlib.util
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from callbot import i18n
from callbot.config.load import load_config
from callbot.errors import ConfigError
from tests.conftest import REPO
from tests.test_web import (COLD, Site, anon, client, clock, login, make_client, site)  # noqa: F401 - fixtures

#: The site of tests/test_web.py with the default language (German).
WEB_LANGUAGE = "de"

LOCALE = REPO / "callbot" / "i18n" / "locale"
GERMAN_DATE_TIME = re.compile(r"\b\d{1,2}\.\d{1,2}\.\d{4} \d{2}:\d{2}\b")
US_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{4}\b")


def _catalogue(lang: str):
    with open(LOCALE / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f)


def _used_msgids() -> dict[str, list[str]]:
    """Every text marked for translation in the package (Python and templates), as babel.cfg says."""
    with open(REPO / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, list[str]] = {}
    def only_the_package(path: str) -> bool:
        rel = Path(path).resolve().relative_to(REPO).parts
        return not rel or rel[0] == "callbot"

    for filename, lineno, message, _comments, _context in extract_from_dir(
            REPO, method_map, options_map, directory_filter=only_the_package):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


# --------------------------------------------------------------------------
# The catalogues


def test_babel_cfg_finds_texts_in_python_and_templates():
    used = _used_msgids()
    where = {place.split(":")[0].rsplit(".", 1)[-1] for places in used.values() for place in places}
    assert {"py", "html"} <= where
    assert "Calls" in used and "No such call." in used and "Cold call" in used


def test_every_text_used_has_a_german_translation():
    german = {m.id if isinstance(m.id, str) else m.id[0]: m for m in _catalogue("de") if m.id}
    missing = [f"{msgid!r} ({', '.join(places[:2])})" for msgid, places in sorted(_used_msgids().items())
               if msgid not in german or not german[msgid].string or german[msgid].fuzzy
               or (isinstance(german[msgid].string, tuple) and not all(german[msgid].string))]
    assert not missing, ("texts without a German translation — run the extraction (README, "
                         "'Sprache / language') and translate them in de/messages.po:\n" + "\n".join(missing))


def test_english_catalogue_has_every_text_too():
    english = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalogue("en") if m.id}
    assert not sorted(set(_used_msgids()) - english)


def test_translations_keep_their_placeholders():
    catalogue = _catalogue("de")
    problems = [(m.id, errors) for m, errors in catalogue.check()]
    assert not problems
    for m in catalogue:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set(re.findall(r"%\(\w+\)\w|\{\w+\}", ids[-1]))
        for s in strings:
            assert set(re.findall(r"%\(\w+\)\w|\{\w+\}", s)) == wanted, (m.id, s)


def test_the_build_hook_compiles_every_catalogue(tmp_path):
    spec = importlib.util.spec_from_file_location("callbot_setup", REPO / "setup.py")
    setup_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup_py)  # not __main__: defines the hook without running setup()
    written = setup_py.compile_catalogues(LOCALE, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        f"{lang}/LC_MESSAGES/messages.mo" for lang in i18n.LANGUAGES]
    with open(tmp_path / "de" / "LC_MESSAGES" / "messages.mo", "rb") as f:
        german = Translations(f)
    assert german.gettext("Calls") == "Anrufe"
    assert german.ngettext("%(num)d call", "%(num)d calls", 2) % {"num": 2} == "2 Anrufe"
    # the same bytes as callbot.i18n compiles (the in-memory fallback for a tree nobody installed)
    assert (tmp_path / "de/LC_MESSAGES/messages.mo").read_bytes() == i18n.compile_catalogue(
        LOCALE / "de/LC_MESSAGES/messages.po")


def test_a_missing_mo_is_compiled_from_the_po(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_bytes((LOCALE / "de/LC_MESSAGES/messages.po").read_bytes())
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.reload()
    try:
        assert i18n.gettext("Log out", "de") == "Abmelden"
        assert "missing" in caplog.text
    finally:
        monkeypatch.undo()
        i18n.reload()


def test_gettext_languages_and_fallbacks():
    assert i18n.gettext("Calls") == "Anrufe"  # German first
    assert i18n.gettext("Calls", "de-DE") == "Anrufe"
    assert i18n.gettext("Calls", "en") == "Calls"
    assert i18n.gettext("Calls", "fr") == "Anrufe"  # unknown language: the default
    assert i18n.gettext("A text nobody translated", "de") == "A text nobody translated"
    assert i18n.ngettext("%(num)d call", "%(num)d calls", 1, "de") == "%(num)d Anruf"
    assert i18n.normalize_language("EN_us") == "en" and i18n.normalize_language("xx") is None


# --------------------------------------------------------------------------
# Dates and times


def test_dates_in_the_office_time_zone_and_locale():
    winter, summer = "2026-12-01T13:05:09.000Z", datetime(2026, 7, 1, 12, 5, tzinfo=timezone.utc)
    assert i18n.format_datetime(winter, "de", "Europe/Berlin") == "1.12.2026 14:05"
    assert i18n.format_datetime(summer, "de", "Europe/Berlin") == "1.7.2026 14:05"
    assert i18n.format_datetime(winter, "de", "Europe/Berlin", seconds=True) == "1.12.2026 14:05:09"
    assert i18n.format_datetime(winter, "de", "Europe/London") == "1.12.2026 13:05"
    assert i18n.format_datetime(winter, "en", "Europe/Berlin").replace("\u202f", " ") == "12/1/2026 2:05 PM"
    assert i18n.format_date(winter, "de", "Europe/Berlin") == "1.12.2026"
    assert i18n.format_time(winter, "de", "Europe/Berlin") == "14:05"
    assert i18n.format_datetime(None, "de") == "" and i18n.format_datetime("not a time", "de") == "not a time"
    assert i18n.format_duration(4.2) == "0:04" and i18n.format_duration(3723) == "1:02:03"
    with pytest.raises(ValueError):
        i18n.timezone_named("Mars/Olympus")


def _config(tmp_path: Path, web: str):
    path = tmp_path / "config.toml"
    path.write_text(f'[prompts]\ndir = "{REPO / "prompts"}"\n[web]\n{web}\n', encoding="utf-8")
    return load_config(path, env={})


def test_language_and_timezone_settings(tmp_path):
    default = _config(tmp_path, "")
    assert (default.web.language, default.web.timezone) == ("de", "Europe/Berlin")
    chosen = _config(tmp_path, 'language = "EN"\ntimezone = "Europe/Vienna"')
    assert (chosen.web.language, chosen.web.timezone) == ("en", "Europe/Vienna")
    with pytest.raises(ConfigError) as bad:
        _config(tmp_path, 'language = "fr"\ntimezone = "Mars/Olympus"')
    assert "web.language" in str(bad.value) and "web.timezone" in str(bad.value)


# --------------------------------------------------------------------------
# The web page


def test_pages_are_german_by_default(client, site):
    calls = client.get("/calls").text
    assert '<html lang="de">' in calls
    for text in ("Anrufe", "27 Anrufe, Seite 1 von 3", "Abmelden", "Ergebnis", "Suche", "ältere"):
        assert text in calls, text
    assert GERMAN_DATE_TIME.search(calls) and not US_DATE.search(calls)
    for word in ("Calls</h1>", "Log out", "Outcome", "older ›"):
        assert word not in calls, word
    call = client.get(f"/calls/{site.ids['cold']}").text
    for text in ("Anruf vom", "Gespräch", "Anrufer", "Technische Einzelheiten", "Sperren", "Erlauben",
                 "Werbeanruf, Gegenangebot gemacht", "Sicherheit 0,91", "+2,00 s"):
        assert text in call, text
    for path, text in (("/leads", "Was gesagt wurde"), ("/lists", "Anruferlisten"), ("/prompts", "Ansagen"),
                       (f"/numbers/{COLD}", "1 Anruf von dieser Nummer")):
        assert text in client.get(path).text, path
    missing = client.get("/calls/99999")
    assert missing.status_code == 404 and "Diesen Anruf gibt es nicht." in missing.text
    assert "Zurück zu den Anrufen" in missing.text
    errors = client.get("/calls?outcome=nonsense&from=yesterday").text
    assert "unbekanntes Ergebnis" in errors and "muss ein Datum sein" in errors


def test_login_page_is_german(anon):
    page = anon.get("/login").text
    assert "Anmelden" in page and "Passwort" in page and '<html lang="de">' in page


def test_dates_on_the_page_are_in_the_office_time_zone(site, clock):
    from dataclasses import replace

    from tests.test_web import NOW

    for zone in ("Europe/Berlin", "America/New_York"):
        config = replace(site.config, web=replace(site.config.web, timezone=zone))
        with make_client(site, clock, config=config) as c:
            login(c)
            html = c.get(f"/calls/{site.ids['cold']}").text
        expected = i18n.format_datetime(NOW.replace(microsecond=0) - __import__("datetime").timedelta(minutes=30),
                                        "de", zone)
        assert f"Anruf vom {expected}" in html, zone


def test_english_when_configured(site, clock):
    from dataclasses import replace

    config = replace(site.config, web=replace(site.config.web, language="en"))
    with make_client(site, clock, config=config) as c:
        login(c)
        calls = c.get("/calls").text
    assert '<html lang="en">' in calls and "27 calls, page 1 of 3" in calls and "Log out" in calls
    assert "Anrufe" not in calls and US_DATE.search(calls)


def _with_language_route(site, clock):
    c = make_client(site, clock)

    def set_language(request):
        request.session["language"] = request.query_params["to"]
        return PlainTextResponse("ok")

    c.app.router.routes.append(Route("/test-set-language", set_language))
    return c


def test_a_users_own_language_wins(site, clock):
    with _with_language_route(site, clock) as c:  # [web] language = "de" (the default)
        login(c)
        assert "Anrufe" in c.get("/calls").text
        assert c.get("/test-set-language?to=en").status_code == 200
        english = c.get("/calls").text
        assert '<html lang="en">' in english and "27 calls" in english and "Anrufe" not in english
        assert "No such call." in c.get("/calls/99999").text
        c.get("/test-set-language?to=xx")  # not a language of the page: the configured one
        assert "Anrufe" in c.get("/calls").text
