"""Phone numbers and list values as the owner types them, normalised (pure, a leaf).

``030 123456`` → ``+4930123456``, ``030123*`` → ``+4930123*``, name patterns
trimmed; :func:`number_variants` gives the forms a number may be stored in.
Used by the caller lists (:mod:`callbot.lists`), the contacts import
(:mod:`callbot.contacts`) and by the store's checks and search, so it sits below
them all and imports nothing of callbot but errors.
"""

from __future__ import annotations

import re

import phonenumbers

from callbot.errors import CallbotError

LISTS = ("allow", "block")
KINDS = ("number", "prefix", "name")
SOURCES = ("manual", "imported", "suggested")

#: Longest name pattern accepted.
MAX_PATTERN = 100
#: Visual separators people write in phone numbers.
_SEPARATORS = re.compile(r"[\s\-./()\u00a0]")
_DIGITS = re.compile(r"^\+?\d+$")


class ListEntryError(CallbotError, ValueError):
    """A list entry the owner typed cannot be used; the message says why and how to fix it."""


def normalise_number(text: str, region: str = "DE") -> str:
    """``text`` as an E.164 number, e.g. ``'030 123456'`` → ``'+4930123456'``.

    National numbers are read in ``region``. Raises :class:`ListEntryError`
    (``"'+49 abc' is not a phone number"``) for anything else.
    """
    raw = str(text).strip()
    cleaned = _SEPARATORS.sub("", raw)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not cleaned or not _DIGITS.match(cleaned):
        raise ListEntryError(f"'{raw}' is not a phone number")
    international = cleaned.startswith("+")
    try:
        parsed = phonenumbers.parse(cleaned, (region or "ZZ").upper())
    except phonenumbers.NumberParseException:
        raise ListEntryError(f"'{raw}' is not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ListEntryError(f"'{raw}' is not a phone number (too short or too long)")
    if not international and not phonenumbers.is_valid_number(parsed):
        raise ListEntryError(
            f"'{raw}' is not a valid number in {region.upper()} — write it with the country code, e.g. +49 30 123456"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _has_country_code(digits: str) -> bool:
    return any(int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
               for n in (1, 2, 3) if len(digits) >= n)


def normalise_prefix(text: str, region: str = "DE") -> str:
    """A number range as ``+<digits>*``: ``'030 123*'`` → ``'+4930123*'`` (region DE)."""
    raw = str(text).strip()
    body = raw[:-1] if raw.endswith("*") else raw
    cleaned = _SEPARATORS.sub("", body)
    if not cleaned or not re.match(r"^\+?\d+$", cleaned):
        raise ListEntryError(f"'{raw}' is not a number range — write e.g. +4930123* or 030123*")
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    elif not cleaned.startswith("+"):
        meta = phonenumbers.PhoneMetadata.metadata_for_region((region or "").upper())
        trunk = meta.national_prefix if meta is not None else None
        if not trunk or not cleaned.startswith(trunk):
            raise ListEntryError(
                f"'{raw}': write the number range with the country code (+4930123*) or the leading 0 (030123*)"
            )
        cleaned = f"+{meta.country_code}{cleaned[len(trunk):]}"
    digits = cleaned[1:]
    if not 2 <= len(digits) <= 15:
        raise ListEntryError(f"'{raw}': a number range needs 2 to 15 digits after the +")
    if not _has_country_code(digits):
        raise ListEntryError(f"'{raw}' does not start with a country code")
    return f"+{digits}*"


def normalise_name_pattern(text: str) -> str:
    """A display-name pattern: trimmed, inner spaces collapsed; must name something."""
    raw = str(text)
    pattern = " ".join(raw.split())
    if any(ord(c) < 32 for c in raw.replace("\t", " ").replace("\n", " ")):
        raise ListEntryError("a name pattern must not contain control characters")
    if not pattern.replace("*", "").strip():
        raise ListEntryError(f"name pattern '{pattern}' would match every caller — give part of a name, e.g. *Energie*")
    if len(pattern) > MAX_PATTERN:
        raise ListEntryError(f"name pattern is longer than {MAX_PATTERN} characters")
    return pattern


def normalise_value(kind: str, value: str, region: str = "DE") -> str:
    if kind == "number":
        return normalise_number(value, region)
    if kind == "prefix":
        return normalise_prefix(value, region)
    if kind == "name":
        return normalise_name_pattern(value)
    raise ListEntryError(f"unknown kind of list entry {kind!r}; expected one of {', '.join(KINDS)}")


def guess_kind(value: str) -> str:
    """What the owner meant: a value starting like a number is a ``number``
    (``prefix`` when it ends in ``*``); anything else is a ``name`` pattern."""
    text = str(value).strip()
    if text[:1] in "+(" or text[:1].isdigit():
        return "prefix" if text.endswith("*") else "number"
    return "name"


def number_variants(number: str, region: str = "DE") -> tuple[str, ...]:
    """The forms a number may be stored in: as typed, without separators, E.164,
    and as telephone systems deliver it (``004930…``, ``4930…``, and ``030…``
    when it is a number of ``region``)."""
    raw = str(number).strip()
    forms = [raw, _SEPARATORS.sub("", raw)]
    try:
        e164 = normalise_number(raw, region)
    except ListEntryError:
        e164 = None
    if e164 is not None:
        forms += [e164, "00" + e164[1:], e164[1:]]
        parsed = phonenumbers.parse(e164)
        if phonenumbers.region_code_for_number(parsed) == (region or "").upper():
            national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
            forms.append(_SEPARATORS.sub("", national))
    return tuple(dict.fromkeys(f for f in forms if f))


def number_search_terms(text: str, region: str = "DE") -> tuple[list[str], list[str]]:
    """How to look a typed number up in the call log: ``(exact, prefixes)``.

    A complete, valid number gives its forms to match exactly (as typed,
    without separators, E.164) and no prefixes; anything else gives prefixes
    (as typed without separators, and in E.164 form when it starts with 00 or
    the national 0) and no exact forms.
    """
    raw = str(text).strip()
    cleaned = _SEPARATORS.sub("", raw)
    international = "+" + cleaned[2:] if cleaned.startswith("00") else cleaned
    try:
        parsed = phonenumbers.parse(international, (region or "ZZ").upper())
        if phonenumbers.is_valid_number(parsed):
            return list(number_variants(raw, region)), []
    except phonenumbers.NumberParseException:
        pass
    prefixes = [cleaned] if cleaned else [raw]
    if international != cleaned:
        prefixes.append(international)
    elif re.match(r"^\d+$", cleaned):
        meta = phonenumbers.PhoneMetadata.metadata_for_region((region or "").upper())
        trunk = meta.national_prefix if meta is not None else None
        if trunk and cleaned.startswith(trunk) and len(cleaned) > len(trunk):
            prefixes.append(f"+{meta.country_code}{cleaned[len(trunk):]}")
    return [], list(dict.fromkeys(p for p in prefixes if p))


def covers(kind: str, value: str, number: str) -> bool:
    """Whether a ``number`` or ``prefix`` list value covers the E.164 ``number``."""
    if kind == "number":
        return value == number
    if kind == "prefix":
        return number.startswith(value.rstrip("*"))
    return False
