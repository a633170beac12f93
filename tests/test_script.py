"""The owner's call script: loading and validation, the runner, branch coverage of the shipped scripts."""

from __future__ import annotations

import tomllib
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace

import pytest

from callbot.audio import FRAME_BYTES
from callbot.errors import CallbotError, ScriptError
from callbot.script.conditions import parse_condition
from callbot.script.loading import load_script, parse_script
from callbot.script.model import MAX_STEPS, CallContext, Hangup, Listen, Say, Script
from callbot.script.runner import ScriptRunner
from callbot.call.conversation import Conversation
from callbot.outcome import OUTCOMES
from callbot.speech.turns import TurnSettings
from tests.conftest import tone
from tests.fakes import FakeCall, FakeClock

REPO = Path(__file__).resolve().parent.parent
ALLOWED_OUTCOMES = set(OUTCOMES) | {"cold_call_countered", "message_taken", "no_response"}
LANGUAGES = ("de", "en")


def shipped_prompt_ids(language: str) -> set[str]:
    return set(tomllib.loads((REPO / "prompts" / language / "prompts.toml").read_text(encoding="utf-8")))


def shipped_script(language: str) -> Script:
    return load_script(REPO / "prompts" / language / "script.toml", shipped_prompt_ids(language), ALLOWED_OUTCOMES)


PROMPTS = shipped_prompt_ids("de")

# A small valid script; the validation tests break it one way at a time.
VALID = """
start = "hello"

[steps.hello]
say = "greeting"
next = "ask"

[steps.ask]
say = "ask_website"
next = "hear"

[steps.hear]
listen = "website_answer"
next = "route"

[steps.route]
branch = [
  { when = "answer is yes", goto = "bye" },
  { else = "offer" },
]

[steps.offer]
say = "offer"
next = "bye"

[steps.bye]
hangup = "cold_call_countered"
"""


def problems(text: str, prompt_ids=PROMPTS, outcomes=ALLOWED_OUTCOMES) -> list[str]:
    with pytest.raises(ScriptError) as info:
        parse_script(text, prompt_ids, outcomes)
    return info.value.problems


def only_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# -- loading and validation ----------------------------------------------------------


def test_the_valid_example_loads():
    script = parse_script(VALID, PROMPTS, ALLOWED_OUTCOMES)
    assert script.start == "hello"
    assert list(script.steps) == ["hello", "ask", "hear", "route", "offer", "bye"]
    assert script.prompt_usage() == {"greeting": ["hello"], "ask_website": ["ask"], "offer": ["offer"]}
    assert script.prompt_ids() == {"greeting", "ask_website", "offer"}
    assert script.branches() == [("route", 0), ("route", 1)]
    assert script.fields() == ["website_answer"]
    assert script.path is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_shipped_scripts_load_with_the_shipped_prompts(language):
    script = shipped_script(language)
    assert script.path == REPO / "prompts" / language / "script.toml"
    assert script.prompt_ids() <= shipped_prompt_ids(language)
    assert script.steps["hear_contact"].lead is True
    assert {s.arg for s in script.steps.values() if s.kind == "hangup"} == {
        "cold_call_countered", "message_taken", "no_response"}


def test_script_error_is_a_callbot_error_with_one_line_per_problem(tmp_path):
    path = tmp_path / "script.toml"
    path.write_text(VALID.replace('say = "greeting"', 'say = "greetng"').replace('next = "bye"', 'next = "by"'),
                    encoding="utf-8")
    with pytest.raises(ScriptError) as info:
        load_script(path, PROMPTS, ALLOWED_OUTCOMES)
    err = info.value
    assert isinstance(err, CallbotError)
    assert err.source == str(path)
    assert err.problems == [
        "steps.hello.say: unknown prompt 'greetng' — did you mean 'greeting'?",
        "steps.offer.next: no step named 'by' — did you mean 'bye'?",
    ]
    assert str(err).splitlines() == [f"{path}: 2 problems", *(f"  {p}" for p in err.problems)]


def test_a_missing_file_is_a_script_error(tmp_path):
    with pytest.raises(ScriptError, match="cannot read the script"):
        load_script(tmp_path / "nope.toml", PROMPTS, ALLOWED_OUTCOMES)


