"""The owner's call script: what the bot says, listens for and decides, as data.

The script of a language lives in ``prompts/<language>/script.toml`` next to
the prompt texts. It is a set of named *steps*; the call starts at ``start``
and goes from step to step until a step hangs up.

The script file
---------------
::

    start = "greeting"                 # the first step

    [steps.greeting]
    say = "greeting"                   # play prompt "greeting" (text in prompts.toml,
    next = "notice"                    #   or a recording greeting.wav), then go on

    [steps.notice]                     # a branch: the first matching `when` wins;
    branch = [                         #   the last entry must be `else`
      { when = "recording", goto = "say_notice" },
      { else = "ask_identity" },
    ]

    [steps.hear_identity]
    listen = "identity"                # listen to the caller; keep the answer as "identity"
    next = "check_identity"
    lead = false                       # optional, listen only: true = this answer is a
                                       #   lead (the caller's contact details)

    [steps.bye_countered]
    hangup = "cold_call_countered"     # hang up; the call's outcome

Every step has exactly one of ``say``, ``listen``, ``branch`` and ``hangup``.
``say`` and ``listen`` steps need ``next``; ``branch`` and ``hangup`` steps
have none. ``listen`` names are lower-case words (``[a-z_][a-z0-9_]*``).
Branch entries are counted from 0 in messages (``branch[0]`` is the first).

Conditions (``when``)
---------------------
``label is cold_call``
    What the caller said so far (all answers together) sounds like a cold
    call (:func:`callbot.text.classify.classify_call`). Labels: ``cold_call``,
    ``genuine``, ``unclear``.
``answer is no``
    The caller's LAST answer, read as yes/no (:func:`callbot.text.classify.yes_no`):
    ``yes``, ``no`` or ``unknown`` (don't know, not understood, silence).
``silent``
    The caller said nothing during the last ``listen``.
``has contact_details``
    The caller answered that ``listen`` (something was heard: a transcript
    with words, or speech when there is no transcript).
``caller is allowed``
    The caller's number is on a list: ``allowed``, ``blocked``, ``known``.
``recording``
    Calls are recorded (so the caller must be told).

``label``, ``answer`` and ``caller`` accept several values joined by ``or``
(``answer is no or unknown``). Any condition may start with ``not``
(``not silent``). There is no "hung up" condition: when the caller hangs up
the call simply ends.

Checks when the script is loaded
--------------------------------
callbot refuses a script with problems and lists them all, each with where
it is (``steps.offer.next: no step named 'ofer' — did you mean 'offer'?``):
unknown keys, a missing or unknown ``start``, steps with none or several of
say/listen/branch/hangup, ``next``/``goto``/``else`` naming a missing step,
steps that can never be reached, prompts that do not exist, unknown
conditions and values, a branch without a final ``else``, ``lead`` on a step
that does not listen, unknown outcomes, loops in which the bot never
listens, and steps from which no path leads to a hangup.

Running a script
----------------
:class:`ScriptRunner` is pure: it does no I/O. It hands out the next
:class:`Say`, :class:`Listen` or :class:`Hangup`; the caller of the runner
plays the prompt / listens and reports back with :meth:`ScriptRunner.said`
and :meth:`ScriptRunner.heard`. Branch steps are decided inside the runner
and recorded in :attr:`ScriptRunner.trace`. As a safety net a call is hung
up with outcome ``no_response`` after :data:`MAX_STEPS` steps.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Callable
from pathlib import Path
from types import MappingProxyType

from callbot.text.classify import Classification, classify_call, yes_no
from callbot.errors import ScriptError
from callbot.outcome import OUTCOMES

__all__ = [
    "ANSWERS",
    "CALLER_LISTS",
    "LABELS",
    "MAX_STEPS",
    "STEP_LIMIT_OUTCOME",
    "Action",
    "BranchEntry",
    "CallContext",
    "Condition",
    "Hangup",
    "Listen",
    "Say",
    "Script",
    "ScriptRunner",
    "Step",
    "TraceEntry",
    "load_script",
    "parse_condition",
    "parse_script",
]

#: Steps (say, listen, branch) one call may go through before it is ended.
MAX_STEPS = 200
#: Outcome of a call ended by the step limit.
STEP_LIMIT_OUTCOME = "no_response"

LABELS = ("cold_call", "genuine", "unclear")
ANSWERS = ("yes", "no", "unknown")
CALLER_LISTS = ("allowed", "blocked", "known")

STEP_KINDS = ("say", "listen", "branch", "hangup")
STEP_KEYS = STEP_KINDS + ("next", "lead")
TOP_KEYS = ("start", "steps")
ENTRY_KEYS = ("when", "goto", "else")

_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")

CONDITION_HELP = (
    "conditions are: label is cold_call|genuine|unclear, answer is yes|no|unknown, silent, "
    "has <field>, caller is allowed|blocked|known, recording; 'not' in front negates, "
    "'or' joins values"
)
_CONDITION_WORDS = ("label", "answer", "caller", "silent", "has", "recording", "not")
_VALUES = {"label": LABELS, "answer": ANSWERS, "caller": CALLER_LISTS}


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


# -- loading and validation -------------------------------------------------------


#: The owner's script, per language: ``<prompts dir>/<language>/SCRIPT_FILE``.
SCRIPT_FILE = "script.toml"


def script_path(prompts_dir: Path, language: str) -> Path:
    """Where the owner's script for ``language`` lives."""
    return Path(prompts_dir) / language / SCRIPT_FILE


