"""Contacts: reading vCard and CSV exports, and planning an import into the allow list.

Pure apart from reading the file (no SQLite): :func:`read_contacts` gives the
contacts of an export (:func:`parse_vcard`, :func:`parse_contacts_csv`);
:func:`plan_import` decides which numbers to add, given the list entries there
are (the CLI's ``callbot import`` carries the plan out).
"""

from __future__ import annotations

import csv
import io
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from callbot.errors import CallbotError
from callbot.numbers import ListEntryError, normalise_number
from callbot.records import ListEntry
from callbot.times import parse_time


@dataclass(frozen=True)
class Contact:
    """One contact of an export: its name and phone numbers as written there."""

    name: str | None
    numbers: tuple[str, ...]
    where: str  # "line 12" (vCard) or "row 3" (CSV), for messages

    @property
    def label(self) -> str:
        return f"{self.where} ({self.name})" if self.name else self.where


@dataclass(frozen=True)
class ContactFile:
    contacts: list[Contact]
    skipped: list[str] = field(default_factory=list)  # "<where>: <why>"


def read_contacts(path: str | Path) -> ContactFile:
    """Contacts from a vCard (``.vcf``) or CSV export, chosen by content and extension."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CallbotError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise CallbotError(f"{path} is a directory — give the contacts file (.vcf or .csv)") from None
    except OSError as exc:
        raise CallbotError(f"cannot read {path}: {exc.strerror or exc}") from None
    text = _decode(data)
    if "BEGIN:VCARD" in text[:4096].upper() or path.suffix.lower() in (".vcf", ".vcard"):
        return parse_vcard(text)
    if path.suffix.lower() in (".csv", ".txt", ".tsv") or text.strip():
        return parse_contacts_csv(text)
    raise CallbotError(f"{path} is empty")


def _decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # German Windows/Excel exports


# -- vCard -------------------------------------------------------------------

_VCARD_SKIP_TYPES = {"fax", "pager"}


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _vcard_lines(text: str) -> list[tuple[int, str]]:
    """Logical lines with their first physical line number: unfolded (RFC 6350
    folding, and vCard 2.1 quoted-printable soft line breaks)."""
    out: list[tuple[int, str]] = []
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if out and line[:1] in (" ", "\t"):
            out[-1] = (out[-1][0], out[-1][1] + line[1:])
        elif out and out[-1][1].endswith("=") and "QUOTED-PRINTABLE" in out[-1][1].split(":", 1)[0].upper():
            out[-1] = (out[-1][0], out[-1][1][:-1] + line)
        else:
            out.append((number, line))
    return out


def _vcard_unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _first_outside_quotes(text: str, char: str) -> int:
    quoted = False
    for index, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            return index
    return -1


def _vcard_property(line: str) -> tuple[str, dict[str, list[str]], str] | None:
    colon = _first_outside_quotes(line, ":")
    if colon < 0:
        return None
    head, value = line[:colon], line[colon + 1:]
    name, *raw_params = _split_outside_quotes(head, ";")
    name = name.rsplit(".", 1)[-1].strip().upper()  # drop a group such as item1.
    params: dict[str, list[str]] = {}
    for raw in raw_params:
        key, eq, val = raw.partition("=")
        if not eq:  # vCard 2.1: TEL;CELL;VOICE:...
            key, val = "TYPE", key
        values = [v.strip().strip('"').lower() for v in val.split(",") if v.strip()]
        params.setdefault(key.strip().upper(), []).extend(values)
    if "quoted-printable" in params.get("ENCODING", []):
        charset = (params.get("CHARSET") or ["utf-8"])[0]
        try:
            value = quopri.decodestring(value.encode("latin-1", "replace")).decode(charset, "replace")
        except LookupError:
            value = quopri.decodestring(value.encode("latin-1", "replace")).decode("utf-8", "replace")
    return name, params, value


def _tel_value(value: str) -> str:
    value = value.strip()
    if value.lower().startswith("tel:"):
        value = value[4:].split(";", 1)[0]  # tel:+49-30-123;ext=5 → +49-30-123
    return value.strip()


def parse_vcard(text: str) -> ContactFile:
    """Contacts of a vCard file (versions 2.1, 3.0 and 4.0): the name from FN
    (else N, else ORG) and every TEL except fax and pager numbers."""
    contacts: list[Contact] = []
    skipped: list[str] = []
    card: dict | None = None
    for line_no, line in _vcard_lines(text):
        if not line.strip():
            continue
        prop = _vcard_property(line)
        if prop is None:
            continue
        name, params, value = prop
        if name == "BEGIN" and value.strip().upper() == "VCARD":
            card = {"line": line_no, "fn": None, "n": None, "org": None, "tels": []}
            continue
        if card is None:
            continue
        if name == "END" and value.strip().upper() == "VCARD":
            full = card["fn"] or card["n"] or card["org"]
            contact = Contact(full or None, tuple(card["tels"]), f"line {card['line']}")
            if card["tels"]:
                contacts.append(contact)
            else:
                skipped.append(f"{contact.label}: no phone number")
            card = None
        elif name == "FN":
            card["fn"] = " ".join(_vcard_unescape(value).split()) or None
        elif name == "N":
            parts = [_vcard_unescape(p).strip() for p in re.split(r"(?<!\\);", value)]
            family = parts[0] if parts else ""
            given = " ".join(p for p in parts[1:3] if p)
            card["n"] = " ".join(p for p in (given, family) if p) or None
        elif name == "ORG":
            card["org"] = " ".join(_vcard_unescape(re.split(r"(?<!\\);", value)[0]).split()) or None
        elif name == "TEL":
            types = {t for t in params.get("TYPE", [])}
            if types & _VCARD_SKIP_TYPES:
                continue
            number = _tel_value(_vcard_unescape(value))
            if number:
                card["tels"].append(number)
    if card is not None:
        skipped.append(f"line {card['line']}: the card has no END:VCARD (file cut off?)")
    if not contacts and not skipped:
        raise CallbotError("no contacts found: the file has no BEGIN:VCARD … END:VCARD cards")
    return ContactFile(contacts, skipped)


# -- CSV -----------------------------------------------------------------------

_FULL_NAME = {"name", "full name", "display name", "anzeigename", "vollständiger name", "kontakt", "contact",
              "contact name", "kontaktname", "name des kontakts"}
_GIVEN = {"first name", "given name", "vorname"}
_MIDDLE = {"middle name", "additional name", "weitere vornamen", "zweiter vorname"}
_FAMILY = {"last name", "family name", "surname", "nachname", "familienname"}
_COMPANY = {"company", "organization", "organisation", "firma", "unternehmen", "organization 1 name",
            "organisation 1 name", "organization name", "organisation name"}
_PHONE_WORD = re.compile(
    r"\b(phone|telephone|telefon\w*|tel|mobil\w*|mobile|handy|cell\w*|rufnummer|festnetz|privat tel\w*)\b"
)
_NOT_A_NUMBER = re.compile(r"\b(fax\w*|pager\w*|typ|type|label|bezeichnung|e ?mail\w*|art)\b")


def _header_key(header: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", header.casefold()).split())


def _classify(header: str) -> str | None:
    key = _header_key(header)
    for role, names in (("full", _FULL_NAME), ("given", _GIVEN), ("middle", _MIDDLE), ("family", _FAMILY),
                        ("company", _COMPANY)):
        if key in names:
            return role
    if _PHONE_WORD.search(key) and not _NOT_A_NUMBER.search(key):
        return "phone"
    return None


def _sniff_delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def parse_contacts_csv(text: str) -> ContactFile:
    """Contacts of a CSV export (Google, Outlook, Thunderbird, Excel lists …).

    The first non-empty row is the header. Name columns: "Name" / "Display
    Name" / "Anzeigename", or "Vorname" + "Nachname" / "First Name" + "Last
    Name", else "Firma" / "Company". Phone columns: every header naming a
    phone ("Telefon", "Telefon geschäftlich", "Mobil", "Handy", "Phone",
    "Mobile Phone", "Phone 1 - Value" …) except fax and pager; Google's
    "a ::: b" holds several numbers in one cell.
    """
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text), delimiter=_sniff_delimiter(text))
    rows = [(n, row) for n, row in enumerate(reader, start=1)]
    rows = [(n, row) for n, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise CallbotError("the CSV file is empty")
    header_no, header = rows[0]
    roles = [_classify(h) for h in header]
    if "phone" not in roles:
        shown = ", ".join(h.strip() for h in header if h.strip())[:200]
        raise CallbotError(
            f"no phone column in the CSV header ({shown}) — the first row must name the columns, "
            f"e.g. Name;Telefon;Mobil or Name,Phone,Mobile Phone"
        )
    contacts: list[Contact] = []
    skipped: list[str] = []
    for row_no, row in rows[1:]:
        cells: dict[str, list[str]] = {}
        for role, cell in zip(roles, row):
            if role is not None and cell.strip():
                cells.setdefault(role, []).append(" ".join(cell.split()))
        name = (
            (cells.get("full") or [None])[0]
            or " ".join(cells.get("given", []) + cells.get("middle", []) + cells.get("family", []))
            or (cells.get("company") or [None])[0]
        )
        numbers = [part.strip() for value in cells.get("phone", []) for part in value.split(":::") if part.strip()]
        contact = Contact(name or None, tuple(dict.fromkeys(numbers)), f"row {row_no}")
        if numbers:
            contacts.append(contact)
        else:
            skipped.append(f"{contact.label}: no phone number")
    return ContactFile(contacts, skipped)


# -- planning an import ----------------------------------------------------------


@dataclass(frozen=True)
class PlannedEntry:
    """An allow entry to add for one number of one contact."""

    number: str  # E.164
    name: str | None
    where: str

    @property
    def reason(self) -> str:
        return f"contact: {self.name}" if self.name else "contact without a name"


@dataclass(frozen=True)
class ImportPlan:
    add: list[PlannedEntry]
    already: list[str]  # numbers already on the allow list (a re-import changes nothing)
    skipped: list[str]  # "<where> (<name>): <why>"


def plan_import(
    contacts: ContactFile, existing: Iterable[ListEntry], region: str = "DE", now: datetime | None = None
) -> ImportPlan:
    """Which numbers of ``contacts`` to add to the allow list. Numbers already
    allowed are left alone (so importing twice adds nothing); numbers on the
    block list are skipped, never unblocked behind the owner's back."""
    now = now or datetime.now(timezone.utc)
    listed: dict[str, ListEntry] = {}
    for entry in existing:
        if entry.kind == "number" and entry.removed_at is None and (
            entry.expires_at is None or parse_time(entry.expires_at) > now
        ):
            current = listed.get(entry.value)
            if current is None or (entry.list == "block" and current.list != "block"):
                listed[entry.value] = entry
    plan = ImportPlan([], [], list(contacts.skipped))
    seen: dict[str, Contact] = {}
    for contact in contacts.contacts:
        for raw in contact.numbers:
            try:
                number = normalise_number(raw, region)
            except ListEntryError as exc:
                plan.skipped.append(f"{contact.label}: {exc}")
                continue
            entry = listed.get(number)
            if entry is not None and entry.list == "block":
                plan.skipped.append(
                    f"{contact.label}: {number} is on the block list (entry {entry.id}"
                    f"{', suggested' if not entry.confirmed else ''}) — `callbot unblock {entry.id}` first"
                )
            elif entry is not None:
                plan.already.append(f"{contact.label}: {number} (entry {entry.id})")
            elif number in seen:
                if seen[number] is not contact:
                    plan.skipped.append(f"{contact.label}: {number} is already in {seen[number].label}")
            else:
                seen[number] = contact
                plan.add.append(PlannedEntry(number, contact.name, contact.where))
    return plan