def test_invalid_toml_reports_line_and_column():
    found = problems('start = "hello"\n[steps.hello\nsay = "greeting"\n')
    assert len(found) == 1
    assert found[0].startswith("invalid TOML: ") and "line 2" in found[0] and "column" in found[0]


def test_unknown_top_level_key():
    text = 'strat = "hello"\n' + VALID
    assert only_problem(text) == "strat: unknown key — did you mean 'start'?"
    assert only_problem('colour = "red"\n' + VALID) == "colour: unknown key (a script has start and steps)"


def test_missing_start():
    text = VALID.replace('start = "hello"', "")
    assert only_problem(text) == 'start: missing — name the first step, e.g. start = "greeting"'


def test_unknown_start():
    text = VALID.replace('start = "hello"', 'start = "helo"')
    assert only_problem(text) == "start: no step named 'helo' — did you mean 'hello'?"


def test_a_step_with_no_kind():
    text = VALID + '\n[steps.orphan_target]\nnext = "bye"\n'
    text = text.replace('{ else = "offer" }', '{ when = "silent", goto = "orphan_target" },\n  { else = "offer" }')
    assert only_problem(text) == "steps.orphan_target: a step needs exactly one of say, listen, branch, hangup"


def test_a_step_with_several_kinds():
    text = VALID.replace('say = "offer"\n', 'say = "offer"\nlisten = "x"\n')
    assert only_problem(text) == (
        "steps.offer: a step needs exactly one of say, listen, branch, hangup (it has say, listen)")


def test_unknown_key_in_a_step_with_did_you_mean():
    text = VALID.replace('say = "greeting"\n', 'say = "greeting"\nnxt = "ask"\n')
    assert only_problem(text) == "steps.hello.nxt: unknown key — did you mean 'next'?"
    text = VALID.replace('say = "greeting"\n', 'say = "greeting"\ncolour = "red"\n')
    assert only_problem(text) == "steps.hello.colour: unknown key (a step has say, listen, branch, hangup, next, lead)"


def test_next_naming_a_missing_step():
    text = VALID.replace('next = "bye"', 'next = "by"')
    assert only_problem(text) == "steps.offer.next: no step named 'by' — did you mean 'bye'?"
    text = VALID.replace('next = "bye"', 'next = "nowhere"')
    found = problems(text)
    assert found[0] == "steps.offer.next: no step named 'nowhere'"


def test_goto_and_else_naming_missing_steps():
    text = VALID.replace('goto = "bye"', 'goto = "bey"').replace('{ else = "offer" }', '{ else = "ofer" }')
    assert problems(text) == [
        "steps.route.branch[0].goto: no step named 'bey' — did you mean 'bye'?",
        "steps.route.branch[1].else: no step named 'ofer' — did you mean 'offer'?",
    ]


def test_unreachable_steps():
    text = VALID + '\n[steps.spare]\nsay = "goodbye"\nnext = "bye"\n'
    assert only_problem(text) == "steps.spare: unreachable — no path from start 'hello' leads here"


def test_say_of_an_unknown_prompt():
    text = VALID.replace('say = "offer"', 'say = "ofer"')
    assert only_problem(text) == "steps.offer.say: unknown prompt 'ofer' — did you mean 'offer'?"
    found = problems(VALID.replace('say = "offer"', 'say = "zzz"'), prompt_ids={"greeting", "ask_website"})
    assert found == ["steps.offer.say: unknown prompt 'zzz' (known: ask_website, greeting)"]


def with_condition(condition: str) -> str:
    return VALID.replace('when = "answer is yes"', f"when = {condition!r}".replace("'", '"'))


def test_unknown_condition_with_did_you_mean():
    assert only_problem(with_condition("lable is cold_call")) == (
        "steps.route.branch[0].when: unknown condition 'lable is cold_call' — did you mean 'label is cold_call'?")
    assert only_problem(with_condition("slient")) == (
        "steps.route.branch[0].when: unknown condition 'slient' — did you mean 'silent'?")
    message = only_problem(with_condition("the moon is full"))
    assert message.startswith("steps.route.branch[0].when: unknown condition 'the moon is full' — conditions are: ")
    assert "hangs up" in only_problem(with_condition("hung up"))


