"""Tests for callbot.call.caller: header parsing, name-addr parsing, CLIR detection."""

from __future__ import annotations

import random

import pytest

from callbot.call.caller import Caller, identify, identify_raw
from callbot.telephony.message import NameAddr, parse_headers, parse_name_addr

CRLF = "\r\n"
SDP = CRLF.join(
    [
        "v=0",
        "o=- 8123 8123 IN IP4 192.0.2.10",
        "s=-",
        "c=IN IP4 192.0.2.10",
        "t=0 0",
        "m=audio 40000 RTP/AVP 8 0 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "",
    ]
)


def message(*lines: str, body: str = SDP) -> bytes:
    """Join ``lines`` (start line first) into a raw SIP message with CRLF and a body."""
    return (CRLF.join(lines) + CRLF + CRLF + body).encode("utf-8")


def invite(*identity: str) -> bytes:
    """A realistic INVITE from a carrier whose caller-identity headers are ``identity``."""
    return message(
        "INVITE sip:+4930555000@192.0.2.10:5060 SIP/2.0",
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1;rport",
        "Max-Forwards: 69",
        *identity,
        "To: <sip:+4930555000@pbx.example.de>",
        "Call-ID: 7f3a9c2e-1b4d-4c1a@198.51.100.7",
        "CSeq: 1 INVITE",
        "Contact: <sip:gw@198.51.100.7:5060;transport=udp>",
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE",
        "Content-Type: application/sdp",
        f"Content-Length: {len(SDP)}",
    )


FRITZBOX = message(
    "INVITE sip:621@192.168.178.20:5060 SIP/2.0",
    "Via: SIP/2.0/UDP 192.168.178.1:5060;branch=z9hG4bK5A3C1F0E2B7D9A41;rport",
    'From: "015212345678" <sip:015212345678@fritz.box>;tag=4B1E6A1C0D3F2E55',
    "To: <sip:621@fritz.box>",
    "Call-ID: 3C7A2B1D9E8F0A6B@192.168.178.1",
    "CSeq: 1573 INVITE",
    "Contact: <sip:015212345678@192.168.178.1:5060;transport=udp>",
    "Max-Forwards: 70",
    "User-Agent: FRITZ!OS",
    "P-Called-Party-ID: <sip:+493012345678@fritz.box>",
    "Supported: 100rel, replaces, timer",
    "Content-Type: application/sdp",
    f"Content-Length: {len(SDP)}",
)

TELEKOM = message(
    "INVITE sip:+493012345678@192.0.2.10:5060;transport=udp SIP/2.0",
    "Via: SIP/2.0/UDP 217.0.20.1:5060;branch=z9hG4bK9ab2.4c1e9f0b0.0",
    "Max-Forwards: 66",
    'From: "+4921112345" <sip:+4921112345@tel.t-online.de;user=phone>;tag=p65545t1695812341m4353',
    "To: <sip:+493012345678@tel.t-online.de;user=phone>",
    "Call-ID: p65545t1695812341m435331c2@217.0.20.1",
    "CSeq: 1 INVITE",
    "Contact: <sip:sgc_c@217.0.20.1;transport=udp>",
    "P-Asserted-Identity: <sip:+4921112345@tel.t-online.de;user=phone>",
    "Privacy: none",
    "Supported: 100rel, timer",
    "Content-Type: application/sdp",
    f"Content-Length: {len(SDP)}",
)

COMPACT = message(
    "INVITE sip:bob@biloxi.example.com SIP/2.0",
    "v:SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK776asdhds",
    'f:"Kompakt" <sip:+4930123456@example.com>;tag=1928301774',
    "t:<sip:bob@biloxi.example.com>",
    "i:a84b4c76e66710@pc33.example.com",
    "CSeq:314159 INVITE",
    "m:<sip:alice@pc33.example.com>",
    "c:application/sdp",
    f"l:{len(SDP)}",
)

