"""Tests for the caller lists: normalising entries (callbot.numbers), matching precedence
(callbot.lists), contacts import (callbot.contacts)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from callbot.contacts import Contact, ContactFile, parse_contacts_csv, parse_vcard, plan_import, read_contacts
from callbot.errors import CallbotError
from callbot.lists import describe, match, name_matches
from callbot.numbers import (
    ListEntryError,
    guess_kind,
    normalise_name_pattern,
    normalise_number,
    normalise_prefix,
    number_search_terms,
    number_variants,
)
from callbot.records import ListEntry
from callbot.times import format_time

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
_ids = iter(range(1, 10_000))


def entry(list_="block", kind="number", value="+4930123456", reason="cold caller", *, source="manual",
          by=None, expires=None, confirmed=True, removed=None, id=None) -> ListEntry:
    return ListEntry(
        id=id if id is not None else next(_ids), list=list_, kind=kind, value=value, reason=reason,
        source=source, created_at=format_time(NOW - timedelta(days=1)), created_by=by,
        expires_at=format_time(expires) if expires else None, confirmed=confirmed,
        removed_at=format_time(removed) if removed else None,
    )


# -- normalising -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["030 123456", "030/123456", "(030) 12 34 56", "+49 30 123456", "0049 30 123456",
                                  "+49-30-123456"])
def test_numbers_are_normalised_to_e164(text):
    assert normalise_number(text, "DE") == "+4930123456"


def test_region_decides_national_numbers():
    assert normalise_number("01 234 5678", "AT") == "+4312345678"


@pytest.mark.parametrize("text", ["+49 abc", "", "abc", "030-CALL-NOW", "+"])
def test_garbage_is_not_a_phone_number(text):
    with pytest.raises(ListEntryError) as info:
        normalise_number(text, "DE")
    assert f"'{text.strip()}' is not a phone number" in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, CallbotError)


def test_invalid_national_number_asks_for_the_country_code():
    with pytest.raises(ListEntryError, match="country code"):
        normalise_number("0999 123456", "DE")


@pytest.mark.parametrize("text, expected", [
    ("+4930123*", "+4930123*"), ("030123*", "+4930123*"), ("030 123*", "+4930123*"),
    ("0049 30 123*", "+4930123*"), ("+1 800*", "+1800*"),
])
def test_prefixes(text, expected):
    assert normalise_prefix(text, "DE") == expected


@pytest.mark.parametrize("text, message", [
    ("5123*", "country code"), ("+999*", "does not start with a country code"),
    ("+49 abc*", "not a number range"), ("+4*", "2 to 15 digits"),
])
def test_bad_prefixes(text, message):
    with pytest.raises(ListEntryError, match=message):
        normalise_prefix(text, "DE")


def test_name_patterns():
    assert normalise_name_pattern("  *Energie   GmbH* ") == "*Energie GmbH*"
    for bad in ("*", " ** ", ""):
        with pytest.raises(ListEntryError, match="every caller"):
            normalise_name_pattern(bad)
    with pytest.raises(ListEntryError, match="longer"):
        normalise_name_pattern("x" * 101)


def test_guess_kind():
    assert guess_kind("+4930123456") == "number"
    assert guess_kind("030 123*") == "prefix"
    assert guess_kind("(030) 1234") == "number"
    assert guess_kind("*Energie*") == "name"
    assert guess_kind("Energie") == "name"


def test_number_variants_and_search_terms():
    assert number_variants("030 123456") == ("030 123456", "030123456", "+4930123456", "004930123456",
                                             "4930123456")
    assert number_variants("+4930123456") == ("+4930123456", "004930123456", "4930123456", "030123456")
    assert "012345678" not in number_variants("+43 1 2345678", "DE")  # national form only for the own country
    assert number_variants("**621") == ("**621",)
    assert number_search_terms("030 123456")[0][:3] == ["030 123456", "030123456", "+4930123456"]
    assert number_search_terms("030 123456")[1] == []
    assert number_search_terms("030 12") == ([], ["03012", "+493012"])
    assert number_search_terms("+4930") == ([], ["+4930"])
    assert number_search_terms("0049 30") == ([], ["004930", "+4930"])


# -- matching --------------------------------------------------------------------


def test_exact_number_beats_prefix_beats_name():
    number = entry("allow", "number", "+4930123456", "contact: Anna")
    prefix = entry("block", "prefix", "+4930123*", "Energie-Drückerkolonne")
    name = entry("block", "name", "*Anna*", "spoofed name")
    entries = [name, prefix, number]
    assert match(entries, "+4930123456", "Anna", NOW).entry == number
    assert match(entries, "+4930123999", "Anna", NOW).entry == prefix
    assert match(entries, "+4940000000", "Anna Beispiel", NOW).entry == name
    assert match(entries, "+4940000000", "Bob", NOW) is None


def test_a_blocked_number_inside_an_allowed_range_is_blocked():
    allowed = entry("allow", "prefix", "+4930123*", "our office")
    blocked = entry("block", "number", "+4930123456", "ex-employee who sells insurance")
    assert match([allowed, blocked], "+4930123456", None, NOW).list == "block"
    assert match([allowed, blocked], "+4930123457", None, NOW).list == "allow"


def test_longer_prefix_is_more_specific():
    wide = entry("block", "prefix", "+4930*", "Berlin")
    narrow = entry("allow", "prefix", "+4930123*", "office")
    assert match([narrow, wide], "+4930123456", None, NOW).entry == narrow
    assert match([narrow, wide], "+4930999999", None, NOW).entry == wide


def test_allow_beats_block_at_the_same_specificity():
    blocked = entry("block", "number", "+4930123456", "annoying")
    allowed = entry("allow", "number", "+4930123456", "but my accountant")
    assert match([allowed, blocked], "+4930123456", None, NOW).entry == allowed
    assert match([blocked, allowed], "+4930123456", None, NOW).entry == allowed
    a = entry("block", "name", "*Müller*", "x")
    b = entry("allow", "name", "Hans*", "y")
    assert match([a, b], None, "Hans Müller", NOW).entry == b


def test_expired_removed_and_unconfirmed_entries_never_match():
    expired = entry(expires=NOW - timedelta(seconds=1))
    removed = entry(removed=NOW - timedelta(days=1))
    suggested = entry(source="suggested", confirmed=False)
    assert match([expired, removed, suggested], "+4930123456", None, NOW) is None
    later = entry(expires=NOW + timedelta(seconds=1))
    assert match([later], "+4930123456", None, NOW).entry == later
    assert match([later], "+4930123456", None, NOW + timedelta(seconds=2)) is None


def test_match_defaults_to_now_and_handles_missing_caller_data():
    e = entry(expires=datetime.now(timezone.utc) + timedelta(hours=1))
    assert match([e], "+4930123456", None) is not None
    assert match([e], None, None) is None
    assert match([entry("block", "name", "*x*")], "+4930123456", None, NOW) is None


def test_name_patterns_are_case_insensitive_wildcards_on_the_whole_name():
    assert name_matches("*energie*", "Günstige ENERGIE GmbH")
    assert name_matches("Energie*", "energie  gmbh")
    assert not name_matches("Energie", "Energie GmbH")  # no star: the whole name
    assert name_matches("Energie", " energie ")
    assert not name_matches("*energie*", None)
    assert name_matches("a.b*", "A.B Consulting") and not name_matches("a.b*", "axb")


def test_reason_reads_like_the_decision():
    until = datetime(2027, 1, 1).astimezone()  # local midnight
    e = entry("block", "prefix", "+4930123*", "Energie-Drückerkolonne", by="anna", expires=until)
    found = match([e], "+4930123456", None, NOW)
    assert found.reason == "block: prefix +4930123* — 'Energie-Drückerkolonne' (manual, by anna, until 2027-01-01)"
    assert describe(entry("allow", "name", "*Anna*", "contact: Anna", source="imported")) == \
        "allow: name \"*Anna*\" — 'contact: Anna' (imported)"
    assert "not confirmed" in describe(entry(source="suggested", confirmed=False))


# -- vCard -----------------------------------------------------------------------

VCARD = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "N:Müller;Anna;;;\r\n"
    "FN:Anna Müller\r\n"
    "TEL;TYPE=CELL:+49 171 1234567\r\n"
    "TEL;TYPE=WORK,VOICE:030 123\r\n"
    " 456\r\n"
    "TEL;TYPE=FAX:030 999999\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "N:Schmidt;Bernd;;;\r\n"
    "item1.TEL;VALUE=uri;TYPE=\"voice,home\":tel:+49-40-1234567;ext=12\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "FN:Nur E-Mail\r\n"
    "EMAIL:x@example.org\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:2.1\r\n"
    "N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C3=96zdemir;J=C3=B6rg=\r\n"
    ";;;\r\n"
    "TEL;CELL:0171 7654321\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "ORG:Stadtwerke\\, Abteilung Strom\r\n"
    "TEL:0800 1234567\r\n"
    "END:VCARD\r\n"
)


def test_vcard_names_folded_lines_types_and_several_numbers():
    parsed = parse_vcard(VCARD)
    by_name = {c.name: c.numbers for c in parsed.contacts}
    assert by_name == {
        "Anna Müller": ("+49 171 1234567", "030 123456"),  # fax left out; folded line joined
        "Bernd Schmidt": ("+49-40-1234567",),               # N when no FN; tel: URI
        "Jörg Özdemir": ("0171 7654321",),                  # vCard 2.1 quoted-printable
        "Stadtwerke, Abteilung Strom": ("0800 1234567",),   # ORG when no name
    }
    assert parsed.skipped == ["line 15 (Nur E-Mail): no phone number"]
    assert parsed.contacts[0].where == "line 1"


def test_vcard_without_cards_is_an_error_and_a_cut_off_card_is_reported():
    with pytest.raises(CallbotError, match="BEGIN:VCARD"):
        parse_vcard("hello\n")
    parsed = parse_vcard("BEGIN:VCARD\nFN:A\nTEL:030123456\n")
    assert parsed.contacts == [] and "END:VCARD" in parsed.skipped[0]


# -- CSV ---------------------------------------------------------------------------


def test_german_outlook_export_with_semicolons_and_windows_encoding(tmp_path):
    text = ('Vorname;Nachname;Firma;Telefon geschäftlich;Fax geschäftlich;Mobiltelefon;E-Mail-Adresse\r\n'
            'Anna;Müller;ACME;030 123456;030 999;0171 1234567;anna@example.org\r\n'
            'Bernd;Schmidt;;;;;\r\n'
            ';;Stadtwerke;0800 1234567;;;\r\n')
    path = tmp_path / "kontakte.csv"
    path.write_bytes(text.encode("cp1252"))
    parsed = read_contacts(path)
    assert [(c.name, c.numbers, c.where) for c in parsed.contacts] == [
        ("Anna Müller", ("030 123456", "0171 1234567"), "row 2"),
        ("Stadtwerke", ("0800 1234567",), "row 4"),
    ]
    assert parsed.skipped == ["row 3 (Bernd Schmidt): no phone number"]


def test_google_english_export():
    text = ('Name,Given Name,Family Name,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,Phone 2 - Value\n'
            'Anna Müller,Anna,Müller,Mobile,+49 171 1234567 ::: +49 30 123456,Work,030 222222\n')
    [contact] = parse_contacts_csv(text).contacts
    assert contact.name == "Anna Müller"
    assert contact.numbers == ("+49 171 1234567", "+49 30 123456", "030 222222")


@pytest.mark.parametrize("header, name", [
    ("Name,Telefon,Mobil", "Anna Müller"),
    ("First Name,Last Name,Mobile Phone", "Anna Müller"),
    ("Anzeigename,Tel. dienstlich,Handy", "Anna Müller"),
    ("Display Name,Work Phone,Mobile Number", "Anna Müller"),
])
def test_header_detection(header, name):
    first = "Anna Müller" if header.count(",") == 2 and not header.startswith("First") else None
    row = "Anna Müller,030 123456,0171 1234567" if first else "Anna,Müller,0171 1234567"
    [contact] = parse_contacts_csv(f"{header}\n{row}\n").contacts
    assert contact.name == name


def test_csv_without_a_phone_column_says_what_it_expected():
    with pytest.raises(CallbotError, match="no phone column.*Telefon"):
        parse_contacts_csv("Name,E-Mail\nAnna,a@example.org\n")
    with pytest.raises(CallbotError, match="empty"):
        parse_contacts_csv("\n\n")


def test_read_contacts_picks_the_format_and_reports_missing_files(tmp_path):
    vcf = tmp_path / "c.vcf"
    vcf.write_text(VCARD, encoding="utf-8")
    assert len(read_contacts(vcf).contacts) == 4
    with pytest.raises(CallbotError, match="does not exist"):
        read_contacts(tmp_path / "nope.vcf")


# -- planning an import ---------------------------------------------------------------


def test_plan_import_is_idempotent_and_never_unblocks():
    contacts = ContactFile([
        Contact("Anna", ("030 123456", "0171 1234567"), "row 2"),
        Contact("Bernd", ("+49 30 123456",), "row 3"),
        Contact("Carla", ("12",), "row 4"),
        Contact("Dieter", ("+49 40 555555",), "row 5"),
        Contact(None, ("+49 89 1234567",), "row 6"),
    ], ["row 7: no phone number"])
    existing = [
        entry("allow", "number", "+491711234567", "contact: Anna", id=50),
        entry("block", "number", "+4940555555", "cold caller", id=51),
        entry("allow", "number", "+4989000000", "old", id=52, removed=NOW),
    ]
    plan = plan_import(contacts, existing, "DE", NOW)
    assert [(p.number, p.reason) for p in plan.add] == [
        ("+4930123456", "contact: Anna"), ("+4989 1234567".replace(" ", ""), "contact without a name"),
    ]
    assert plan.already == ["row 2 (Anna): +491711234567 (entry 50)"]
    assert plan.skipped[0] == "row 7: no phone number"
    assert "row 3 (Bernd): +4930123456 is already in row 2 (Anna)" in plan.skipped
    assert any(s.startswith("row 4 (Carla): '12'") for s in plan.skipped)
    assert "row 5 (Dieter): +4940555555 is on the block list (entry 51) — `callbot unblock 51` first" in plan.skipped
    # Once added, importing again adds nothing.
    added = [entry("allow", "number", p.number, p.reason, source="imported") for p in plan.add]
    again = plan_import(contacts, existing + added, "DE", NOW)
    assert again.add == [] and len(again.already) == 4