def test_label_and_answer_values_must_be_known():
    assert only_problem(with_condition("label is cold")) == (
        "steps.route.branch[0].when: unknown label 'cold' in 'label is cold' — "
        "use cold_call, genuine or unclear (did you mean 'cold_call'?)")
    assert only_problem(with_condition("answer is maybe")) == (
        "steps.route.branch[0].when: unknown answer 'maybe' in 'answer is maybe' — use yes, no or unknown")
    assert only_problem(with_condition("answer is no or unknwn")) == (
        "steps.route.branch[0].when: unknown answer 'unknwn' in 'answer is no or unknwn' — "
        "use yes, no or unknown (did you mean 'unknown'?)")
    assert only_problem(with_condition("caller is friend")) == (
        "steps.route.branch[0].when: unknown caller 'friend' in 'caller is friend' — use allowed, blocked or known")


def test_malformed_conditions_say_how_to_write_them():
    assert only_problem(with_condition("label cold_call")) == (
        "steps.route.branch[0].when: 'label cold_call': write 'label is <value>' with a value of "
        "cold_call, genuine or unclear")
    assert only_problem(with_condition("answer is no unknown")) == (
        "steps.route.branch[0].when: 'answer is no unknown': join values with 'or', e.g. 'answer is yes or no'")
    assert "values joined by 'or'" in only_problem(with_condition("answer is no or"))
    assert only_problem(with_condition("has emial")) == (
        "steps.route.branch[0].when: 'has emial': no listen step stores a field 'emial' (fields: website_answer)")
    assert only_problem(with_condition("has website_anser")) == (
        "steps.route.branch[0].when: 'has website_anser': no listen step stores a field 'website_anser'"
        " — did you mean 'website_answer'?")
    assert only_problem(with_condition("silent please")).startswith(
        "steps.route.branch[0].when: unexpected words after 'silent'")


@pytest.mark.parametrize("text, kind, values, negated", [
    ("label is cold_call", "label", ("cold_call",), False),
    ("  answer   is no or unknown ", "answer", ("no", "unknown"), False),
    ("not label is genuine or unclear", "label", ("genuine", "unclear"), True),
    ("silent", "silent", (), False),
    ("not silent", "silent", (), True),
    ("has identity", "has", ("identity",), False),
    ("caller is allowed or known", "caller", ("allowed", "known"), False),
    ("recording", "recording", (), False),
    ("not recording", "recording", (), True),
])
def test_condition_grammar(text, kind, values, negated):
    condition, reason = parse_condition(text, {"identity"})
    assert reason == ""
    assert (condition.kind, condition.values, condition.negated, condition.text) == (kind, values, negated, text)


def test_a_branch_must_end_with_else():
    text = VALID.replace('{ else = "offer" }', '{ when = "not answer is yes", goto = "offer" }')
    assert only_problem(text) == (
        'steps.route.branch: the last entry must be { else = "<step>" } (where to go when no condition matches)')


def test_else_must_be_last():
    text = VALID.replace('{ when = "answer is yes", goto = "bye" },\n  { else = "offer" },',
                         '{ else = "offer" },\n  { when = "answer is yes", goto = "bye" },')
    assert problems(text) == [
        "steps.route.branch[0]: else must be the last entry (entries after it are never used)",
        'steps.route.branch: the last entry must be { else = "<step>" } (where to go when no condition matches)',
    ]


def test_branch_entry_keys():
    text = VALID.replace('goto = "bye"', 'go = "bye"')
    assert problems(text)[:2] == [
        "steps.route.branch[0].go: unknown key — did you mean 'goto'?",
        "steps.route.branch[0]: needs goto (the step to go to when the condition holds)",
    ]


def test_lead_only_on_a_listen_step():
    text = VALID.replace('say = "offer"\n', 'say = "offer"\nlead = true\n')
    assert only_problem(text) == "steps.offer.lead: only a listen step can be a lead (this is a say step)"
    text = VALID.replace('listen = "website_answer"\n', 'listen = "website_answer"\nlead = "yes"\n')
    assert only_problem(text) == "steps.hear.lead: must be true or false, got 'yes'"


