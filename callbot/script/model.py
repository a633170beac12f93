"""The script as data: steps, branch entries and conditions; the runner's actions, trace and call context.

What the file format means is in the package docstring (:mod:`callbot.script`).
These are plain frozen dataclasses; :mod:`callbot.script.checks` builds them from
``script.toml`` and :mod:`callbot.script.runner` walks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from callbot.outcome import Outcome

#: Steps (say, listen, branch) one call may go through before it is ended.
MAX_STEPS = 200
#: Outcome of a call ended by the step limit.
STEP_LIMIT_OUTCOME = Outcome.NO_RESPONSE.value

#: Values of ``label is ...``, ``answer is ...`` and ``caller is ...``.
LABELS = ("cold_call", "genuine", "unclear")
ANSWERS = ("yes", "no", "unknown")
CALLER_LISTS = ("allowed", "blocked", "known")


# -- the script as data -----------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A parsed ``when``: ``kind`` is label|answer|caller|silent|has|recording."""

    text: str                 # as written in the script
    kind: str
    values: tuple[str, ...] = ()  # label/answer/caller: accepted values; has: (field,)
    negated: bool = False


@dataclass(frozen=True)
class BranchEntry:
    when: Condition | None  # None: the ``else`` entry
    goto: str

    @property
    def is_else(self) -> bool:
        return self.when is None

    def describe(self) -> str:
        return "else" if self.when is None else self.when.text


@dataclass(frozen=True)
class Step:
    id: str
    kind: str                  # say | listen | branch | hangup
    arg: str | None = None     # say: prompt id; listen: field; hangup: outcome
    next: str | None = None    # say / listen
    lead: bool = False         # listen
    branch: tuple[BranchEntry, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        """The steps this step can go to."""
        if self.kind == "branch":
            return tuple(entry.goto for entry in self.branch)
        return (self.next,) if self.next else ()


@dataclass(frozen=True)
class Script:
    start: str
    steps: Mapping[str, Step]
    path: Path | None = None

    def prompt_usage(self) -> dict[str, list[str]]:
        """Prompt id -> the steps that say it (in script order)."""
        usage: dict[str, list[str]] = {}
        for step in self.steps.values():
            if step.kind == "say":
                usage.setdefault(step.arg, []).append(step.id)
        return usage

    def prompt_ids(self) -> set[str]:
        return set(self.prompt_usage())

    def fields(self) -> list[str]:
        """The field names the script listens for (script order, no repeats)."""
        return list(dict.fromkeys(s.arg for s in self.steps.values() if s.kind == "listen"))

    def branches(self) -> list[tuple[str, int]]:
        """Every ``(branch step, entry index)``, ``else`` included (for coverage)."""
        return [(step.id, index) for step in self.steps.values() if step.kind == "branch"
                for index in range(len(step.branch))]


# -- actions and the trace --------------------------------------------------------


@dataclass(frozen=True)
class Say:
    step: str
    prompt: str


@dataclass(frozen=True)
class Listen:
    step: str
    field: str
    lead: bool


@dataclass(frozen=True)
class Hangup:
    step: str
    outcome: str


Action = Say | Listen | Hangup


@dataclass(frozen=True)
class TraceEntry:
    """One step of a call. ``kind``: say | listen | branch | hangup.

    ``detail``: say: the prompt id; listen: ``field: 'text'`` (or ``no speech``,
    ``speech, no transcript``); branch: ``condition → step (evidence)``, e.g.
    ``label is cold_call → ask_website (label cold_call: Angebot, Strom)``;
    hangup: the outcome.
    """

    step: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.step} [{self.kind}] {self.detail}"


@dataclass(frozen=True)
class CallContext:
    """What the runner knows about the call before anybody speaks."""

    recording: bool = True
    allowed: bool = False
    blocked: bool = False
    known: bool = False
    language: str = "de"


class Heard:
    """One answer. ``text`` may be given as a callable: it is resolved (once) only
    when a condition or a reader needs the words, so steps that don't wait for
    the recognizer."""

    def __init__(self, field: str, text: "str | None | Callable[[], str | None]", silent: bool):
        self.field = field
        self._text = text
        self.silent = silent

    @property
    def text(self) -> str | None:  # None: no transcript
        if callable(self._text):
            self._text = self._text()
        return self._text