FOLDED = message(
    "INVITE sip:+4930555000@192.0.2.10 SIP/2.0",
    "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-77",
    'From: "Gefaltet"',
    "  <sip:+4930123456@example.com>",
    "\t;tag=abc",
    "To: <sip:+4930555000@pbx.example.de>",
    "Call-ID: folded-1@198.51.100.7",
    "CSeq: 1 INVITE",
    f"Content-Length: {len(SDP)}",
)

LOWERCASE = message(
    "INVITE sip:+4930555000@192.0.2.10 SIP/2.0",
    "via:SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-lc",
    "from:<sip:zentrale@pbx.example.com>;tag=9",
    "p-asserted-identity:<tel:+4930123456>",
    "to:<sip:+4930555000@pbx.example.de>",
    "call-id:lower-1",
    "cseq:1 INVITE",
    f"content-length:{len(SDP)}",
)

PAI_REAL = "<sip:+4930123456@ims.telekom.de;user=phone>"
REAL_FROM = "From: <sip:+4930123456@carrier.example>;tag=1"


def shown(case_id: str, raw: bytes, e164: str | None):
    """A table row for a caller whose ID is not withheld."""
    return pytest.param(raw, False, e164, (), id=case_id)


def hidden(case_id: str, raw: bytes, *reasons: str):
    """A table row for a withheld caller; each of ``reasons`` must occur in some reason."""
    return pytest.param(raw, True, None, reasons, id=case_id)