def test_hangup_outcome_must_be_allowed():
    text = VALID.replace('hangup = "cold_call_countered"', 'hangup = "cold_call_counterd"')
    assert only_problem(text) == (
        "steps.bye.hangup: unknown outcome 'cold_call_counterd' — did you mean 'cold_call_countered'?")
    found = problems(VALID, outcomes={"done", "error"})
    assert found == ["steps.bye.hangup: unknown outcome 'cold_call_countered' (allowed: done, error)"]


def test_next_is_required_for_say_and_listen_and_forbidden_for_hangup():
    text = VALID.replace('say = "offer"\nnext = "bye"\n', 'say = "offer"\n')
    found = problems(text)
    assert found[0] == "steps.offer: a say step needs next"
    text = VALID.replace('hangup = "cold_call_countered"\n', 'hangup = "cold_call_countered"\nnext = "hello"\n')
    assert problems(text)[0] == "steps.bye.next: a hangup step has no next (the call ends here)"


def test_listen_field_names_must_be_identifiers():
    text = VALID.replace('listen = "website_answer"', 'listen = "Website Answer"')
    assert only_problem(text) == (
        "steps.hear.listen: field name 'Website Answer' must be lower-case letters, digits and _, "
        "starting with a letter or _ (e.g. contact_details)")


def test_a_loop_without_a_listen():
    text = VALID.replace('{ else = "offer" }', '{ else = "again" }') + (
        '\n[steps.again]\nsay = "still_there"\nnext = "check"\n'
        '\n[steps.check]\nbranch = [{ when = "recording", goto = "again" }, { else = "offer" }]\n')
    assert only_problem(text) == "steps: loop without a listen: again → check → again"


def test_a_self_loop_is_a_loop_without_a_listen():
    text = VALID.replace('next = "bye"', 'next = "offer"')
    assert problems(text) == ["steps: loop without a listen: offer → offer"]


def test_a_loop_with_a_listen_is_fine():
    text = VALID.replace('{ else = "offer" }', '{ when = "silent", goto = "ask" },\n  { else = "offer" }')
    parse_script(text, PROMPTS, ALLOWED_OUTCOMES)


def test_a_path_that_never_reaches_a_hangup():
    text = VALID.replace('{ else = "offer" }', '{ else = "trap" }') + (
        '\n[steps.trap]\nsay = "still_there"\nnext = "hear_again"\n'
        '\n[steps.hear_again]\nlisten = "again"\nnext = "trap"\n'
        '\n[steps.offer_unused]\nsay = "offer"\nnext = "bye"\n')
    text = text.replace("[steps.offer]\nsay = \"offer\"\nnext = \"bye\"\n", "")
    text = text.replace("[steps.offer_unused]", "[steps.offer]")
    text = text.replace('{ when = "answer is yes", goto = "bye" }', '{ when = "answer is yes", goto = "offer" }')
    assert only_problem(text) == "steps.trap: no path from here leads to a hangup (nor from hear_again)"


def test_several_problems_are_all_reported():
    text = ('strt = "x"\n' + VALID
            .replace('say = "greeting"', 'say = "greetng"')
            .replace('when = "answer is yes"', 'when = "lable is cold_call"')
            .replace('hangup = "cold_call_countered"', 'hangup = "cold_call_countered"\nlead = true')
            .replace('{ else = "offer" }', '{ else = "ofer" }'))
    assert problems(text) == [
        "strt: unknown key — did you mean 'start'?",
        "steps.hello.say: unknown prompt 'greetng' — did you mean 'greeting'?",
        "steps.route.branch[0].when: unknown condition 'lable is cold_call' — did you mean 'label is cold_call'?",
        "steps.bye.lead: only a listen step can be a lead (this is a hangup step)",
        "steps.route.branch[1].else: no step named 'ofer' — did you mean 'offer'?",
    ]


# -- the runner with plain values ------------------------------------------------


def run(script: Script, answers, **context) -> tuple[ScriptRunner, list[str]]:
    """Drive the runner: ``answers`` in order, ``None`` = silent. Returns the runner and the prompts said."""
    runner = ScriptRunner(script, CallContext(**context))
    answers = list(answers)
    said: list[str] = []
    while True:
        action = runner.next_action()
        if isinstance(action, Say):
            said.append(action.prompt)
            runner.said()
        elif isinstance(action, Listen):
            assert answers, f"the script listens at {action.step} but the caller has nothing more to say"
            answer = answers.pop(0)
            runner.heard(action.field, answer, silent=answer is None)
        else:
            assert isinstance(action, Hangup)
            assert not answers, f"unused answers: {answers}"
            return runner, said


