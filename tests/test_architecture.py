"""The house rules of the package, checked on the source (an AST walk, no imports run).

* Imports only point down the layers in ``LAYERS``; packages in one layer do not
  import each other; no import circles between modules.
* The library types stop at their adapters: only ``callbot.telephony`` imports the
  SIP library, only the recognizer adapter imports vosk, only ``callbot.store``
  imports sqlite3 / sqlite_utils.
* No code file is over ``MAX_LINES`` lines (data tables, which hold no code, aside).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "callbot"

#: Top to bottom. A unit is a top-level module or package of callbot; a module may
#: import its own unit and any unit of a LOWER layer, never one of its own layer
#: or above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("python -m callbot", ("__main__",)),
    ("entry points", ("cli",)),
    ("front ends and the runtime", ("web", "app")),
    ("start-up checks (what `run` refuses = what `check` reports)", ("preflight",)),
    ("configuration (fills each component's settings)", ("config",)),
    ("the call", ("call",)),
    ("domain", ("script", "privacy", "prompts", "contacts", "notify")),
    ("domain rules", ("text", "lists", "i18n")),
    ("adapters", ("telephony", "speech", "store")),
    ("records", ("records", "numbers", "audio", "passwords")),
    ("leaves", ("outcome", "times", "errors", "botstatus")),
]
#: The one place a front end may start the runtime: `callbot run` / `callbot demo`.
RUNTIME_STARTERS = ("callbot.cli.run", "callbot.cli.demo")
#: Third-party libraries that must stay behind one adapter (module prefix -> allowed importers).
ADAPTER_ONLY = {
    "rfcvoip": ("callbot.telephony",),
    "pylibsrtp": ("callbot.telephony.srtp",),
    "G722": ("callbot.telephony",),
    "vosk": ("callbot.speech.recognizer",),
    "webrtcvad": ("callbot.speech.vad",),
    "sqlite3": ("callbot.store",),
    "sqlite_utils": ("callbot.store",),
}
MAX_LINES = 400
#: Modules that are data tables (assignments only, no functions or classes) may be longer.
DATA_TABLE_MAX_LINES = 1200


def _layer_of() -> dict[str, int]:
    return {unit: index for index, (_, units) in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """Every module ``name`` imports (absolute names, relative ones resolved), with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            for alias in node.names:  # `from callbot.call import policy` imports a module
                if f"{module}.{alias.name}" in MODULES:
                    found.append((f"{module}.{alias.name}", node.lineno))
    return found


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "callbot" or len(parts) < 2:
        return None
    return parts[1]


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in MODULES if _unit(m)}
    missing = sorted(units - set(_layer_of()))
    assert not missing, f"put these into LAYERS: {missing}"


def test_imports_only_point_down():
    layer = _layer_of()
    problems = []
    for name, path in MODULES.items():
        src = _unit(name)
        if src is None:
            continue
        for target, line in _imports(name, path):
            dst = _unit(target)
            if dst is None or dst == src:
                continue
            if layer[dst] <= layer[src]:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} ({LAYERS[layer[src]][0]}) "
                                f"imports {target} ({LAYERS[layer[dst]][0]})")
    assert not problems, "imports that do not point down:\n" + "\n".join(problems)


def test_front_ends_do_not_import_the_runtime():
    problems = []
    for name, path in MODULES.items():
        if _unit(name) not in ("cli", "web") or name in RUNTIME_STARTERS:
            continue
        for target, line in _imports(name, path):
            if target == "callbot.app" or target.startswith("callbot.app."):
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} imports {target}")
    assert not problems, "\n".join(problems)


def test_no_import_circles_between_modules():
    from callbot.script.graph import strongly_connected  # the script checker's SCC (pure)

    graph = {name: sorted({t for t, _ in _imports(name, path) if t in MODULES and t != name})
             for name, path in MODULES.items()}
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert not cycles, f"import circles: {cycles}"


def test_library_types_stop_at_their_adapter():
    problems = []
    for name, path in MODULES.items():
        for target, line in _imports(name, path):
            for library, allowed in ADAPTER_ONLY.items():
                if (target == library or target.startswith(library + ".")) and not any(
                        name == a or name.startswith(a + ".") for a in allowed):
                    problems.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} imports {target}")
    assert not problems, "\n".join(problems)


def _is_data_table(tree: ast.Module) -> bool:
    return not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in ast.walk(tree))


def test_no_code_file_over_the_limit():
    problems = []
    for name, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines <= MAX_LINES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _is_data_table(tree) and lines <= DATA_TABLE_MAX_LINES:
            continue
        problems.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines")
    assert not problems, f"code files over {MAX_LINES} lines:\n" + "\n".join(problems)


@pytest.mark.parametrize("package", sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py")))
def test_every_package_says_what_lives_there(package):
    tree = ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    assert len(doc) > 80, f"callbot/{package}/__init__.py needs a docstring: what lives there, what it may import"
    assert "import" in doc, f"callbot/{package}/__init__.py: say what the package may import"


def test_the_checks_see_a_violation(tmp_path):
    """The walker itself: a relative upward import is resolved and caught."""
    bad = tmp_path / "x.py"
    bad.write_text("from ..app import Bot\nfrom . import policy\n")
    found = [t for t, _ in _imports("callbot.call.handler", bad)]
    assert "callbot.app" in found and "callbot.call" in found
    assert _layer_of()["app"] < _layer_of()["call"]