CASES = [
    # Providers and URI forms
    shown("fritzbox-national-with-called-party-id", FRITZBOX, "+4915212345678"),
    shown("telekom-user-phone", TELEKOM, "+4921112345"),
    shown("tel-from", invite("From: <tel:+4930123456>;tag=1"), "+4930123456"),
    shown("tel-pai", invite('From: "Zentrale" <sip:zentrale@pbx.example.com>;tag=1',
                            "P-Asserted-Identity: <tel:+4989123456>"), "+4989123456"),
    shown("sips", invite("From: <sips:+4930123456@secure.example.com>;tag=1"), "+4930123456"),
    shown("umlaut-display-name", invite('From: "Müller GmbH" <sip:+4940123456@carrier.example>;tag=1'),
          "+4940123456"),
    shown("latin1-display-name",
          invite('From: "Müller" <sip:+4930123456@gw.example>;tag=1').replace("Müller".encode(), b"M\xfcller"),
          "+4930123456"),
    shown("intl-0049", invite("From: <sip:004930123456@gw.example>;tag=1"), "+4930123456"),
    shown("intl-0041", invite("From: <sip:0041446681800@gw.example>;tag=1"), "+41446681800"),
    shown("austria", invite("From: <sip:+4315131234@gw.example>;tag=1"), "+4315131234"),
    shown("non-number-user", invite('From: "Alice" <sip:alice@example.com>;tag=1'), None),
    shown("internal-extension", invite("From: <sip:**621@fritz.box>;tag=1"), None),
    shown("rpid-number-privacy-off",
          invite("From: <sip:gateway@gw.example>;tag=1",
                 "Remote-Party-ID: <sip:+41446681800@gw.example>;party=calling;screen=no;privacy=off"),
          "+41446681800"),
    shown("ppi-fallback", invite("From: <sip:pbx@pbx.example.com>;tag=1",
                                 "P-Preferred-Identity: <sip:+4930123456@pbx.example.com>"), "+4930123456"),
    # Header syntax
    shown("compact-headers", COMPACT, "+4930123456"),
    shown("lowercase-names-no-space", LOWERCASE, "+4930123456"),
    shown("folded-from", FOLDED, "+4930123456"),
    # Anonymous From
    hidden("anonymous-rfc3323", invite('From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=1'),
           "From user 'anonymous'", "From host anonymous.invalid"),
    hidden("anonymous-at-provider", invite("From: <sip:anonymous@provider.de>;tag=1"), "From user 'anonymous'"),
    hidden("anonymous-upper-case", invite('From: "ANONYMOUS" <sip:ANONYMOUS@SIP.PROVIDER.DE>;tag=1'),
           "From user 'anonymous'"),
    hidden("real-user-at-anonymous-invalid", invite("From: <sip:+4930123456@Anonymous.Invalid>;tag=1"),
           "From host anonymous.invalid"),
    hidden("user-unknown", invite("From: <sip:unknown@carrier.example>;tag=1"), "From user 'unknown'"),
    hidden("user-restricted", invite('From: "Restricted" <sip:Restricted@carrier.example>;tag=1'),
           "From user 'restricted'"),
    hidden("user-unavailable", invite("From: <sip:unavailable@carrier.example>;tag=1"), "From user 'unavailable'"),
    hidden("user-private", invite("From: <sip:PRIVATE@carrier.example>;tag=1"), "From user 'private'"),
    hidden("tel-anonymous", invite("From: <tel:Anonymous>;tag=1"), "From user 'anonymous'"),
    hidden("user-empty", invite("From: <sip:@carrier.example>;tag=1"), "From user empty"),
    hidden("user-missing", invite("From: <sip:carrier.example>;tag=1"), "From user empty"),
    # Privacy header (RFC 3323 / 3325)
    hidden("privacy-id-with-pai",
           invite('From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=1',
                  f"P-Asserted-Identity: {PAI_REAL}", "Privacy: id"),
           "Privacy: id", "From user 'anonymous'"),
    hidden("privacy-id-upper-case-real-from", invite(REAL_FROM, "Privacy: ID"), "Privacy: id"),
    hidden("privacy-header-semicolon-id", invite(REAL_FROM, "Privacy: header;id"),
           "Privacy: header", "Privacy: id"),
    hidden("privacy-user", invite(REAL_FROM, "Privacy: user"), "Privacy: user"),
    hidden("privacy-two-headers", invite(REAL_FROM, "Privacy: session", "Privacy:  Id ; critical"), "Privacy: id"),
    shown("privacy-none", invite(REAL_FROM, "Privacy: none"), "+4930123456"),
    shown("privacy-critical-alone", invite(REAL_FROM, "Privacy: critical"), "+4930123456"),
    # Remote-Party-ID
    hidden("rpid-privacy-full",
           invite(REAL_FROM,
                  'Remote-Party-ID: "Max" <sip:+4930123456@gw.example>;party=calling;screen=yes;privacy=full'),
           "Remote-Party-ID privacy=full"),
    # No usable From
    hidden("garbage-bytes", b"\x00\xffgarbage", "From header missing"),
    hidden("empty-input", b"", "From header missing"),
    hidden("missing-from", invite(), "From header missing"),
    hidden("unparseable-from", invite("From: this is not an address"), "From header unparseable"),
]


@pytest.mark.parametrize(("raw", "withheld", "e164", "reasons"), CASES)
def test_identify_raw_table(raw: bytes, withheld: bool, e164: str | None, reasons: tuple[str, ...]) -> None:
    caller = identify_raw(raw)
    assert caller.withheld is withheld
    assert caller.e164 == e164
    for expected in reasons:
        assert any(expected in reason for reason in caller.withheld_reasons), caller.withheld_reasons
    if withheld:
        assert caller.withheld_reasons
        assert (caller.number, caller.display_name, caller.number_source) == (None, None, None)
        assert caller.valid is False
    else:
        assert caller.withheld_reasons == ()
        assert caller.valid is (e164 is not None)


def test_identify_raw_accepts_str() -> None:
    assert identify_raw(FRITZBOX.decode()) == identify_raw(FRITZBOX)


# --- identify: details ----------------------------------------------------


def test_fritzbox_national_number_normalised_not_called_party() -> None:
    caller = identify_raw(FRITZBOX)
    assert caller.number == "015212345678"
    assert caller.number_source == "From"
    assert caller.display_name == "015212345678"
    assert (caller.country_code, caller.region, caller.number_type) == (49, "DE", "mobile")
    assert caller.from_raw == '"015212345678" <sip:015212345678@fritz.box>;tag=4B1E6A1C0D3F2E55'