DE = shipped_script("de")
EN = shipped_script("en")
IDENTITY = "hier ist schmidt"
COLD = "ich möchte ihnen ein angebot für strom machen"


def test_cold_caller_without_a_website_gets_the_offer():
    runner, said = run(DE, [IDENTITY, COLD, "nein haben wir nicht", "schmidt at beispiel punkt de"])
    assert said == ["greeting", "recording_notice", "ask_identity", "ask_purpose", "ask_website",
                    "offer", "offer_thanks", "goodbye"]
    assert runner.outcome == "cold_call_countered" and runner.finished
    assert runner.fields == {"identity": IDENTITY, "purpose": COLD, "website_answer": "nein haben wir nicht",
                             "contact_details": "schmidt at beispiel punkt de"}
    assert runner.leads == {"contact_details": "schmidt at beispiel punkt de"}
    assert runner.label.label == "cold_call"


def test_cold_caller_with_a_website_gets_the_alternative():
    runner, said = run(DE, [IDENTITY, COLD, "ja haben wir"])
    assert said[-2:] == ["alternative", "goodbye"] and "offer" not in said
    assert runner.outcome == "cold_call_countered"
    assert runner.last_answer == "yes"
    assert runner.leads == {}


@pytest.mark.parametrize("answer", ["ich weiß nicht", None])
def test_dont_know_or_silence_about_the_website_gets_the_offer(answer):
    runner, said = run(DE, [IDENTITY, COLD, answer, "null eins sieben zwei"])
    assert said[-3:] == ["offer", "offer_thanks", "goodbye"]
    assert runner.outcome == "cold_call_countered"


@pytest.mark.parametrize("purpose", ["es geht um meine rechnung", "hallo"])
def test_genuine_or_unclear_callers_leave_a_message(purpose):
    runner, said = run(DE, [IDENTITY, purpose])
    assert said[-2:] == ["take_message", "goodbye"]
    assert runner.outcome == "message_taken"


def test_silent_twice_at_identity_is_no_response():
    runner, said = run(DE, [None, None])
    assert said == ["greeting", "recording_notice", "ask_identity", "still_there", "no_response"]
    assert runner.outcome == "no_response"
    assert runner.fields == {"identity": None, "identity_again": None}


def test_silent_once_then_an_answer_carries_on():
    runner, said = run(DE, [None, IDENTITY, COLD, "nein", "null eins sieben zwei"])
    assert said[:5] == ["greeting", "recording_notice", "ask_identity", "still_there", "ask_purpose"]
    assert runner.fields["identity_again"] == IDENTITY
    assert runner.outcome == "cold_call_countered"


def test_silent_twice_at_purpose_is_no_response():
    runner, said = run(DE, [IDENTITY, None, None])
    assert said[-3:] == ["ask_purpose", "still_there", "no_response"]
    assert runner.outcome == "no_response"


def test_silent_once_at_purpose_then_a_cold_call():
    runner, said = run(DE, [IDENTITY, None, COLD, "ja"])
    assert said[-5:] == ["ask_purpose", "still_there", "ask_website", "alternative", "goodbye"]


def test_recording_off_means_no_notice():
    runner, said = run(DE, [IDENTITY, "es geht um meine rechnung"], recording=False)
    assert "recording_notice" not in said
    assert str(runner.trace[1]) == "notice [branch] else → ask_identity (recording off)"


def test_a_turn_without_a_transcript_is_not_silence():
    runner = ScriptRunner(DE, CallContext())
    while not isinstance(action := runner.next_action(), Listen):
        runner.said()
    runner.heard("identity", None, silent=False)  # speech, but transcription is off
    assert runner.next_action() == Say("ask_purpose", "ask_purpose")
    assert runner.fields == {"identity": None}
    assert runner.last_answer == "unknown"
    assert runner.label.label == "unclear"
    assert runner.trace[-3].detail == "identity: speech, no transcript"


