"""Checking a parsed ``script.toml``: every problem, each with its key path.

:class:`Checker` turns the TOML data into a :class:`~callbot.script.model.Script`
and collects problems like ``steps.offer.next: no step named 'ofer' — did you
mean 'offer'?`` (the list of checks is in the package docstring). The graph
checks (unreachable steps, loops without a listen, steps that never reach a
hangup) run on :mod:`callbot.script.graph`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from types import MappingProxyType

from callbot.script.conditions import parse_condition
from callbot.script.graph import cycle_through, reachable, strongly_connected
from callbot.script.hints import did_you_mean, quote
from callbot.script.model import BranchEntry, Condition, Script, Step

STEP_KINDS = ("say", "listen", "branch", "hangup")
STEP_KEYS = STEP_KINDS + ("next", "lead")
TOP_KEYS = ("start", "steps")
ENTRY_KEYS = ("when", "goto", "else")

FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


class Checker:
    """One check of one script: :meth:`check` builds the Script and fills :attr:`problems`."""

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
                self.problem(f"{key}: unknown key{did_you_mean(key, TOP_KEYS) or ' (a script has start and steps)'}")
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
            self.problem(f"start: must be a step name, got {quote(start)}", structural=True)
            start = None
        elif start not in raw_steps:
            self.problem(f"start: no step named {start!r}{did_you_mean(start, names)}", structural=True)
            start = None

        # listen fields first: `has <field>` conditions refer to them
        self.fields = {raw["listen"] for raw in raw_steps.values()
                       if isinstance(raw, dict) and isinstance(raw.get("listen"), str)
                       and FIELD_NAME.match(raw["listen"])}
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
                    self.problem(f"{key}: no step named {target!r}{did_you_mean(target, names)}",
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
                hint = did_you_mean(key, STEP_KEYS) or f" (a step has {', '.join(STEP_KEYS)})"
                self.problem(f"{path}.{key}: unknown key{hint}")
        kinds = [kind for kind in STEP_KINDS if kind in raw]
        edges: list[tuple[str, str]] = []
        nxt = raw.get("next")
        if "next" in raw:
            if isinstance(nxt, str) and nxt:
                edges.append((f"{path}.next", nxt))
            else:
                self.problem(f"{path}.next: must be a step name, got {quote(nxt)}", structural=True)
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
                self.problem(f"{path}.lead: must be true or false, got {quote(lead)}")
                lead = False
        if kind in ("say", "listen") and "next" not in raw:
            self.problem(f"{path}: a {kind} step needs next", structural=True)
        if kind in ("branch", "hangup") and "next" in raw:
            where = "use the branch's entries" if kind == "branch" else "the call ends here"
            self.problem(f"{path}.next: a {kind} step has no next ({where})", structural=True)
            edges = []

        if kind == "say":
            if not isinstance(value, str) or not value:
                self.problem(f"{path}.say: must be a prompt id, got {quote(value)}")
            elif value not in self.prompt_ids:
                known = ", ".join(sorted(self.prompt_ids)) or "none"
                hint = did_you_mean(value, self.prompt_ids) or f" (known: {known})"
                self.problem(f"{path}.say: unknown prompt {value!r}{hint}")
            return Step(name, "say", value, nxt), edges
        if kind == "listen":
            if not isinstance(value, str) or not FIELD_NAME.match(value):
                self.problem(f"{path}.listen: field name {quote(value)} must be lower-case letters, digits "
                             f"and _, starting with a letter or _ (e.g. contact_details)")
            return Step(name, "listen", value, nxt, lead=lead is True), edges
        if kind == "hangup":
            if not isinstance(value, str) or value not in self.outcomes:
                hint = (did_you_mean(value, self.outcomes) if isinstance(value, str) else "") \
                    or f" (allowed: {', '.join(sorted(self.outcomes))})"
                self.problem(f"{path}.hangup: unknown outcome {quote(value)}{hint}")
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
                hint = did_you_mean(key, ENTRY_KEYS) or " (an entry has when and goto, or else)"
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
                self.problem(f"{path}.else: must be a step name, got {quote(target)}", structural=True)
                return None
            return BranchEntry(None, target) if ok else None
        if "when" not in raw:
            self.problem(f"{path}: needs when (and goto), or else", structural=True)
            return None
        if "goto" not in raw:
            self.problem(f"{path}: needs goto (the step to go to when the condition holds)", structural=True)
            ok = False
        elif not isinstance(raw["goto"], str) or not raw["goto"]:
            self.problem(f"{path}.goto: must be a step name, got {quote(raw['goto'])}", structural=True)
            ok = False
        condition = self.check_condition(f"{path}.when", raw["when"])
        if condition is None or not ok:
            return None
        return BranchEntry(condition, raw["goto"])

    # -- conditions -------------------------------------------------------------

    def check_condition(self, path: str, text: object) -> Condition | None:
        if not isinstance(text, str):
            self.problem(f'{path}: must be a condition text like "label is cold_call", got {quote(text)}')
            return None
        condition, reason = parse_condition(text, self.fields)
        if condition is None:
            self.problem(f"{path}: {reason}")
        return condition

    # -- the step graph ---------------------------------------------------------

    def check_reachable(self, start: str, graph: dict[str, list[str]]) -> None:
        seen = reachable(start, graph)
        for name in graph:
            if name not in seen:
                self.problem(f"steps.{name}: unreachable — no path from start {start!r} leads here")

    def check_loops(self, graph: dict[str, list[str]], listens: set[str]) -> None:
        quiet = {name: [t for t in targets if t not in listens]
                 for name, targets in graph.items() if name not in listens}
        order = {name: index for index, name in enumerate(graph)}
        for component in strongly_connected(quiet):
            first = min(component, key=order.__getitem__)
            if len(component) == 1 and first not in quiet[first]:
                continue
            cycle = cycle_through(first, quiet, set(component))
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
        stuck = [name for name in reachable(start, graph) if name not in ending]
        if stuck:
            more = f" (nor from {', '.join(stuck[1:])})" if len(stuck) > 1 else ""
            self.problem(f"steps.{stuck[0]}: no path from here leads to a hangup{more}")
