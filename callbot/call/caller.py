"""Who is calling? Caller identification from the headers of a SIP INVITE.

Pure functions, no I/O: the headers come from :mod:`callbot.telephony.message`
(the SIP grammar); :func:`identify` decides whether the caller withheld their
identity (CLIR, every form: anonymous From, Privacy, Remote-Party-ID …) and, if
not, which number they called from, normalised with ``phonenumbers``.

Withheld caller ID wins over everything: when any rule fires, ``number``,
``e164`` and ``display_name`` are None even if a P-Asserted-Identity carries
the real number (RFC 3325); such values only end up in
``Caller.asserted_identities``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import geocoder

from callbot.telephony.message import HeaderList, NameAddr, canonical_name, parse_headers, parse_name_addr, split_outside_quotes

__all__ = ["Caller", "identify", "identify_raw"]

# --------------------------------------------------------------------------
# Caller identification
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """What we know about the caller of one INVITE."""

    from_raw: str
    display_name: str | None
    number: str | None
    e164: str | None
    country_code: int | None
    region: str | None
    number_type: str | None
    description: str | None
    valid: bool
    withheld: bool
    withheld_reasons: tuple[str, ...]
    number_source: str | None
    asserted_identities: tuple[str, ...]


_WITHHELD_USERS = ("anonymous", "unknown", "unavailable", "restricted", "private")
_PRIVACY_WITHHOLD = ("id", "user", "header")
_RPID_WITHHOLD = ("full", "uri", "name")
_SEPARATORS_RE = re.compile(r"[\s\-.()/]")
_NUMBER_RE = re.compile(r"^\+?\d{2,20}$")
_DIALSTRING_RE = re.compile(r"^[\d*#]{2,20}$")


def _values(headers: HeaderList, name: str) -> list[str]:
    """All values of header ``name``, comma-separated lists split up."""
    out: list[str] = []
    for hname, value in headers:
        if canonical_name(hname) == name:
            out.extend(v.strip() for v in split_outside_quotes(value, ",") if v.strip())
    return out


def _clean_user(addr: NameAddr) -> str | None:
    """User part without visual separators and user params (``;npdi``...)."""
    if addr.user is None:
        return None
    return _SEPARATORS_RE.sub("", addr.user.partition(";")[0]) or None


def _phone_number(addr: NameAddr) -> str | None:
    """The user part when it looks like a phone number, cleaned; else None."""
    user = _clean_user(addr)
    return user if user is not None and _NUMBER_RE.match(user) else None


def _withheld_reasons(headers: HeaderList, from_addr: NameAddr | None) -> list[str]:
    """Every withholding rule that fires, in a fixed order (From, Privacy, RPID)."""
    reasons: list[str] = []
    if from_addr is None:
        reasons.append("From header missing")
    elif from_addr.scheme is None:
        reasons.append("From header unparseable")
    else:
        user = (from_addr.user or "").partition(";")[0].strip().lower()
        if not user:
            reasons.append("From user empty")
        elif user in _WITHHELD_USERS:
            reasons.append(f"From user '{user}'")
        if (from_addr.host or "").rstrip(".") == "anonymous.invalid":
            reasons.append("From host anonymous.invalid")

    for value in _values(headers, "Privacy"):
        for token in re.split(r"[;,]", value):
            token = token.strip().lower()
            reason = f"Privacy: {token}"
            if token in _PRIVACY_WITHHOLD and reason not in reasons:
                reasons.append(reason)

    for value in _values(headers, "Remote-Party-ID"):
        params = parse_name_addr(value).params
        if params.get("party", "").lower() == "called":
            continue  # describes the called party, not the caller
        privacy = params.get("privacy", "").strip().lower()
        reason = f"Remote-Party-ID privacy={privacy}"
        if privacy in _RPID_WITHHOLD and reason not in reasons:
            reasons.append(reason)
    return reasons


def _choose_number(
    headers: HeaderList, from_addr: NameAddr
) -> tuple[str, str, NameAddr] | None:
    """(number, source header, address) by preference: PAI, From, RPID, PPI."""
    candidates: list[tuple[str, NameAddr]] = [
        ("P-Asserted-Identity", parse_name_addr(v)) for v in _values(headers, "P-Asserted-Identity")
    ]
    candidates.append(("From", from_addr))
    candidates += [
        ("Remote-Party-ID", addr)
        for addr in map(parse_name_addr, _values(headers, "Remote-Party-ID"))
        if addr.params.get("party", "").lower() != "called"
    ]
    candidates += [
        ("P-Preferred-Identity", parse_name_addr(v)) for v in _values(headers, "P-Preferred-Identity")
    ]
    for source, addr in candidates:
        number = _phone_number(addr)
        if number is not None:
            return number, source, addr
    # Last resort: an internal extension / dial string such as '**621'.
    user = _clean_user(from_addr)
    if user is not None and _DIALSTRING_RE.match(user) and any(c.isdigit() for c in user):
        return user, "From", from_addr
    return None


_NO_NUMBER_INFO: dict = {
    "e164": None,
    "country_code": None,
    "region": None,
    "number_type": None,
    "description": None,
    "valid": False,
}


def _number_info(number: str, default_region: str) -> dict:
    """E.164 and metadata for ``number``; e164 None when not trustworthy.

    An E.164 form is only produced for numbers that are possible and either
    valid or dialled internationally ('+' / '00'): prefixing the default
    country code to a short national string like '21' would invent a number.
    """
    info = dict(_NO_NUMBER_INFO)
    if not any(c.isdigit() for c in number) or "*" in number or "#" in number:
        return info
    international = number.startswith(("+", "00"))
    to_parse = "+" + number[2:] if number.startswith("00") else number
    try:
        parsed = phonenumbers.parse(to_parse, (default_region or "ZZ").upper())
    except phonenumbers.NumberParseException:
        return info
    valid = phonenumbers.is_valid_number(parsed)
    if not phonenumbers.is_possible_number(parsed) or not (valid or international):
        return info
    region = phonenumbers.region_code_for_number(parsed)
    info.update(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        country_code=parsed.country_code,
        region=region if region and region != "001" else None,
        number_type=phonenumbers.PhoneNumberType.to_string(
            phonenumbers.number_type(parsed)
        ).lower(),
        description=geocoder.description_for_number(parsed, "de") or None,
        valid=valid,
    )
    return info


def identify(headers: HeaderList, default_region: str = "DE") -> Caller:
    """Identify the caller from the headers of an INVITE (see module doc).

    Header names may be in any spelling or compact form. ``display_name`` is
    the From display name, else that of the header the number came from.
    """
    from_raw = next((v for n, v in headers if canonical_name(n) == "From"), None)
    from_addr = parse_name_addr(from_raw) if from_raw is not None else None
    reasons = _withheld_reasons(headers, from_addr)
    asserted = tuple(_values(headers, "P-Asserted-Identity"))

    withheld = bool(reasons)
    display_name = number = source = None
    info = _NO_NUMBER_INFO
    if not withheld:
        assert from_addr is not None
        display_name = from_addr.display_name
        chosen = _choose_number(headers, from_addr)
        if chosen is not None:
            number, source, addr = chosen
            display_name = display_name or addr.display_name
            info = _number_info(number, default_region)

    return Caller(
        from_raw=from_raw or "",
        display_name=display_name,
        number=number,
        number_source=source,
        withheld=withheld,
        withheld_reasons=tuple(reasons),
        asserted_identities=asserted,
        **info,
    )


def identify_raw(raw: bytes | str, default_region: str = "DE") -> Caller:
    """``identify(parse_headers(raw), default_region)``."""
    return identify(parse_headers(raw), default_region)
