"""Running a script: :class:`ScriptRunner`, pure stepping through the steps of one call.

The runner does no I/O. It hands out the next :class:`~callbot.script.model.Say`,
:class:`~callbot.script.model.Listen` or :class:`~callbot.script.model.Hangup`;
whoever carries out the call plays the prompt / listens and reports back with
:meth:`ScriptRunner.said` and :meth:`ScriptRunner.heard`. Branch steps are
decided inside the runner (:mod:`callbot.script.conditions`) and recorded in
:attr:`ScriptRunner.trace`. As a safety net a call is hung up with outcome
``no_response`` after :data:`~callbot.script.model.MAX_STEPS` steps.
"""

from __future__ import annotations

from typing import Callable

from callbot.errors import ScriptError
from callbot.script import conditions
from callbot.script.hints import did_you_mean
from callbot.script.model import (
    MAX_STEPS, STEP_LIMIT_OUTCOME, Action, CallContext, Condition, Hangup, Heard, Listen, Say, Script, Step,
    TraceEntry,
)
from callbot.text.classify import Classification, classify_call


class ScriptRunner:
    """Pure stepping: returns the next action to carry out; branch steps are evaluated internally.

    Use::

        runner = ScriptRunner(script, context)
        while True:
            action = runner.next_action()
            if isinstance(action, Say):      # play action.prompt, then
                runner.said()
            elif isinstance(action, Listen): # listen, then
                runner.heard(action.field, transcript_or_None, silent=no_speech)
            else:                            # Hangup: end the call with action.outcome
                break

    If the caller hangs up, simply stop calling the runner.
    """

    def __init__(self, script: Script, context: CallContext, start: str | None = None):
        """``start``: begin at this step instead of the script's start (e.g. the counter-offer)."""
        if start is not None and start not in script.steps:
            raise ScriptError([f"no step named {start!r}{did_you_mean(start, list(script.steps))}"],
                              str(script.path or "script.toml"))
        self.script = script
        self.context = context
        self._current = start or script.start
        self._pending: Action | None = None
        self._visited = 0
        self._trace: list[TraceEntry] = []
        self._heard: list[Heard] = []
        self._taken: set[tuple[str, int]] = set()
        self._label: tuple[int, Classification] | None = None

    # -- stepping -----------------------------------------------------------------

    def next_action(self) -> Action:
        """The action to carry out now; calling it again before said()/heard() returns the same."""
        if self._pending is not None:
            return self._pending
        while True:
            if self._visited >= MAX_STEPS:
                action: Action = Hangup(self._current, STEP_LIMIT_OUTCOME)
                self._trace.append(TraceEntry(self._current, "hangup",
                                              f"{STEP_LIMIT_OUTCOME} (step limit {MAX_STEPS} reached)"))
                self._pending = action
                return action
            self._visited += 1
            step = self.script.steps[self._current]
            if step.kind == "branch":
                self._current = self._decide(step)
                continue
            if step.kind == "say":
                action = Say(step.id, step.arg)
                self._trace.append(TraceEntry(step.id, "say", step.arg))
            elif step.kind == "listen":
                action = Listen(step.id, step.arg, step.lead)
            else:
                action = Hangup(step.id, step.arg)
                self._trace.append(TraceEntry(step.id, "hangup", step.arg))
            self._pending = action
            return action

    def said(self) -> None:
        """The :class:`Say` from next_action() was played."""
        if not isinstance(self._pending, Say):
            raise RuntimeError(f"said() but the pending action is {self._pending!r}")
        self._advance()

    def heard(self, field: str, text: "str | None | Callable[[], str | None]", silent: bool) -> None:
        """The result of the :class:`Listen`: ``text`` None = no transcript; ``silent`` = no speech.

        ``text`` may be a callable returning the transcript: the runner calls it only
        when a branch or a reader needs the words (e.g. not for ``silent``)."""
        pending = self._pending
        if not isinstance(pending, Listen):
            raise RuntimeError(f"heard() but the pending action is {pending!r}")
        if field != pending.field:
            raise ValueError(f"heard field {field!r} but step {pending.step!r} listens for {pending.field!r}")
        self._heard.append(Heard(field, text, bool(silent)))
        if silent:
            detail = f"{field}: no speech"
        elif text is None:
            detail = f"{field}: speech, no transcript"
        elif callable(text):
            detail = f"{field}: speech (transcript read when a decision needs it)"
        else:
            detail = f"{field}: {text!r}"
        self._trace.append(TraceEntry(pending.step, "listen", detail))
        self._advance()

    def _advance(self) -> None:
        step = self.script.steps[self._pending.step]
        self._current = step.next
        self._pending = None

    # -- what the runner knows ---------------------------------------------------------

    @property
    def trace(self) -> list[TraceEntry]:
        return list(self._trace)

    @property
    def fields(self) -> dict[str, str | None]:
        """Field -> transcript (None: silent or no transcript); the latest answer per field."""
        return {h.field: (None if h.silent else h.text) for h in self._heard}

    @property
    def leads(self) -> dict[str, str | None]:
        """The fields heard at ``lead = true`` listens (see :attr:`fields`)."""
        lead_fields = {s.arg for s in self.script.steps.values() if s.kind == "listen" and s.lead}
        return {f: t for f, t in self.fields.items() if f in lead_fields}

    @property
    def taken_branches(self) -> set[tuple[str, int]]:
        return set(self._taken)

    @property
    def current_step(self) -> str:
        """The step being carried out (or about to be)."""
        return self._pending.step if self._pending is not None else self._current

    @property
    def finished(self) -> bool:
        return isinstance(self._pending, Hangup)

    @property
    def outcome(self) -> str | None:
        return self._pending.outcome if isinstance(self._pending, Hangup) else None

    @property
    def last_answer(self) -> str:
        """yes / no / unknown of the last caller turn (unknown when silent or not transcribed)."""
        return conditions.last_answer(self._heard, self.context.language)

    @property
    def label(self) -> Classification:
        """Cold-call classification of everything the caller said so far."""
        if self._label is None or self._label[0] != len(self._heard):
            said = " ".join(h.text.strip() for h in self._heard if h.text and not h.silent and h.text.strip())
            self._label = (len(self._heard), classify_call(said, self.context.language))
        return self._label[1]

    # -- conditions ---------------------------------------------------------------

    def _decide(self, step: Step) -> str:
        failed: list[str] = []
        for index, entry in enumerate(step.branch):
            if entry.when is None:
                chosen, evidence = True, "; ".join(dict.fromkeys(failed)) or "no condition"
            else:
                chosen, evidence = self.evaluate(entry.when)
                if not chosen:
                    failed.append(evidence)
            if chosen:
                self._taken.add((step.id, index))
                self._trace.append(TraceEntry(step.id, "branch", f"{entry.describe()} → {entry.goto} ({evidence})"))
                return entry.goto
        raise AssertionError(f"branch {step.id!r} has no else")  # validation guarantees one

    def evaluate(self, condition: Condition) -> tuple[bool, str]:
        """``(holds, evidence)`` for a condition in the current state of the call."""
        return conditions.evaluate(condition, self.context, self._heard, lambda: self.label)