def test_the_trace_reads_like_a_protocol():
    runner, _ = run(DE, [IDENTITY, COLD, "nein haben wir nicht", "null eins"])
    lines = [str(entry) for entry in runner.trace]
    assert lines == [
        "greeting [say] greeting",
        "notice [branch] recording → say_notice (recording on)",
        "say_notice [say] recording_notice",
        "ask_identity [say] ask_identity",
        "hear_identity [listen] identity: 'hier ist schmidt'",
        "check_identity [branch] else → ask_purpose (identity: speech)",
        "ask_purpose [say] ask_purpose",
        "hear_purpose [listen] purpose: 'ich möchte ihnen ein angebot für strom machen'",
        "check_purpose [branch] else → route (purpose: speech)",
        "route [branch] label is cold_call → ask_website (label cold_call: Angebot, Strom)",
        "ask_website [say] ask_website",
        "hear_website [listen] website_answer: 'nein haben wir nicht'",
        "website_route [branch] answer is no or unknown → offer (answer no: 'nein haben wir nicht')",
        "offer [say] offer",
        "hear_contact [listen] contact_details: 'null eins'",
        "offer_thanks [say] offer_thanks",
        "goodbye_cold_call [say] goodbye",
        "bye_countered [hangup] cold_call_countered",
    ]
    assert {(e.kind) for e in runner.trace} == {"say", "listen", "branch", "hangup"}


def test_the_else_entry_shows_why_nothing_else_matched():
    runner, _ = run(DE, [IDENTITY, "es geht um meine rechnung"])
    route = next(e for e in runner.trace if e.step == "route")
    assert route.detail == "else → take_message (label genuine: Rechnung)"
    runner, _ = run(DE, [IDENTITY, COLD, "ja haben wir"])
    decision = next(e for e in runner.trace if e.step == "website_route")
    assert decision.detail == "else → alternative (answer yes: 'ja haben wir')"


def test_english_script_paths():
    runner, said = run(EN, ["this is john smith", "we have a special offer on electricity for you",
                            "no we don't", "john at example dot com"], language="en")
    assert said[-3:] == ["offer", "offer_thanks", "goodbye"] and runner.outcome == "cold_call_countered"
    runner, said = run(EN, ["this is john smith", "it is about my invoice"], language="en")
    assert runner.outcome == "message_taken"


def test_next_action_is_stable_until_reported():
    runner = ScriptRunner(DE, CallContext())
    assert runner.next_action() is runner.next_action()
    assert runner.current_step == "greeting"
    with pytest.raises(RuntimeError):
        runner.heard("identity", "x", silent=False)
    runner.said()
    assert runner.next_action() == Say("say_notice", "recording_notice")
    runner.said()
    runner.next_action()
    runner.said()
    assert runner.next_action() == Listen("hear_identity", "identity", False)
    with pytest.raises(RuntimeError):
        runner.said()
    with pytest.raises(ValueError):
        runner.heard("purpose", "x", silent=False)


def test_after_hangup_the_runner_stays_hung_up():
    runner, _ = run(DE, [None, None])
    assert runner.next_action() == Hangup("bye_no_response", "no_response")
    with pytest.raises(RuntimeError):
        runner.said()


CONDITIONS = """
start = "hear"
[steps.hear]
listen = "answer"
next = "route"
[steps.route]
branch = [
  { when = "caller is blocked", goto = "blocked" },
  { when = "caller is allowed or known", goto = "friend" },
  { when = "has answer", goto = "spoke" },
  { else = "quiet" },
]
[steps.blocked]
hangup = "cancelled"
[steps.friend]
hangup = "answered"
[steps.spoke]
hangup = "message_taken"
[steps.quiet]
hangup = "no_response"
"""


@pytest.mark.parametrize("context, answer, outcome, detail", [
    ({"blocked": True}, "hallo", "cancelled", "caller is blocked → blocked (caller is blocked)"),
    ({"known": True}, "hallo", "answered", "caller is allowed or known → friend (caller is known)"),
    ({}, "hallo", "message_taken", "has answer → spoke (answer: 'hallo')"),
    ({}, "   ", "no_response", "else → quiet (caller is on no list; answer: '   ')"),
    ({}, None, "no_response", "else → quiet (caller is on no list; answer: no speech)"),
])
def test_caller_and_has_conditions(context, answer, outcome, detail):
    script = parse_script(CONDITIONS, PROMPTS, ALLOWED_OUTCOMES)
    runner, _ = run(script, [answer], **context)
    assert runner.outcome == outcome
    assert runner.trace[1].detail == detail