def test_telekom_prefers_pai_and_describes_city() -> None:
    caller = identify_raw(TELEKOM)
    assert caller.number == "+4921112345"
    assert caller.number_source == "P-Asserted-Identity"
    assert caller.description == "Düsseldorf"
    assert caller.asserted_identities == ("<sip:+4921112345@tel.t-online.de;user=phone>",)


def test_privacy_id_keeps_asserted_number_out_of_caller_fields() -> None:
    raw = invite('From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=1',
                 f'P-Asserted-Identity: "Max Mustermann" {PAI_REAL}', "Privacy: id")
    caller = identify_raw(raw)
    assert caller.withheld
    assert caller.number is None and caller.e164 is None and caller.display_name is None
    assert caller.country_code is None and caller.description is None and caller.number_source is None
    assert caller.asserted_identities == (f'"Max Mustermann" {PAI_REAL}',)
    assert caller.withheld_reasons == ("From user 'anonymous'", "From host anonymous.invalid", "Privacy: id")


def test_privacy_header_id_reasons_in_order_without_duplicates() -> None:
    raw = invite("From: <sip:+4930123456@carrier.example>;tag=1", "Privacy: header;id", "Privacy: id, none")
    assert identify_raw(raw).withheld_reasons == ("Privacy: header", "Privacy: id")


def test_pai_preferred_over_from_and_first_numeric_pai_wins() -> None:
    headers = [
        ("From", '"Empfang" <sip:0301111111@pbx.example.com>;tag=1'),
        ("P-Asserted-Identity", "<sip:empfang@pbx.example.com>, <tel:+49-89-123456>"),
        ("P-Asserted-Identity", "<tel:+4940123456>"),
    ]
    caller = identify(headers)
    assert (caller.number, caller.e164) == ("+4989123456", "+4989123456")
    assert caller.number_source == "P-Asserted-Identity"
    assert caller.display_name == "Empfang"
    assert caller.asserted_identities == (
        "<sip:empfang@pbx.example.com>",
        "<tel:+49-89-123456>",
        "<tel:+4940123456>",
    )


def test_rpid_describing_called_party_is_ignored() -> None:
    headers = [
        ("From", "<sip:gateway@gw.example>;tag=1"),
        ("Remote-Party-ID", "<sip:+4930555000@gw.example>;party=called;privacy=full"),
    ]
    caller = identify(headers)
    assert not caller.withheld
    assert caller.number is None


def test_non_number_user_is_not_withheld_and_keeps_display_name() -> None:
    caller = identify_raw(invite('From: "Alice" <sip:alice@example.com>;tag=1'))
    assert caller.display_name == "Alice"
    assert (caller.number, caller.e164, caller.valid, caller.number_source) == (None, None, False, None)


def test_umlaut_display_name() -> None:
    caller = identify_raw(invite('From: "Müller GmbH" <sip:+4940123456@carrier.example>;tag=1'))
    assert caller.display_name == "Müller GmbH"
    assert caller.description == "Hamburg"


@pytest.mark.parametrize("user", ["**621", "21"])
def test_internal_extension_kept_without_e164(user: str) -> None:
    caller = identify([("From", f"<sip:{user}@fritz.box>;tag=1")])
    assert (caller.number, caller.e164, caller.valid, caller.number_source) == (user, None, False, "From")
    assert caller.region is None and caller.number_type is None


def test_visual_separators_and_user_params_removed() -> None:
    caller = identify([("From", "<sip:+49%20(30)%20123-456;npdi@gw.example;user=phone>")])
    assert (caller.number, caller.e164) == ("+4930123456", "+4930123456")


def test_default_region_used_for_national_numbers() -> None:
    caller = identify([("From", "<sip:0446681800@gw.example>")], default_region="CH")
    assert (caller.e164, caller.region, caller.description) == ("+41446681800", "CH", "Zürich")


