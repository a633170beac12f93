"""Texts for people in German and English: gettext catalogues (Babel), dates and times in the
office's locale and time zone. Used by the web page and the notifications.

May import: the leaves only (callbot.times, callbot.errors). The catalogues live in
``callbot/i18n/locale/<lang>/LC_MESSAGES/``.

Until the catalogues exist, :func:`gettext` returns the message unchanged (English).
"""

from __future__ import annotations

#: Languages the texts exist in; the first is the default.
LANGUAGES = ("de", "en")


def gettext(message: str, language: str | None = None) -> str:
    """``message`` (written in English) in ``language`` (default: the first of LANGUAGES)."""
    return message


def ngettext(singular: str, plural: str, n: int, language: str | None = None) -> str:
    return singular if n == 1 else plural