def test_the_step_limit_ends_a_runaway_call():
    # a caller who keeps saying no to a script that keeps asking (validation allows loops with a listen)
    text = VALID.replace('{ else = "offer" }', '{ when = "silent", goto = "offer" },\n  { else = "ask" }')
    script = parse_script(text, PROMPTS, ALLOWED_OUTCOMES)
    runner = ScriptRunner(script, CallContext())
    actions = 0
    while not isinstance(action := runner.next_action(), Hangup):
        actions += 1
        runner.said() if isinstance(action, Say) else runner.heard(action.field, "nein", silent=False)
    assert action.outcome == "no_response"
    assert actions < MAX_STEPS
    assert runner.trace[-1].kind == "hangup"
    assert runner.trace[-1].detail == f"no_response (step limit {MAX_STEPS} reached)"


# -- branch coverage of the shipped scripts -------------------------------------------------

# Caller behaviours: (answers in order, None = silent; recording on?)
BEHAVIOURS = {
    "de": [
        (["hier ist schmidt", COLD, "nein haben wir nicht", "null eins sieben"], True),
        (["hier ist schmidt", COLD, "ja haben wir"], True),
        (["hier ist schmidt", COLD, "ich weiß nicht", "null eins sieben"], False),
        (["hier ist schmidt", "es geht um meine rechnung"], True),
        ([None, None], True),
        ([None, "hier ist schmidt", "hallo"], True),
        (["hier ist schmidt", None, None], True),
        (["hier ist schmidt", None, COLD, None, "null eins"], True),
    ],
    "en": [
        (["this is john smith", "we have a special offer on electricity", "no we don't", "john at example"], True),
        (["this is john smith", "we have a special offer on electricity", "yes we do"], True),
        (["this is john smith", "we have a special offer on electricity", "i don't know", "john"], False),
        (["this is john smith", "it is about my invoice"], True),
        ([None, None], True),
        ([None, "this is john smith", "hello"], True),
        (["this is john smith", None, None], True),
        (["this is john smith", None, "we have a special offer on electricity", None, "john"], True),
    ],
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_branch_of_the_shipped_scripts_is_taken(language, capsys):
    script = shipped_script(language)
    taken: set[tuple[str, int]] = set()
    for answers, recording in BEHAVIOURS[language]:
        runner, _ = run(script, answers, recording=recording, language=language)
        taken |= runner.taken_branches
    branches = set(script.branches())
    with capsys.disabled():
        print(f"\nbranch coverage {language}: {len(taken & branches)}/{len(branches)}")
    assert branches - taken == set()
    assert taken <= branches


# -- the runner drives a real Conversation -------------------------------------------------


def _frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0") for i in range(0, len(pcm), FRAME_BYTES)]


class ScriptedCaller(FakeCall):
    """A caller who waits for the bot to finish a prompt, then gives the next answer (None = says nothing)."""

    def __init__(self, clock: FakeClock, answers: list[bool]):
        super().__init__(clock)
        self.answers = list(answers)
        self.current: list[bytes] = []
        self.bot_wrote = False   # since the last read: the bot is speaking
        self.turn_due = False    # the bot spoke: the caller's next answer is due

    def write_frame(self, frame: bytes) -> None:
        super().write_frame(frame)
        self.bot_wrote = self.turn_due = True

    def read_frame(self) -> bytes | None:
        if not self.active:
            return None
        self.reads += 1
        if self.bot_wrote:
            self.bot_wrote = False
            return bytes(FRAME_BYTES)
        if self.turn_due:
            self.turn_due = False
            speaks = self.answers.pop(0) if self.answers else False
            self.current = _frames(tone(1.5, 300, dbfs=-15)) if speaks else []
        return self.current.pop(0) if self.current else bytes(FRAME_BYTES)


class FakePrompts:
    def get(self, prompt_id):
        return SimpleNamespace(id=prompt_id, text=f"<{prompt_id}>", frames=lambda rate=8000: _frames(tone(0.5, 500)))


class CannedRecognizer:
    """Returns the canned transcripts in order, one per spoken turn."""

    def __init__(self, texts: list[str]):
        self.texts = list(texts)

    def stream(self, rate=8000):
        texts = self.texts

        class Stream:
            def feed(self, pcm):
                pass

            def finish(self):
                future = Future()
                future.set_result(SimpleNamespace(text=texts.pop(0)))
                return future

            def cancel(self):
                pass

        return Stream()


def drive(script, answers, recording, language):
    """Run a whole call of the script on a fake call: audio, turn-taking and canned transcripts.

    Returns the runner, the final Hangup, the conversation and the fake call."""
    clock = FakeClock()
    call = ScriptedCaller(clock, [a is not None for a in answers])
    recognizer = CannedRecognizer([a for a in answers if a is not None])
    # the caller's answers are tones: only the energy detector takes them for speech
    conversation = Conversation(call, clock, FakePrompts(), TurnSettings(detector="energy"), recognizer)
    runner = ScriptRunner(script, CallContext(recording=recording, language=language))
    while True:
        action = runner.next_action()
        if isinstance(action, Say):
            conversation.say(action.prompt)
            runner.said()
        elif isinstance(action, Listen):
            turn = conversation.listen(action.field)
            text = turn.transcript.result().text if turn.transcript is not None else None
            runner.heard(action.field, text, silent=turn.end_reason == "no_speech")
        else:
            call.hangup()
            return runner, action, conversation, call


def test_the_runner_drives_a_conversation_on_a_fake_call():
    # identity: silent once, then speaks; purpose; website; contact details
    answers = [None, "hier ist schmidt", COLD, "nein haben wir nicht", "null eins sieben"]
    runner, action, conversation, call = drive(DE, answers, recording=True, language="de")
    assert action == Hangup("bye_countered", "cold_call_countered")
    bot = [t.prompt_id for t in conversation.turns if hasattr(t, "prompt_id")]
    caller = [(t.field, t.end_reason) for t in conversation.turns if hasattr(t, "field")]
    assert bot == ["greeting", "recording_notice", "ask_identity", "still_there", "ask_purpose",
                   "ask_website", "offer", "offer_thanks", "goodbye"]
    assert caller == [("identity", "no_speech"), ("identity_again", "speech_stopped"),
                      ("purpose", "speech_stopped"), ("website_answer", "speech_stopped"),
                      ("contact_details", "speech_stopped")]
    assert runner.leads == {"contact_details": "null eins sieben"}
    assert call.hung_up_by_bot_at is not None


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_branch_is_taken_on_a_fake_call(language, capsys):
    """Branch coverage of the shipped scripts with the real session (fake call, fake clock)."""
    script = shipped_script(language)
    taken: set[tuple[str, int]] = set()
    outcomes = set()
    for answers, recording in BEHAVIOURS[language]:
        runner, hangup, _, _ = drive(script, answers, recording, language)
        taken |= runner.taken_branches
        outcomes.add(hangup.outcome)
    branches = set(script.branches())
    with capsys.disabled():
        print(f"\nbranch coverage {language} (fake call): {len(taken & branches)}/{len(branches)}")
    assert branches == taken
    assert outcomes == {"cold_call_countered", "message_taken", "no_response"}


def test_a_transcript_given_lazily_is_read_only_when_a_decision_needs_it():
    asked = []

    def lazy(text):
        def read():
            asked.append(text)
            return text
        return read

    runner = ScriptRunner(DE, CallContext())
    while not isinstance(runner.next_action(), Listen):
        runner.said()
    runner.heard("identity", lazy("hier ist schmidt"), silent=False)
    assert runner.next_action() == Say("ask_purpose", "ask_purpose")  # `silent` needs no words
    assert asked == []
    runner.said()
    runner.next_action()
    runner.heard("purpose", lazy(COLD), silent=False)
    assert runner.next_action() == Say("ask_website", "ask_website")  # `label is …` needs them
    assert asked == ["hier ist schmidt", COLD]