def load_owner_script(prompts_dir: Path, language: str, prompt_ids: Collection[str]) -> Script:
    """The owner's validated script (raises ScriptError listing every problem)."""
    return load_script(script_path(prompts_dir, language), prompt_ids)


def load_script(path: Path, prompt_ids: Collection[str], outcomes: Collection[str] = OUTCOMES) -> Script:
    """Read and check ``path``; raises :class:`ScriptError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError([f"cannot read the script: {exc}"], str(path)) from None
    script = parse_script(text, prompt_ids, outcomes, source=str(path))
    return Script(script.start, script.steps, path)


def parse_script(text: str, prompt_ids: Collection[str], outcomes: Collection[str] = OUTCOMES,
                 source: str = "script.toml") -> Script:
    """Parse and check a script; raises :class:`ScriptError` listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError([f"invalid TOML: {exc}"], source) from None
    checker = _Checker(set(prompt_ids), set(outcomes))
    script = checker.check(data)
    if checker.problems:
        raise ScriptError(checker.problems, source)
    return script


def _quote(name: object) -> str:
    return repr(name) if isinstance(name, str) else str(name)


def _did_you_mean(word: str, options: Collection[str]) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def _one_of(values: Collection[str]) -> str:
    values = list(values)
    return ", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else "".join(values)


