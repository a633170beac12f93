"""The ``when`` of a branch entry: parsing a condition and deciding whether it holds.

:func:`parse_condition` reads ``label is cold_call``, ``not silent``,
``answer is no or unknown`` ... (the conditions are listed in the package
docstring); :func:`evaluate` decides one against what the caller said so far
and the :class:`~callbot.script.model.CallContext`, with the evidence for the trace.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Sequence

from callbot.script.hints import did_you_mean, one_of
from callbot.script.model import ANSWERS, CALLER_LISTS, LABELS, CallContext, Condition, Heard
from callbot.text.classify import Classification, yes_no

CONDITION_HELP = (
    "conditions are: label is cold_call|genuine|unclear, answer is yes|no|unknown, silent, "
    "has <field>, caller is allowed|blocked|known, recording; 'not' in front negates, "
    "'or' joins values"
)
_CONDITION_WORDS = ("label", "answer", "caller", "silent", "has", "recording", "not")
_VALUES = {"label": LABELS, "answer": ANSWERS, "caller": CALLER_LISTS}


def parse_condition(text: str, fields: Collection[str] | None = None) -> tuple[Condition | None, str]:
    """``(Condition, "")`` or ``(None, reason)``; ``fields``: the listen fields of the script."""
    words = text.split()
    if not words:
        return None, f"empty condition — {CONDITION_HELP}"
    negated = words[0] == "not"
    body = words[1:] if negated else words
    if not body:
        return None, f"'not' alone is not a condition — {CONDITION_HELP}"
    head, rest = body[0], body[1:]
    if head in ("silent", "recording"):
        if rest:
            return None, f"unexpected words after '{head}' in {text!r} — {CONDITION_HELP}"
        return Condition(text, head, (), negated), ""
    if head == "has":
        if len(rest) != 1:
            return None, f"{text!r}: write 'has <field>' with one field name, e.g. 'has contact_details'"
        field = rest[0]
        if fields is not None and field not in fields:
            hint = did_you_mean(field, fields) or (
                f" (fields: {', '.join(sorted(fields))})" if fields else "")
            return None, f"{text!r}: no listen step stores a field {field!r}{hint}"
        return Condition(text, "has", (field,), negated), ""
    if head in _VALUES:
        allowed = _VALUES[head]
        if not rest or rest[0] != "is":
            return None, f"{text!r}: write '{head} is <value>' with a value of {one_of(allowed)}"
        values = rest[1:]
        if not values or values[0] == "or" or values[-1] == "or" or any(
                a == "or" and b == "or" for a, b in zip(values, values[1:])):
            return None, f"{text!r}: write '{head} is <value>' (values joined by 'or') with {one_of(allowed)}"
        chosen = values[0::2]
        joins = values[1::2]
        if any(join != "or" for join in joins):
            return None, f"{text!r}: join values with 'or', e.g. '{head} is {allowed[0]} or {allowed[1]}'"
        for value in chosen:
            if value not in allowed:
                close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                return None, f"unknown {head} {value!r} in {text!r} — use {one_of(allowed)}{hint}"
        return Condition(text, head, tuple(dict.fromkeys(chosen)), negated), ""
    if head == "hung" or head == "hangup":
        return None, f"unknown condition {text!r} — not needed: the call ends by itself when the caller hangs up"
    close = difflib.get_close_matches(head, _CONDITION_WORDS, n=1, cutoff=0.6)
    if close:
        fixed = " ".join((["not"] if negated else []) + [close[0]] + rest)
        if parse_condition(fixed, fields)[0] is not None:
            return None, f"unknown condition {text!r} — did you mean {fixed!r}?"
    return None, f"unknown condition {text!r} — {CONDITION_HELP}"


def last_answer(heard: Sequence[Heard], language: str) -> str:
    """yes / no / unknown of the last caller turn (unknown when silent or not transcribed)."""
    last = heard[-1] if heard else None
    if last is None or last.silent or not last.text:
        return "unknown"
    return yes_no(last.text, language)


def evaluate(condition: Condition, context: CallContext, heard: Sequence[Heard],
             label: Callable[[], Classification]) -> tuple[bool, str]:
    """``(holds, evidence)`` for a condition, given the answers ``heard`` so far (oldest first).

    ``label`` gives the cold-call classification of everything said so far; it is
    called only for ``label is ...`` (the runner keeps the result between branches).
    """
    kind = condition.kind
    last = heard[-1] if heard else None
    if kind == "label":
        c = label()
        signals = c.reasons if c.label == "cold_call" else c.counter_reasons if c.label == "genuine" \
            else c.reasons + c.counter_reasons
        value, evidence = c.label, f"label {c.label}: {', '.join(s.phrase for s in signals) or '—'}"
    elif kind == "answer":
        value = last_answer(heard, context.language)
        if last is None:
            said = "nothing heard yet"
        elif last.silent:
            said = "no speech"
        elif last.text is None:
            said = "no transcript"
        else:
            said = repr(last.text)
        evidence = f"answer {value}: {said}"
    elif kind == "caller":
        value = None
        on = [name for name in CALLER_LISTS if getattr(context, name)]
        holds = any(name in on for name in condition.values)
        evidence = f"caller is {' and '.join(on) or 'on no list'}"
        return holds != condition.negated, evidence
    elif kind == "silent":
        holds = last is not None and last.silent
        evidence = "nothing heard yet" if last is None else \
            f"{last.field}: {'no speech' if last.silent else 'speech'}"
        return holds != condition.negated, evidence
    elif kind == "has":
        field = condition.values[0]
        answers = [h for h in heard if h.field == field]
        h = answers[-1] if answers else None
        if h is None:
            holds, evidence = False, f"{field}: not asked"
        elif h.silent:
            holds, evidence = False, f"{field}: no speech"
        elif h.text is None:
            holds, evidence = True, f"{field}: speech, no transcript"
        else:
            holds = bool(h.text.strip())
            evidence = f"{field}: {h.text!r}"
        return holds != condition.negated, evidence
    elif kind == "recording":
        holds = context.recording
        return holds != condition.negated, f"recording {'on' if holds else 'off'}"
    else:  # pragma: no cover - parse_condition makes only the kinds above
        raise ValueError(f"unknown condition kind {kind!r}")
    return (value in condition.values) != condition.negated, evidence
