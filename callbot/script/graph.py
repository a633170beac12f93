"""The step graph, step name -> the steps it can go to: reachability, loops (pure algorithms).

:mod:`callbot.script.checks` turns what these find into messages.
"""

from __future__ import annotations

from collections.abc import Mapping


def reachable(start: str, graph: Mapping[str, list[str]]) -> list[str]:
    """Steps reachable from ``start``, breadth first (start first)."""
    seen = {start}
    order = [start]
    for name in order:
        for target in graph.get(name, ()):
            if target not in seen:
                seen.add(target)
                order.append(target)
    return order


def strongly_connected(graph: Mapping[str, list[str]]) -> list[list[str]]:
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


def cycle_through(first: str, graph: Mapping[str, list[str]], within: set[str]) -> list[str]:
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