class _Checker:
    def __init__(self, prompt_ids: set[str], outcomes: set[str]):
        self.prompt_ids = prompt_ids
        self.outcomes = outcomes
        self.problems: list[str] = []
        self.structural = False  # problems that make the graph checks unreliable

    def problem(self, text: str, structural: bool = False) -> None:
        self.problems.append(text)
        self.structural = self.structural or structural

    # -- top level --------------------------------------------------------------

    def check(self, data: dict) -> Script:
        for key in data:
            if key not in TOP_KEYS:
                self.problem(f"{key}: unknown key{_did_you_mean(key, TOP_KEYS) or ' (a script has start and steps)'}")
        raw_steps = data.get("steps")
        if raw_steps is None:
            self.problem("steps: missing — the script has no steps", structural=True)
            raw_steps = {}
        elif not isinstance(raw_steps, dict):
            self.problem("steps: must be a table of steps ([steps.<name>])", structural=True)
            raw_steps = {}
        names = list(raw_steps)

        start = data.get("start")
        if start is None:
            self.problem('start: missing — name the first step, e.g. start = "greeting"', structural=True)
        elif not isinstance(start, str):
            self.problem(f"start: must be a step name, got {_quote(start)}", structural=True)
            start = None
        elif start not in raw_steps:
            self.problem(f"start: no step named {start!r}{_did_you_mean(start, names)}", structural=True)
            start = None

        # listen fields first: `has <field>` conditions refer to them
        self.fields = {raw["listen"] for raw in raw_steps.values()
                       if isinstance(raw, dict) and isinstance(raw.get("listen"), str)
                       and _FIELD_NAME.match(raw["listen"])}
        steps: dict[str, Step] = {}
        edges: dict[str, list[tuple[str, str]]] = {}  # step -> [(key path, target)]
        for name, raw in raw_steps.items():
            step, step_edges = self.check_step(name, raw)
            edges[name] = step_edges
            if step is not None:
                steps[name] = step
        for name, step_edges in edges.items():
            for key, target in step_edges:
                if target not in raw_steps:
                    self.problem(f"{key}: no step named {target!r}{_did_you_mean(target, names)}",
                                 structural=True)
        # A misspelt target counts as its closest step for the graph checks, so one
        # typo is reported once, not again as "unreachable" for the step it meant.
        graph = {name: [t for t in (self.resolve(t, names) for _, t in step_edges) if t]
                 for name, step_edges in edges.items()}
        listens = {name for name, raw in raw_steps.items() if isinstance(raw, dict) and "listen" in raw}
        if start is not None:
            self.check_reachable(start, graph)
        self.check_loops(graph, listens)
        if start is not None and not self.structural and not self.problems:
            self.check_hangups(start, graph, steps)
        return Script(start or "", MappingProxyType(steps))

    @staticmethod
    def resolve(target: str, names: list[str]) -> str | None:
        if target in names:
            return target
        close = difflib.get_close_matches(target, sorted(names), n=1, cutoff=0.6)
        return close[0] if close else None

    # -- one step ---------------------------------------------------------------

    def check_step(self, name: str, raw: object) -> tuple[Step | None, list[tuple[str, str]]]:
        path = f"steps.{name}"
        if not isinstance(raw, dict):
            self.problem(f"{path}: must be a table ([{path}]) with say, listen, branch or hangup",
                         structural=True)
            return None, []
        for key in raw:
            if key not in STEP_KEYS:
                hint = _did_you_mean(key, STEP_KEYS) or f" (a step has {', '.join(STEP_KEYS)})"
                self.problem(f"{path}.{key}: unknown key{hint}")
        kinds = [kind for kind in STEP_KINDS if kind in raw]
        edges: list[tuple[str, str]] = []
        nxt = raw.get("next")
        if "next" in raw:
            if isinstance(nxt, str) and nxt:
                edges.append((f"{path}.next", nxt))
            else:
                self.problem(f"{path}.next: must be a step name, got {_quote(nxt)}", structural=True)
                nxt = None
        if len(kinds) != 1:
            self.problem(f"{path}: a step needs exactly one of say, listen, branch, hangup"
                         + (f" (it has {', '.join(kinds)})" if kinds else ""), structural=True)
            if "branch" in raw and isinstance(raw["branch"], list):
                edges += self.branch_edges(path, raw["branch"])
            return None, edges
        kind = kinds[0]
        value = raw[kind]
        lead = raw.get("lead", False)
        if "lead" in raw:
            if kind != "listen":
                self.problem(f"{path}.lead: only a listen step can be a lead (this is a {kind} step)")
            elif not isinstance(lead, bool):
                self.problem(f"{path}.lead: must be true or false, got {_quote(lead)}")
                lead = False
        if kind in ("say", "listen") and "next" not in raw:
            self.problem(f"{path}: a {kind} step needs next", structural=True)
        if kind in ("branch", "hangup") and "next" in raw:
            where = "use the branch's entries" if kind == "branch" else "the call ends here"
            self.problem(f"{path}.next: a {kind} step has no next ({where})", structural=True)
            edges = []

        if kind == "say":
            if not isinstance(value, str) or not value:
                self.problem(f"{path}.say: must be a prompt id, got {_quote(value)}")
            elif value not in self.prompt_ids:
                known = ", ".join(sorted(self.prompt_ids)) or "none"
                hint = _did_you_mean(value, self.prompt_ids) or f" (known: {known})"
                self.problem(f"{path}.say: unknown prompt {value!r}{hint}")
            return Step(name, "say", value, nxt), edges
        if kind == "listen":
            if not isinstance(value, str) or not _FIELD_NAME.match(value):
                self.problem(f"{path}.listen: field name {_quote(value)} must be lower-case letters, digits "
                             f"and _, starting with a letter or _ (e.g. contact_details)")
            return Step(name, "listen", value, nxt, lead=lead is True), edges
        if kind == "hangup":
            if not isinstance(value, str) or value not in self.outcomes:
                hint = (_did_you_mean(value, self.outcomes) if isinstance(value, str) else "") \
                    or f" (allowed: {', '.join(sorted(self.outcomes))})"
                self.problem(f"{path}.hangup: unknown outcome {_quote(value)}{hint}")
            return Step(name, "hangup", value), edges
        # branch
        if not isinstance(value, list) or not value:
            self.problem(f"{path}.branch: must be a list of entries like "
                         f'{{ when = "silent", goto = "..." }} ending with {{ else = "..." }}', structural=True)
            return None, edges
        entries = []
        for index, raw_entry in enumerate(value):
            entry = self.check_entry(f"{path}.branch[{index}]", raw_entry, index == len(value) - 1)
            if entry is not None:
                entries.append(entry)
        edges += self.branch_edges(path, value)
        if not isinstance(value[-1], dict) or "else" not in value[-1]:
            self.problem(f"{path}.branch: the last entry must be {{ else = \"<step>\" }} "
                         f"(where to go when no condition matches)", structural=True)
        if len(entries) != len(value):
            return None, edges
        return Step(name, "branch", branch=tuple(entries)), edges

    def branch_edges(self, path: str, entries: list) -> list[tuple[str, str]]:
        edges = []
        for index, entry in enumerate(entries):
            if isinstance(entry, dict):
                for key in ("goto", "else"):
                    if isinstance(entry.get(key), str):
                        edges.append((f"{path}.branch[{index}].{key}", entry[key]))
        return edges

    def check_entry(self, path: str, raw: object, last: bool) -> BranchEntry | None:
        if not isinstance(raw, dict):
            self.problem(f'{path}: must be {{ when = "...", goto = "..." }} or {{ else = "..." }}',
                         structural=True)
            return None
        ok = True
        for key in raw:
            if key not in ENTRY_KEYS:
                hint = _did_you_mean(key, ENTRY_KEYS) or " (an entry has when and goto, or else)"
                self.problem(f"{path}.{key}: unknown key{hint}", structural=True)
                ok = False
        if "else" in raw:
            if "when" in raw or "goto" in raw:
                self.problem(f"{path}: an else entry has no when or goto", structural=True)
                ok = False
            if not last:
                self.problem(f"{path}: else must be the last entry (entries after it are never used)",
                             structural=True)
                ok = False
            target = raw["else"]
            if not isinstance(target, str) or not target:
                self.problem(f"{path}.else: must be a step name, got {_quote(target)}", structural=True)
                return None
            return BranchEntry(None, target) if ok else None
        if "when" not in raw:
            self.problem(f"{path}: needs when (and goto), or else", structural=True)
            return None
        if "goto" not in raw:
            self.problem(f"{path}: needs goto (the step to go to when the condition holds)", structural=True)
            ok = False
        elif not isinstance(raw["goto"], str) or not raw["goto"]:
            self.problem(f"{path}.goto: must be a step name, got {_quote(raw['goto'])}", structural=True)
            ok = False
        condition = self.check_condition(f"{path}.when", raw["when"])
        if condition is None or not ok:
            return None
        return BranchEntry(condition, raw["goto"])

    # -- conditions -------------------------------------------------------------

    def check_condition(self, path: str, text: object) -> Condition | None:
        if not isinstance(text, str):
            self.problem(f'{path}: must be a condition text like "label is cold_call", got {_quote(text)}')
            return None
        condition, reason = parse_condition(text, self.fields)
        if condition is None:
            self.problem(f"{path}: {reason}")
        return condition

    # -- the step graph ---------------------------------------------------------

    def check_reachable(self, start: str, graph: dict[str, list[str]]) -> None:
        seen = _reachable(start, graph)
        for name in graph:
            if name not in seen:
                self.problem(f"steps.{name}: unreachable — no path from start {start!r} leads here")

    def check_loops(self, graph: dict[str, list[str]], listens: set[str]) -> None:
        quiet = {name: [t for t in targets if t not in listens]
                 for name, targets in graph.items() if name not in listens}
        order = {name: index for index, name in enumerate(graph)}
        for component in _strongly_connected(quiet):
            first = min(component, key=order.__getitem__)
            if len(component) == 1 and first not in quiet[first]:
                continue
            cycle = _cycle_through(first, quiet, set(component))
            self.problem(f"steps: loop without a listen: {' → '.join(cycle)}")

    def check_hangups(self, start: str, graph: dict[str, list[str]], steps: Mapping[str, Step]) -> None:
        reverse: dict[str, list[str]] = {name: [] for name in graph}
        for name, targets in graph.items():
            for target in targets:
                reverse[target].append(name)
        ending: set[str] = set()
        todo = [name for name, step in steps.items() if step.kind == "hangup"]
        while todo:
            name = todo.pop()
            if name not in ending:
                ending.add(name)
                todo += reverse[name]
        stuck = [name for name in _reachable(start, graph) if name not in ending]
        if stuck:
            more = f" (nor from {', '.join(stuck[1:])})" if len(stuck) > 1 else ""
            self.problem(f"steps.{stuck[0]}: no path from here leads to a hangup{more}")


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
            hint = _did_you_mean(field, fields) or (
                f" (fields: {', '.join(sorted(fields))})" if fields else "")
            return None, f"{text!r}: no listen step stores a field {field!r}{hint}"
        return Condition(text, "has", (field,), negated), ""
    if head in _VALUES:
        allowed = _VALUES[head]
        if not rest or rest[0] != "is":
            return None, f"{text!r}: write '{head} is <value>' with a value of {_one_of(allowed)}"
        values = rest[1:]
        if not values or values[0] == "or" or values[-1] == "or" or any(
                a == "or" and b == "or" for a, b in zip(values, values[1:])):
            return None, f"{text!r}: write '{head} is <value>' (values joined by 'or') with {_one_of(allowed)}"
        chosen = values[0::2]
        joins = values[1::2]
        if any(join != "or" for join in joins):
            return None, f"{text!r}: join values with 'or', e.g. '{head} is {allowed[0]} or {allowed[1]}'"
        for value in chosen:
            if value not in allowed:
                close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                return None, f"unknown {head} {value!r} in {text!r} — use {_one_of(allowed)}{hint}"
        return Condition(text, head, tuple(dict.fromkeys(chosen)), negated), ""
    if head == "hung" or head == "hangup":
        return None, f"unknown condition {text!r} — not needed: the call ends by itself when the caller hangs up"
    close = difflib.get_close_matches(head, _CONDITION_WORDS, n=1, cutoff=0.6)
    if close:
        fixed = " ".join((["not"] if negated else []) + [close[0]] + rest)
        if parse_condition(fixed, fields)[0] is not None:
            return None, f"unknown condition {text!r} — did you mean {fixed!r}?"
    return None, f"unknown condition {text!r} — {CONDITION_HELP}"