def test_identify_accepts_non_canonical_header_names() -> None:
    caller = identify([("f", "<sip:+4930123456@gw.example>"), ("privacy", "ID")])
    assert caller.withheld and caller.withheld_reasons == ("Privacy: id",)


@pytest.mark.parametrize(
    ("number", "country_code", "region", "number_type", "description"),
    [
        ("+493012345678", 49, "DE", "fixed_line", "Berlin"),
        ("+4915212345678", 49, "DE", "mobile", "Deutschland"),
        ("+498001234567", 49, "DE", "toll_free", "Deutschland"),
        ("+4315131234", 43, "AT", "fixed_line", "Wien"),
        ("+436641234567", 43, "AT", "mobile", "Österreich"),
        ("+41446681800", 41, "CH", "fixed_line", "Zürich"),
    ],
)
def test_number_metadata(number: str, country_code: int, region: str, number_type: str, description: str) -> None:
    caller = identify([("From", f"<tel:{number}>")])
    assert caller.valid
    assert caller.e164 == number
    assert (caller.country_code, caller.region, caller.number_type) == (country_code, region, number_type)
    assert caller.description == description


def test_caller_is_hashable() -> None:
    assert hash(identify_raw(TELEKOM)) == hash(identify_raw(TELEKOM))
    assert isinstance(identify_raw(b""), Caller)


# --- parse_headers ----------------------------------------------------------


def test_parse_headers_skips_start_line_and_body() -> None:
    headers = parse_headers(invite("From: <sip:+4930123456@gw.example>;tag=1"))
    names = [name for name, _ in headers]
    assert names == ["Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "Allow",
                     "Content-Type", "Content-Length"]
    assert ("From", "<sip:+4930123456@gw.example>;tag=1") in headers


def test_parse_headers_compact_forms_expanded() -> None:
    names = [name for name, _ in parse_headers(COMPACT)]
    assert names == ["Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Type", "Content-Length"]
    raw = "INVITE sip:a@b SIP/2.0\r\nk: timer\r\ns: Hallo\r\nL: 0\r\n\r\n"
    assert parse_headers(raw) == [("Supported", "timer"), ("Subject", "Hallo"), ("Content-Length", "0")]


def test_parse_headers_canonical_names() -> None:
    raw = "\n".join(
        [
            "INVITE sip:a@b SIP/2.0",
            "p-asserted-identity: <tel:+4930123>",
            "PRIVACY:id",
            "remote-party-id: <sip:1@h>",
            "P-PREFERRED-IDENTITY : <sip:2@h>",
            "p-called-party-id: <sip:3@h>",
            "CALL-ID: x",
            "cseq: 1 INVITE",
            "www-authenticate: Digest",
            "x-fritz-SPECIAL-header: 1",
            "",
        ]
    )
    assert [name for name, _ in parse_headers(raw)] == [
        "P-Asserted-Identity", "Privacy", "Remote-Party-ID", "P-Preferred-Identity", "P-Called-Party-ID",
        "Call-ID", "CSeq", "WWW-Authenticate", "X-Fritz-Special-Header",
    ]


def test_parse_headers_folding_lf_and_garbage() -> None:
    raw = "\n".join(
        [
            "INVITE sip:a@b SIP/2.0",
            "Subject: first",
            "   second",
            "this line is garbage",
            "  continuation of garbage",
            ": no name",
            "Bad Name: x",
            "To:<sip:b@h>",
            "",
            "From: <sip:body@h>",
        ]
    )
    assert parse_headers(raw) == [("Subject", "first second"), ("To", "<sip:b@h>")]


def test_parse_headers_folded_from_value() -> None:
    assert ("From", '"Gefaltet" <sip:+4930123456@example.com> ;tag=abc') in parse_headers(FOLDED)


def test_parse_headers_without_start_line_and_leading_blank_lines() -> None:
    raw = "\r\n\r\nFrom: <sip:1@h>\r\nTo: <sip:2@h>\r\n"
    assert parse_headers(raw) == [("From", "<sip:1@h>"), ("To", "<sip:2@h>")]


