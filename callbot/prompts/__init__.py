"""Announcement prompts: the owner's recordings, or text spoken by TTS.

Layout, per language::

    prompts/<language>/prompts.toml           id = "what the bot says" (every prompt's text)
    prompts/<language>/<id>.wav               a recording (or .flac, .ogg, .mp3; any rate)
    prompts/<language>/tts/<id>-<hash>.wav    shipped pre-rendered speech (the "seed cache")

A recording wins; a prompt without one is spoken from its text by the TTS
engine (:mod:`callbot.speech.tts`). Either way the audio is *rendered* once into
what callers hear — 16-bit mono, leading/trailing silence trimmed,
loudness-normalized — at both call rates, each from the source: 8 kHz
(``Prompt.pcm``, G.711 calls) and 16 kHz (``Prompt.pcm_at(16000)``, G.722
wideband calls). Each render is cached as a WAV file named by a hash of its
content (the recording's bytes, or text + TTS engine/voice/speed), so an
unchanged prompt is never decoded or synthesized twice. For a text prompt the
lookup order is: cache dir -> shipped seed (8 kHz only) -> synthesize (needs
espeak-ng or Piper) -> cache dir. The shipped prompts therefore work without
any TTS installed; without TTS a wideband call hears the 8 kHz seed resampled
to 16 kHz.

:meth:`PromptLibrary.load` renders everything up front and reports every
problem at once in a single :class:`~callbot.errors.PromptError`, so a broken
prompt shows up when callbot starts, not in the middle of a call.
:meth:`PromptLibrary.changed` / :meth:`PromptLibrary.reload` pick up edited
prompt files while the bot runs.

Modules:

- ``library``: PromptLibrary (load, render, hot reload, get), RenderReport, UnknownPromptError, config_kwargs.
- ``render``: Prompt (what callers hear, at 8 and 16 kHz), trim_silence / normalize, the Renderer (recording or TTS).
- ``cache``: content keys (recording_key, tts_key), rendered file names per rate, reading/writing rendered WAVs.
- ``texts``: reading prompts.toml with file and line in every Problem (read_texts).
- ``layout``: where prompt files live (TEXTS_FILE, SEED_DIR, AUDIO_EXTENSIONS), scanning a language dir.
- ``seed``: write_seed, (re)generating the shipped seed cache; ``__main__``: ``python -m callbot.prompts --seed``.
- ``settings``: PromptSettings (the ``[prompts]`` section), filled by ``callbot.config``.

May import: the speech adapter (``callbot.speech.tts``), the records layer (``callbot.audio``) and the
leaves (``callbot.errors``); never the call layer, the runtime or the front ends.
"""
