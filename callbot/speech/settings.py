"""The speech components' settings: ``[speech]`` (the recognizer) and ``[tts]``
(text-to-speech for prompts that have only a text). Turn taking has its own
:class:`callbot.speech.turns.TurnSettings`, next to the segmenter it drives.

Defined here with the components, filled by ``callbot.config``. Imports nothing of callbot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: speech.transcription: required (refuse to start without a model), optional (warn, no text), off.
TRANSCRIPTION_MODES = ("required", "optional", "off")
#: Upper bound of speech.decoders (threads decoding at once) and of speech.live_calls.
MAX_DECODERS = 64
#: Model directory used when speech.model is not set, per prompt language
#: (the names `callbot models install de|en` installs under data/models/).
DEFAULT_MODELS = {"de": "vosk-model-small-de-0.15", "en": "vosk-model-small-en-us-0.15"}
DEFAULT_MODELS_DIR = Path("data") / "models"

TTS_ENGINES = ("espeak-ng", "piper")
TTS_SPEED_MIN, TTS_SPEED_MAX = 80, 400
DEFAULT_PROMPT_CACHE = Path("data") / "cache" / "prompts"


@dataclass(frozen=True)
class SpeechSettings:
    model: Path                      # Vosk model directory
    transcription: str = "required"  # required: refuse to start without a model; optional: warn, no text; off
    decoders: int = 0                # turns decoded at once; 0 = "auto": one per CPU core
    live_calls: int | None = None    # calls transcribed live at once; None = "auto": measured at start


@dataclass(frozen=True)
class TtsSettings:
    engine: str = "espeak-ng"  # "espeak-ng" or "piper": speaks prompts that have only a text
    voice: str = ""  # espeak-ng voice ("de", "en-us", "de+f3"); empty = the prompt language
    speed: int = 150  # words per minute (espeak-ng), 80-400
    piper_model: Path | None = None  # Piper voice (.onnx); required when engine = "piper"
    cache: Path = DEFAULT_PROMPT_CACHE  # rendered prompts, keyed by content hash