def test_parse_headers_status_line_skipped() -> None:
    assert parse_headers("SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n") == [("CSeq", "1 INVITE")]


def test_parse_headers_undecodable_bytes_replaced() -> None:
    headers = parse_headers(b"INVITE sip:a@b SIP/2.0\r\nSubject: caf\xe9\r\n\r\n")
    assert headers == [("Subject", "caf\ufffd")]


@pytest.mark.parametrize("raw", [b"", "", b"\x00\xffgarbage", b"\r\n\r\n", b":::", b"\xff" * 100, "\n \n\t"])
def test_parse_headers_garbage_gives_nothing(raw: bytes | str) -> None:
    assert parse_headers(raw) == []


def test_parse_headers_and_identify_never_raise_on_random_input() -> None:
    rng = random.Random(3261)
    alphabet = b'\x00\xff\r\n \t:;,<>"@%+fFtTi-Privacy:Privacyid anonymous sip:tel:'
    for _ in range(500):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        for name, value in parse_headers(raw):
            assert name and isinstance(value, str)
        assert isinstance(identify_raw(raw), Caller)


# --- parse_name_addr --------------------------------------------------------


def test_name_addr_quoted_display_name_with_comma_and_params() -> None:
    addr = parse_name_addr('"Doe, John" <sip:+4930123456@Gw.Example;user=phone>;tag=abc;Privacy=Full')
    assert addr == NameAddr(
        display_name="Doe, John",
        scheme="sip",
        user="+4930123456",
        host="gw.example",
        params={"user": "phone", "tag": "abc", "privacy": "Full"},
        raw='"Doe, John" <sip:+4930123456@Gw.Example;user=phone>;tag=abc;Privacy=Full',
    )


def test_name_addr_escaped_quote_and_unquoted_display_name() -> None:
    assert parse_name_addr(r'"Der \"Chef\"" <sip:chef@h>').display_name == 'Der "Chef"'
    assert parse_name_addr("Anonymous   Caller <sip:anon@h>").display_name == "Anonymous Caller"
    assert parse_name_addr('"" <sip:1@h>').display_name is None


def test_name_addr_addr_spec_params_are_header_params() -> None:
    addr = parse_name_addr("sip:123@h;tag=x")
    assert (addr.display_name, addr.scheme, addr.user, addr.host) == (None, "sip", "123", "h")
    assert addr.params == {"tag": "x"}


def test_name_addr_tel_uri() -> None:
    addr = parse_name_addr("<tel:+49-30-123456;phone-context=+49>;tag=7")
    assert (addr.scheme, addr.user, addr.host) == ("tel", "+49-30-123456", None)
    assert addr.params == {"phone-context": "+49", "tag": "7"}


def test_name_addr_user_details() -> None:
    assert parse_name_addr("<sip:%2B4930123456@h>").user == "+4930123456"
    assert parse_name_addr("<sip:alice:secret@h:5061;transport=tls>").user == "alice"
    assert parse_name_addr("<sip:alice@h:5061;transport=tls>").host == "h"
    assert parse_name_addr("<sip:@h>").user is None
    assert parse_name_addr("<sips:h>").user is None
    assert parse_name_addr("<sip:[2001:db8::1]:5060;lr>").host == "[2001:db8::1]"
    assert parse_name_addr("<sip:bob@h?subject=x@y>").host == "h"


@pytest.mark.parametrize(
    "value",
    ["", "garbage", "<sip:unterminated@h", '"unterminated <sip:a@b>', "<urn:service:sos>",
     "<http://example.com>", "<sip:>", '"Name" junk <sip:a@b>', "<sip:a b@h>"],
)
def test_name_addr_garbage(value: str) -> None:
    addr = parse_name_addr(value)
    assert (addr.scheme, addr.user, addr.host, addr.params, addr.raw) == (None, None, None, {}, value)


def test_name_addr_is_hashable() -> None:
    assert hash(parse_name_addr("<sip:1@h>;tag=a")) == hash(parse_name_addr("<sip:1@h>;tag=a"))