def _reachable(start: str, graph: Mapping[str, list[str]]) -> list[str]:
    """Steps reachable from ``start``, breadth first (start first)."""
    seen = {start}
    order = [start]
    for name in order:
        for target in graph.get(name, ()):
            if target not in seen:
                seen.add(target)
                order.append(target)
    return order


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components in no particular order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _cycle_through(first: str, graph: Mapping[str, list[str]], within: set[str]) -> list[str]:
    """A shortest cycle ``first → ... → first`` inside ``within``."""
    previous: dict[str, str] = {}
    queue = [first]
    for node in queue:
        for target in graph[node]:
            if target == first:
                path = [node]
                while path[-1] != first:
                    path.append(previous[path[-1]])
                return [first] + path[::-1][1:] + [first] if node != first else [first, first]
            if target in within and target not in previous:
                previous[target] = node
                queue.append(target)
    return [first, first]  # not reached for a real cycle


# -- running a script -------------------------------------------------------------


class _Heard:
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
            raise ScriptError([f"no step named {start!r}{_did_you_mean(start, list(script.steps))}"],
                              str(script.path or "script.toml"))
        self.script = script
        self.context = context
        self._current = start or script.start
        self._pending: Action | None = None
        self._visited = 0
        self._trace: list[TraceEntry] = []
        self._heard: list[_Heard] = []
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
        self._heard.append(_Heard(field, text, bool(silent)))
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
        last = self._heard[-1] if self._heard else None
        if last is None or last.silent or not last.text:
            return "unknown"
        return yes_no(last.text, self.context.language)

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
        kind = condition.kind
        last = self._heard[-1] if self._heard else None
        if kind == "label":
            c = self.label
            signals = c.reasons if c.label == "cold_call" else c.counter_reasons if c.label == "genuine" \
                else c.reasons + c.counter_reasons
            value, evidence = c.label, f"label {c.label}: {', '.join(s.phrase for s in signals) or '—'}"
        elif kind == "answer":
            value = self.last_answer
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
            on = [name for name in CALLER_LISTS if getattr(self.context, name)]
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
            heard = [h for h in self._heard if h.field == field]
            h = heard[-1] if heard else None
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
            holds = self.context.recording
            return holds != condition.negated, f"recording {'on' if holds else 'off'}"
        else:  # pragma: no cover - parse_condition makes only the kinds above
            raise ValueError(f"unknown condition kind {kind!r}")
        return (value in condition.values) != condition.negated, evidence
