"""A call in words (issue #13, 6): the verdict ("Werbeanruf: Angebot, Stromtarif" instead of
``unclear: unclear: —``), the caller's purpose in one line, and how the call list and the call
page use them: who, why, the verdict first, the conversation with players and their length,
the technical trail folded away."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest

from callbot.store.store import Store
from callbot.web import words
from tests.test_web import NOW, _call, anon, client, clock, site  # noqa: F401 - fixtures

#: The site of tests/test_web.py with the default language (German).
WEB_LANGUAGE = "de"

COLD_REASONS = "cold_call: Angebot, Stromtarif; against: —"


def turn(speaker, text, field=None, recording=None, duration=2.0):
    return SimpleNamespace(speaker=speaker, text=text, field=field, recording=recording, duration=duration)


@pytest.mark.parametrize("kwargs, german, english", [
    (dict(label="cold_call", label_reasons=COLD_REASONS), "Werbeanruf: Angebot, Stromtarif",
     "Cold call: Angebot, Stromtarif"),
    (dict(label="cold_call", label_reasons="cold_call: A, B, C, D, E; against: Rechnung"),
     "Werbeanruf: A, B, C, …", "Cold call: A, B, C, …"),
    (dict(label="genuine", label_reasons="genuine: —; against: Rechnung, Termin"), "Anliegen: Rechnung, Termin",
     "Genuine call: Rechnung, Termin"),
    (dict(label="unclear", label_reasons="unclear: —; against: —"), "Unklar", "Unclear"),
    (dict(label=None, label_reasons=None, withheld=True, reasons=("withheld: Privacy: id",)),
     "Rufnummer unterdrückt", "Number withheld"),
    (dict(label=None, label_reasons=None, reasons=("blocked: Strom-Drücker",)), "Gesperrt: Strom-Drücker",
     "Blocked: Strom-Drücker"),
    (dict(label="cold_call", label_reasons=COLD_REASONS, reasons=("blocked: Strom",)),
     "Gesperrt, Werbeanruf: Angebot, Stromtarif", "Blocked, Cold call: Angebot, Stromtarif"),
    (dict(label=None, label_reasons=None, reasons=("allowed: Steuerbüro → handoff.mode = ignore",)),
     "Erlaubt: Steuerbüro", "Allowed: Steuerbüro"),
    (dict(label=None, label_reasons=None, reasons=("unknown: +4930, not on any list → screening",)),
     "Nicht geprüft", "Not screened"),
    (dict(label="cold_call", label_reasons="sales pitch: strom"), "Werbeanruf: sales pitch: strom",
     "Cold call: sales pitch: strom"),
])
def test_verdict_in_words(kwargs, german, english):
    assert words.verdict(**kwargs, language="de") == german
    assert words.verdict(**kwargs, language="en") == english


def test_verdict_never_repeats_the_label_as_code():
    text = words.verdict(label="unclear", label_reasons="unclear: unclear: —", language="de")
    assert "unclear" not in text and text == "Unklar"


def test_purpose_is_the_callers_answer_in_one_line():
    turns = [turn("bot", "Worum geht es?"), turn("caller", "Max von Energie Direkt", "identity"),
             turn("caller", "Es geht um\n  Ihren Stromtarif", "purpose")]
    assert words.purpose(turns) == "Es geht um Ihren Stromtarif"
    assert words.purpose([], "identity: Max\npurpose: Rückruf wegen der Rechnung") == "Rückruf wegen der Rechnung"
    assert words.purpose([turn("caller", "Hallo?", "identity")]) == "Hallo?"
    assert words.purpose([], "Rückruf bitte") == "Rückruf bitte"
    assert words.purpose([turn("caller", None, "purpose")], None) == ""
    long = words.purpose([turn("caller", "x" * 500, "purpose")])
    assert len(long) == words.PURPOSE_MAX and long.endswith("…")


def test_first_recording():
    turns = [turn("bot", "Hallo", recording="bot.wav"), turn("caller", "a", recording=None),
             turn("caller", "b", recording="2026/11/b.wav", duration=3.5)]
    assert words.first_recording(turns) == ("2026/11/b.wav", 3.5)
    assert words.first_recording([]) is None


def _add_screened_call(site) -> int:
    start = NOW - timedelta(minutes=5)
    row = _call(5, "+4930777777", "cold_call_countered", label="cold_call", label_reasons=COLD_REASONS,
                person="Petra Pitch", company="Strom AG",
                transcript="identity: Petra Pitch von der Strom AG\npurpose: Ein Angebot zu Ihrem Stromtarif",
                turns=[{"seq": 1, "speaker": "bot", "prompt_id": "ask_purpose", "text": "Worum geht es?",
                        "started_at": start, "duration": 1.0},
                       {"seq": 2, "speaker": "caller", "field": "purpose", "text": "Ein Angebot zu Ihrem Stromtarif",
                        "started_at": start + timedelta(seconds=1), "duration": 4.4,
                        "recording": site.recording_rel, "end_reason": "speech_stopped"}])
    store = site.store()
    try:
        store.bulk_insert_calls([row]).result(10)
        return store.search_calls(number="+4930777777")[0][0].id
    finally:
        store.close()


def test_call_list_shows_verdict_purpose_and_a_player_without_boilerplate(client, site):
    call_id = _add_screened_call(site)
    html = client.get("/calls").text
    row = next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if f'href="/calls/{call_id}"' in r)
    assert "Werbeanruf: Angebot, Stromtarif" in row
    assert "Ein Angebot zu Ihrem Stromtarif" in row
    assert f'<audio controls preload="none" src="/recordings/{site.recording_rel}">' in row and "0:04" in row
    assert "number shown" not in html and "default:" not in html  # the rule boilerplate is gone
    assert "data-label=" in row


def test_call_page_leads_with_who_why_verdict_then_conversation_then_trail(client, site):
    call_id = _add_screened_call(site)
    html = client.get(f"/calls/{call_id}").text
    head = html.index('class="call-head"')
    conversation = html.index('<ol class="turns">')
    trail = html.index('<details class="trail">')
    events = html.index('<table class="events">')
    assert head < conversation < trail < events
    facts = html[head:conversation]
    for text in ("Petra Pitch, Strom AG", "Ein Angebot zu Ihrem Stromtarif", "Werbeanruf: Angebot, Stromtarif",
                 "Werbeanruf, Gegenangebot gemacht"):
        assert text in facts, text
    assert "cold_call:" not in facts and "unclear" not in facts
    said = html[conversation:trail]
    assert f'<audio controls preload="metadata" src="/recordings/{site.recording_rel}"></audio>' in said
    assert "0:04" in said  # the recording's length next to its player
    assert "number shown" in html[trail:]  # the decision trail is still there, folded away
