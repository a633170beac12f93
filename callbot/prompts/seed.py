"""The shipped seed cache: (re)generate ``prompts/<language>/tts/`` from prompts.toml (:func:`write_seed`).

The seed is what a default install speaks without any TTS program; it is made
with the default engine (espeak-ng, voice = language, 150 wpm). It holds the
8 kHz renders only (``<id>-<hash>.wav``), to keep the repository small: with
TTS installed the 16 kHz renders for wideband calls are synthesized (and
cached) when the prompts load; without it, a wideband call hears the 8 kHz
seed resampled to 16 kHz (:meth:`callbot.prompts.render.Prompt.pcm_at`).
``callbot prompts render --seed`` and ``python -m callbot.prompts --seed`` call it.
"""

from __future__ import annotations

from pathlib import Path

from callbot.audio import duration_seconds
from callbot.errors import PromptError
from callbot.prompts.cache import read_rendered, rendered_name, tts_key, write_rendered
from callbot.prompts.layout import SEED_DIR, TEXTS_FILE, check_language
from callbot.prompts.render import Renderer
from callbot.prompts.texts import Problem, read_texts
from callbot.speech.tts import TtsEngine, default_engine


def write_seed(directory: Path, language: str, tts: TtsEngine | None = None) -> list[str]:
    """(Re)generate ``directory/<language>/tts/`` from prompts.toml; delete stale seed files.

    Seeds are made with the default engine (espeak-ng, voice = language, 150
    wpm) unless ``tts`` is given: they are what a default install speaks
    without any TTS program. Only 8 kHz files are written. Returns one line per file for the user; raises
    PromptError listing the problems (nothing is deleted then).
    """
    directory = Path(directory)
    lang_dir = check_language(directory, language)
    engine = tts if tts is not None else default_engine(language)
    texts, problems = read_texts(lang_dir / TEXTS_FILE)
    if not (lang_dir / TEXTS_FILE).is_file():
        problems.append(Problem(None, f"no {lang_dir / TEXTS_FILE}: nothing to pre-render"))
    seed_dir = lang_dir / SEED_DIR
    # Never the data cache: the seed is made from scratch (or kept if it is already right).
    renderer = Renderer(lang_dir, language, None, engine, {}, use_cache=False, wideband=False)
    report: list[str] = []
    wanted: dict[str, tuple[Path, bytes | None]] = {}
    for prompt_id, text in sorted(texts.items()):
        path = seed_dir / rendered_name(prompt_id, tts_key(text, engine.key))
        if path.is_file() and read_rendered(path):
            wanted[path.name] = (path, None)
            continue
        result = renderer.speech(prompt_id, text)
        if isinstance(result, Problem):
            problems.append(result)
        else:
            wanted[path.name] = (path, result.pcm)
    if problems:
        raise PromptError([p.message for p in problems])
    for name, (path, pcm) in sorted(wanted.items()):
        if pcm is None:
            report.append(f"kept  {path}")
        else:
            write_rendered(path, pcm)
            report.append(f"wrote {path} ({duration_seconds(pcm):.1f} s)")
    if seed_dir.is_dir():
        for stale in sorted(seed_dir.iterdir()):
            if stale.is_file() and stale.name not in wanted:
                stale.unlink()
                report.append(f"removed stale {stale}")
    return report
